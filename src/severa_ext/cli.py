"""The ``severa-ext`` command line: a thin shell over the public API.

Commands::

    severa-ext sync LEFT RIGHT [--config FILE] [--state FILE] [--dry-run] [--verify]
                    [--allow-mass-delete] [--json]
    severa-ext plan LEFT RIGHT [--config FILE] [--state FILE] [--json]
    severa-ext journal [--config FILE] [--state FILE] [--pair LEFT RIGHT] [--since DATE]
                       [--level LEVEL] [--limit N] [--json]
    severa-ext demo [EXAMPLES] [--into DIR] [--json]
    severa-ext demo --severa [--json]
    severa-ext portal --demo [--port N]

Every command also takes ``-v/--verbose``, ``-q/--quiet`` and ``--debug``, before or
after its name; ``python -m severa_ext`` runs the same command line.

LEFT is side A (the Severa side when it is ``activities:PATH``), RIGHT side B; each is
a backend address: ``ics:PATH``, ``webcal://...``, ``https://...``,
``activities:PATH``, ``graph:MAILBOX`` or ``ews:URL#MAILBOX``. The policy, the window
and backend settings come from a TOML file (``--config``, or ``$SEVERA_EXT_CONFIG``);
secrets come from the environment or a file the config names, never from the command
line. The state (links, cursors, the error journal) is a SQLite file (``--state``, or
``$SEVERA_EXT_STATE``), by default next to the config, or in the current folder
without one.

Exit codes (:data:`EXIT_OK` ...): ``0`` done without errors; ``1`` something failed
and is in the error journal (S6) (an item, or the whole run); ``2`` a usage,
configuration or input error (bad arguments, a bad address, a missing or invalid file,
a bad config value); ``3`` another run holds the pair's lease (try again later);
``70`` an internal error (a bug: ``--debug`` shows the traceback); ``130``
interrupted; ``141`` standard output was closed early. Bad input never prints a
traceback; each failure is one line on stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from severa_ext._cli_commands import Outcome, run_demo, run_journal, run_sync
from severa_ext._cli_output import to_json
from severa_ext._cli_parser import UsageError, build_parser
from severa_ext.errors import (
    ConfigError,
    LeaseHeld,
    MassDeletionRefused,
    SeveraExtError,
    ValidationError,
)

__all__ = [
    "EXIT_BUSY",
    "EXIT_ERRORS",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PIPE",
    "EXIT_USAGE",
    "JSON_SCHEMA_VERSION",
    "main",
]

logger = logging.getLogger(__name__)

EXIT_OK = 0
"""Done; nothing failed."""
EXIT_ERRORS = 1
"""Something failed and is in the error journal (S6)."""
EXIT_USAGE = 2
"""Bad arguments, a bad address, a missing or invalid file or a bad configuration."""
EXIT_BUSY = 3
"""Another run holds the pair's lease (:class:`~severa_ext.errors.LeaseHeld`)."""
EXIT_INTERNAL = 70
"""An unexpected error, which is a bug in ``severa_ext`` (``--debug`` shows the traceback)."""
EXIT_INTERRUPTED = 130
"""Interrupted (Ctrl-C)."""
EXIT_PIPE = 141
"""Standard output was closed before everything was printed (``| head``)."""
JSON_SCHEMA_VERSION = 1
"""``schema_version`` of every ``--json`` document; raised when a field changes meaning."""


def _exit_code(exc: SeveraExtError) -> int:
    if isinstance(exc, LeaseHeld):
        return EXIT_BUSY
    # What the command was given is wrong (arguments, config, an input file).
    if isinstance(exc, ConfigError | ValidationError):
        return EXIT_USAGE
    return EXIT_ERRORS


def _message(exc: SeveraExtError) -> str:
    """One line for ``exc``, with what the user can do about it."""
    text = " ".join(str(exc).split())
    if isinstance(exc, MassDeletionRefused):
        text = text.split("; re-run", 1)[0]
        return f"{text}; pass --allow-mass-delete to sync anyway"
    if isinstance(exc, LeaseHeld) and exc.expires is not None and " until " not in text:
        text += f" (the lease expires at {exc.expires.isoformat(timespec='seconds')})"
    return text


def _error_document(command: str, exc: BaseException, code: int, message: str) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type(exc).__name__, "message": message}
    if isinstance(exc, LeaseHeld):  # LeaseHeld.expires, under the document's name
        error["expires_at"] = exc.expires.isoformat() if exc.expires is not None else None
        error["holder"] = exc.holder
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "command": command,
        "ok": False,
        "exit_code": code,
        "error": error,
    }


def _fail(args: argparse.Namespace, exc: BaseException, code: int, message: str) -> int:
    """Report a failure: one line on stderr, and one JSON document on stdout for ``--json``."""
    prefix = "" if code == EXIT_USAGE else f"{type(exc).__name__}: "
    print(f"severa-ext: {prefix}{message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(to_json(_error_document(args.command, exc, code, message)))
    return code


def _show(args: argparse.Namespace, outcome: Outcome) -> int:
    if args.json:
        document = {
            "schema_version": JSON_SCHEMA_VERSION,
            "command": args.command,
            "ok": outcome.code == EXIT_OK,
            "exit_code": outcome.code,
            **outcome.document,
        }
        print(to_json(document))
    elif not args.quiet and outcome.text:
        print(outcome.text)
    if outcome.code == EXIT_ERRORS and not args.json:
        print("severa-ext: errors were recorded: see 'severa-ext journal'", file=sys.stderr)
    return outcome.code


def _logging(args: argparse.Namespace) -> None:
    if args.debug or args.verbose:
        logging.basicConfig(
            level=logging.DEBUG if args.debug else logging.INFO,
            format="%(levelname)s %(name)s: %(message)s",
        )


def _parse(argv: Sequence[str] | None) -> argparse.Namespace | int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.verbose and args.quiet:
            parser.error("-v/--verbose and -q/--quiet do not go together")
    except UsageError as exc:
        exc.parser.print_usage(sys.stderr)
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    return args


def _dispatch(args: argparse.Namespace) -> Outcome:
    # The bar is drawn for a person watching: never for --json, --quiet or a pipe.
    show_progress = not (args.json or args.quiet) and sys.stdout.isatty()
    if args.command == "journal":
        return run_journal(args)
    if args.command == "demo" and args.severa:
        from severa_ext._cli_severa_demo import severa_demo

        return severa_demo()
    if args.command == "portal":
        from severa_ext.portal.demo import serve_demo

        serve_demo(port=args.port)
        return Outcome(0, {}, "")
    if args.command == "demo":
        return run_demo(args, progress=show_progress)
    return run_sync(args, plan_only=args.command == "plan", progress=show_progress)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    parsed = _parse(argv)
    if isinstance(parsed, int):
        return parsed
    args = parsed
    _logging(args)
    try:
        return _show(args, _dispatch(args))
    except SeveraExtError as exc:
        return _fail(args, exc, _exit_code(exc), _message(exc))
    except KeyboardInterrupt:
        print("severa-ext: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``| head``): say nothing more to it (Python's own recipe).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE
    except Exception as exc:
        if args.debug:
            logger.exception("internal error")
        message = f"internal error ({' '.join(str(exc).split())[:200]}); this is a bug"
        return _fail(args, exc, EXIT_INTERNAL, message)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
