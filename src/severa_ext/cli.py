"""The ``severa-ext`` command line: a thin shell over the public API.

Commands::

    severa-ext sync LEFT RIGHT [--config FILE] [--state FILE] [--dry-run] [--verify] [--json]
    severa-ext plan LEFT RIGHT [--config FILE] [--state FILE] [--json]
    severa-ext journal [--config FILE] [--state FILE] [--pair LEFT RIGHT] [--since DATE]
                       [--level LEVEL] [--limit N] [--json]
    severa-ext demo [EXAMPLES] [--into DIR] [--json]

LEFT is side A (the Severa side when it is ``activities:PATH``), RIGHT side B; each is
a backend address: ``ics:PATH``, ``webcal://...``, ``https://...``,
``activities:PATH``, ``graph:MAILBOX`` or ``ews:URL#MAILBOX``. The policy, the window
and backend settings come from a TOML file (``--config``); secrets come from the
environment or a file the config names, never from the command line. The state (links,
cursors, the error journal) is a SQLite file next to the config, or in the current
folder without one.

Exit codes: ``0`` done without errors; ``1`` something failed and is in the error
journal (S6) (an item, or the whole run); ``2`` a usage or configuration error (bad
arguments, a bad address, a missing file, a bad config value). Bad input never prints a
traceback.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from severa_ext import __version__
from severa_ext._cli_address import Address, open_backend, parse_address
from severa_ext._cli_config import Config, load_config, window_bounds
from severa_ext._cli_output import (
    ProgressBar,
    as_dict,
    format_journal,
    format_plan,
    format_report,
    problem_dict,
    to_json,
)
from severa_ext.clock import SystemClock
from severa_ext.errors import BadItem, ConfigError, SeveraExtError, ValidationError

__all__ = ["EXIT_ERRORS", "EXIT_OK", "EXIT_USAGE", "main"]

logger = logging.getLogger(__name__)

EXIT_OK = 0
"""Done; nothing failed."""
EXIT_ERRORS = 1
"""Something failed and is in the error journal (S6)."""
EXIT_USAGE = 2
"""Bad arguments, a bad address, a missing file or a bad configuration."""

STATE_FILE = "severa-ext.sqlite"


class _UsageError(Exception):
    """argparse found bad arguments (its message is already formatted)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's hook: raise instead of exit
        raise _UsageError(f"{self.prog}: error: {message}")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="severa-ext",
        description="Two-way sync between Severa-style activities and calendars.",
        epilog="Exit codes: 0 ok, 1 errors (see 'severa-ext journal'), 2 usage or config error.",
    )
    parser.add_argument("--debug", action="store_true", help="log details to stderr")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--config", type=Path, help="the TOML configuration file")
        sub.add_argument("--state", type=Path, help=f"the state file (default: {STATE_FILE})")
        sub.add_argument("--json", action="store_true", help="print JSON for machines")

    sync = commands.add_parser("sync", help="sync LEFT (side A) with RIGHT (side B)")
    sync.add_argument("left", help="side A, e.g. activities:activities.json")
    sync.add_argument("right", help="side B, e.g. ics:calendar.ics")
    common(sync)
    sync.add_argument("--dry-run", action="store_true", help="plan and report, write nothing")
    sync.add_argument("--verify", action="store_true", help="re-read linked items afterwards")
    sync.add_argument(
        "--allow-mass-delete", action="store_true", help="override the mass-deletion guard"
    )

    plan = commands.add_parser("plan", help="print what a sync would do, without doing it")
    plan.add_argument("left")
    plan.add_argument("right")
    common(plan)

    journal = commands.add_parser("journal", help="show the error journal (S6)")
    common(journal)
    journal.add_argument("--pair", nargs=2, metavar=("LEFT", "RIGHT"), help="one pair only")
    journal.add_argument("--since", type=_since, help="entries at or after this date/time")
    journal.add_argument("--level", choices=("error", "warning", "info"), help="one level only")
    journal.add_argument("--limit", type=_positive, help="the newest N entries")

    demo = commands.add_parser(
        "demo", help="copy the examples to a fresh folder and sync them twice"
    )
    demo.add_argument(
        "examples", nargs="?", type=Path, default=Path("examples"), help="the examples folder"
    )
    demo.add_argument("--into", type=Path, help="a new folder to work in (default: a temp dir)")
    demo.add_argument("--json", action="store_true", help="print JSON for machines")
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


