"""The ``severa-ext`` argument parser (private helper of :mod:`severa_ext.cli`).

The output options (``-v``, ``-q``, ``--debug``) are accepted before and after the
subcommand; a bad argument raises :class:`UsageError` carrying the parser that found
it, so the command line prints that subcommand's usage.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from severa_ext import __version__

__all__ = ["CONFIG_ENV", "STATE_ENV", "STATE_FILE", "UsageError", "build_parser"]

STATE_FILE = "severa-ext.sqlite"
CONFIG_ENV = "SEVERA_EXT_CONFIG"
"""The environment variable naming the config file when ``--config`` is not given."""
STATE_ENV = "SEVERA_EXT_STATE"
"""The environment variable naming the state file when ``--state`` is not given."""

_EPILOG = (
    "exit codes: 0 ok, 1 errors (see 'severa-ext journal'), 2 usage, config or input "
    "error, 3 another run holds the pair (try again later), 70 internal error. "
    f"Environment: {CONFIG_ENV} and {STATE_ENV} stand in for --config and --state."
)


class UsageError(Exception):
    """argparse found bad arguments; ``parser`` is the (sub)command that found them."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(f"{parser.prog}: error: {message}")
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's hook: raise instead of exit
        raise UsageError(self, message)


def _output_options(*, top: bool) -> _Parser:
    # SUPPRESS keeps a subcommand's unset option from overwriting the top-level one.
    default: Any = False if top else argparse.SUPPRESS
    options = _Parser(add_help=False)
    group = options.add_mutually_exclusive_group()
    group.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="log progress to stderr"
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="print errors only"
    )
    options.add_argument(
        "--debug", action="store_true", default=default, help="log details and tracebacks"
    )
    return options


def _common(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--config", type=Path, help=f"the TOML configuration file (default: ${CONFIG_ENV})"
    )
    sub.add_argument(
        "--state",
        help=(
            f"the state file, or a postgresql:// URL of a shared PostgreSQL state "
            f"(password from PGPASSWORD or ~/.pgpass, never argv; "
            f"default: ${STATE_ENV}, or {STATE_FILE})"
        ),
    )
    sub.add_argument("--json", action="store_true", help="print one JSON document for machines")


def _sides(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("left", help="side A, e.g. activities:activities.json (see the CLI guide)")
    sub.add_argument("right", help="side B, e.g. ics:calendar.ics or graph:alice@example.com")


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line."""
    parser = _Parser(
        prog="severa-ext",
        description="Two-way sync between Severa-style activities and calendars.",
        epilog=_EPILOG,
        parents=[_output_options(top=True)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser, metavar="COMMAND"
    )
    output = [_output_options(top=False)]

    sync = commands.add_parser(
        "sync", help="sync LEFT (side A) with RIGHT (side B)", parents=output, epilog=_EPILOG
    )
    _sides(sync)
    _common(sync)
    sync.add_argument("--dry-run", action="store_true", help="plan and report, write nothing")
    sync.add_argument("--verify", action="store_true", help="re-read linked items afterwards")
    sync.add_argument(
        "--allow-mass-delete", action="store_true", help="override the mass-deletion guard"
    )

    plan = commands.add_parser(
        "plan", help="print what a sync would do, without doing it", parents=output
    )
    _sides(plan)
    _common(plan)

    journal = commands.add_parser("journal", help="show the error journal (S6)", parents=output)
    _common(journal)
    journal.add_argument("--pair", nargs=2, metavar=("LEFT", "RIGHT"), help="one pair only")
    journal.add_argument("--since", type=_since, help="entries at or after this date/time")
    journal.add_argument("--level", choices=("error", "warning", "info"), help="one level only")
    journal.add_argument("--limit", type=_positive, help="the newest N entries")

    demo = commands.add_parser(
        "demo", help="copy the examples to a fresh folder and sync them twice", parents=output
    )
    demo.add_argument(
        "examples",
        nargs="?",
        type=Path,
        help="a folder with activities.json, calendar.ics and severa-ext.toml "
        "(default: the examples installed with the package)",
    )
    demo.add_argument("--into", type=Path, help="a new folder to work in (default: a temp dir)")
    demo.add_argument("--json", action="store_true", help="print one JSON document for machines")
    demo.add_argument(
        "--severa",
        action="store_true",
        help="Severa (fake REST API) <-> Microsoft 365 (fake Graph), both started here",
    )
    portal = commands.add_parser(
        "portal", help="the reference Extranet portal (extra 'portal')", parents=output
    )
    portal.add_argument(
        "--demo", action="store_true", required=True, help="serve it on 127.0.0.1 with demo data"
    )
    portal.add_argument("--port", type=int, default=8000, help="the port (default 8000; 0: any)")
    portal.set_defaults(json=False)
    return parser


def _since(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an ISO date or date-time: {text!r}") from None
        value = datetime(day.year, day.month, day.day)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