# --- wiring ----------------------------------------------------------------------------


def _state_path(args: argparse.Namespace, config: Config) -> Path:
    if args.state is not None:
        return Path(args.state)
    if config.state:
        return config.relative(config.state)
    if config.path is not None:
        return config.path.parent / STATE_FILE
    return Path.cwd() / STATE_FILE


def _open_state(path: Path, *, create: bool) -> Any:
    if not create and not path.exists():
        raise ConfigError(f"no state file {path} (run a sync first, or pass --state)")
    try:
        from severa_ext.sync.sqlite import SQLiteStateStore
    except ImportError as exc:  # pragma: no cover - the store ships with the package
        raise ConfigError(f"the SQLite state store is not available: {exc}") from exc
    return SQLiteStateStore(path)


def _pair_id(left: Address, right: Address) -> str:
    digest = hashlib.blake2b(f"{left.key()}\n{right.key()}".encode(), digest_size=6)
    return f"pair-{digest.hexdigest()}"


def _policy(config: Config, left: Address, right: Address, now: datetime) -> Any:
    from severa_ext.sync.policy import ConflictRule, SyncPolicy

    if right.is_activities and not left.is_activities:
        raise ConfigError("put the activities side first: severa-ext sync activities:PATH RIGHT")
    settings = config.policy
    rule = ConflictRule(settings.conflict)
    start, end = window_bounds(config, now)
    past = max(0, (now - start).days)
    future = max(0, (end - now).days)
    if not left.is_activities:
        return SyncPolicy.calendars(conflict_rule=rule, past_days=past, future_days=future)
    if not settings.default_type:
        raise ConfigError(
            "set policy.default_type in the config: calendar entries coming into Severa "
            "need an activity type (S9)"
        )
    return SyncPolicy(
        outgoing_types=settings.outgoing_types,
        default_type=settings.default_type,
        personal_type=settings.personal_type,
        conflict_rule=rule,
        past_days=past,
        future_days=future,
    )


def _run_sync(args: argparse.Namespace, *, plan_only: bool) -> int:
    from severa_ext.sync.engine import SyncEngine

    config = load_config(args.config)
    left, right = parse_address(args.left), parse_address(args.right)
    clock = SystemClock()
    now = clock.now()
    policy = _policy(config, left, right, now)
    a = open_backend(left, config)
    b = open_backend(right, config)
    store = _open_state(_state_path(args, config), create=True)
    pair_id = _pair_id(left, right)
    names = {"a": left.text, "b": right.text}
    try:
        # The command line owns its process: it may pause the cyclic collector.
        engine = SyncEngine(
            a,
            b,
            store,
            pair_id=pair_id,
            policy=policy,
            clock=clock,
            user_id=config.policy.user_id,
            pause_gc=True,
        )
        if plan_only:
            plan = engine.plan()
            if args.json:
                print(to_json({"pair_id": pair_id, "sides": names, "records": list(plan.records)}))
            else:
                print(format_plan(plan, names))
            return EXIT_OK
        progress = None if args.json else ProgressBar()
        try:
            report = engine.run(
                dry_run=args.dry_run,
                allow_mass_delete=args.allow_mass_delete,
                progress=progress,
            )
        finally:
            if progress is not None:
                progress.clear()
        # The engine journals what the backends skipped (S6); the CLI only shows it.
        problems: dict[str, list[BadItem]] = {
            side: list(getattr(backend, "problems", ()) or ())
            for side, backend in (("a", a), ("b", b))
        }
        verify = engine.verify() if args.verify and not args.dry_run else None
        # Divergences found by --verify are journaled as warnings; unreadable items are errors.
        failed = not report.ok or any(problems.values()) or bool(verify and verify.errors)
        if args.json:
            document = {
                "pair_id": pair_id,
                "sides": names,
                "ok": not failed,
                "report": as_dict(report),
                "writes": report.writes,
                "broken": [problem_dict(s, p) for s, ps in problems.items() for p in ps],
                "verify": as_dict(verify) if verify is not None else None,
            }
            print(to_json(document))
        else:
            print(format_report(report, names, problems))
            if verify is not None:
                print(
                    f"verify: {verify.checked} linked entries checked, "
                    f"{len(verify.divergences)} differ, {len(verify.errors)} unreadable"
                )
            if failed:
                print("errors were recorded: see 'severa-ext journal'", file=sys.stderr)
        return EXIT_ERRORS if failed else EXIT_OK
    finally:
        store.close()
        a.close()
        b.close()


def _run_journal(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    store = _open_state(_state_path(args, config), create=False)
    try:
        pair_id = None
        if args.pair:
            pair_id = _pair_id(parse_address(args.pair[0]), parse_address(args.pair[1]))
        entries = store.journal(pair_id=pair_id, since=args.since)
        if args.level:
            entries = [e for e in entries if e.level == args.level]
        if args.limit:
            entries = entries[-args.limit :]
        if args.json:
            print(to_json(list(entries)))
        else:
            print(format_journal(entries))
        return EXIT_OK
    finally:
        store.close()


def _run_demo(args: argparse.Namespace) -> int:
    source = Path(args.examples)
    needed = ("activities.json", "calendar.ics", "severa-ext.toml")
    missing = [name for name in needed if not (source / name).is_file()]
    if missing:
        raise ConfigError(
            f"{source} is not the examples folder (missing {', '.join(missing)}); "
            "run the demo from the repository root or give the folder"
        )
    if args.into is not None:
        target = Path(args.into)
        if target.exists() and any(target.iterdir()):
            raise ConfigError(f"{target} is not empty; the demo works in a fresh folder")
        target.mkdir(parents=True, exist_ok=True)
    else:
        target = Path(tempfile.mkdtemp(prefix="severa-demo-"))
    for name in needed:
        shutil.copyfile(source / name, target / name)
    os.chdir(target)  # the demo works on the copies, with short relative names
    codes = []
    for number in (1, 2):
        namespace = argparse.Namespace(
            left="activities:activities.json",
            right="ics:calendar.ics",
            config=Path("severa-ext.toml"),
            state=None,
            dry_run=False,
            verify=False,
            allow_mass_delete=False,
            json=args.json,
        )
        if not args.json:
            print(
                f"== run {number}: severa-ext sync activities:activities.json ics:calendar.ics "
                "--config severa-ext.toml"
            )
        codes.append(_run_sync(namespace, plan_only=False))
    if not args.json:
        print(f"== the copies are in {target}; the examples themselves are untouched")
    return max(codes)


def _fail(args: argparse.Namespace, exc: SeveraExtError, code: int) -> int:
    """Report a failure: a line on stderr, and a JSON document on stdout for ``--json``."""
    kind = type(exc).__name__
    prefix = "" if code == EXIT_USAGE else f"{kind}: "
    print(f"severa-ext: {prefix}{exc}", file=sys.stderr)
    if getattr(args, "json", False):
        print(
            to_json({"ok": False, "exit_code": code, "error": {"type": kind, "message": str(exc)}})
        )
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        parser.print_usage(sys.stderr)
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "journal":
            return _run_journal(args)
        if args.command == "demo":
            return _run_demo(args)
        return _run_sync(args, plan_only=args.command == "plan")
    except (ConfigError, ValidationError) as exc:
        return _fail(args, exc, EXIT_USAGE)
    except SeveraExtError as exc:
        return _fail(args, exc, EXIT_ERRORS)
    except KeyboardInterrupt:
        print("severa-ext: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
