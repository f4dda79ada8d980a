"""The ``severa-ext`` commands (private helper of :mod:`severa_ext.cli`).

Each command returns an :class:`Outcome`: its exit code, the fields of its one
``--json`` document and its human text; :func:`severa_ext.cli.main` prints one of the
two. Errors are raised (``SeveraExtError``) and reported by ``main``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import tempfile
from datetime import datetime
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import attrs

from severa_ext._cli_address import Address, open_backend, parse_address
from severa_ext._cli_config import Config, load_config, window_bounds
from severa_ext._cli_output import (
    ProgressBar,
    format_journal,
    format_plan,
    format_report,
    problem_dict,
    unstructure,
)
from severa_ext._cli_parser import CONFIG_ENV, STATE_ENV, STATE_FILE
from severa_ext.clock import SystemClock
from severa_ext.errors import BadItem, ConfigError

__all__ = ["DEMO_FILES", "Outcome", "run_demo", "run_journal", "run_sync"]

DEMO_FILES = ("activities.json", "calendar.ics", "severa-ext.toml")
"""What the demo needs in its examples folder."""


@attrs.frozen
class Outcome:
    """What a command did: its exit code, its JSON fields and its human text."""

    code: int
    document: dict[str, Any]
    text: str


# --- wiring ----------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> Config:
    given = args.config or os.environ.get(CONFIG_ENV) or None
    return load_config(Path(given) if given else None)


_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
"""A ``--state`` starting with one of these is a PostgreSQL state, not a file."""


def _state_path(args: argparse.Namespace, config: Config) -> Path | str:
    """Where the state is: a file path, or a PostgreSQL URL (kept as text)."""
    given = args.state or os.environ.get(STATE_ENV) or None
    if given:
        text = str(given)
        return text if text.startswith(_POSTGRES_SCHEMES) else Path(text)
    if config.state:
        return config.relative(config.state)
    if config.path is not None:
        return config.path.parent / STATE_FILE
    return Path.cwd() / STATE_FILE


def _open_state(where: Path | str, *, create: bool) -> Any:
    if isinstance(where, str):
        try:
            from severa_ext.sync.postgres import PostgresStateStore
        except ImportError as exc:
            raise ConfigError(
                f"--state {where.split('://')[0]}://...: install severa-ext[postgres] ({exc})"
            ) from exc
        return PostgresStateStore(where, max_size=2)
    if not create and not where.exists():
        raise ConfigError(f"no state file {where} (run a sync first, or pass --state)")
    from severa_ext.sync.sqlite import SQLiteStateStore

    return SQLiteStateStore(where)


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


# --- sync and plan ------------------------------------------------------------------


def run_sync(args: argparse.Namespace, *, plan_only: bool, progress: bool) -> Outcome:
    """``sync`` (or ``plan`` with ``plan_only``) of ``args.left`` with ``args.right``."""
    from severa_ext.sync.engine import SyncEngine

    config = _config(args)
    left, right = parse_address(args.left), parse_address(args.right)
    clock = SystemClock()
    policy = _policy(config, left, right, clock.now())
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
        head = {"pair_id": pair_id, "sides": names}
        if plan_only:
            plan = engine.plan()
            records = unstructure(list(plan.records))
            return Outcome(0, {**head, "records": records}, format_plan(plan, names))
        bar = ProgressBar(enabled=progress)
        try:
            report = engine.run(
                dry_run=args.dry_run, allow_mass_delete=args.allow_mass_delete, progress=bar
            )
        finally:
            bar.clear()
        # The engine journals what the backends skipped (S6); the CLI only shows it.
        problems: dict[str, list[BadItem]] = {
            side: list(getattr(backend, "problems", ()) or ())
            for side, backend in (("a", a), ("b", b))
        }
        verify = engine.verify() if args.verify and not args.dry_run else None
        # Divergences found by --verify are journaled as warnings; unreadable items are errors.
        failed = not report.ok or any(problems.values()) or bool(verify and verify.errors)
        document = {
            **head,
            "dry_run": bool(args.dry_run),
            "report": unstructure(report),
            "writes": report.writes,
            "broken": [problem_dict(s, p) for s, ps in problems.items() for p in ps],
            "verify": unstructure(verify) if verify is not None else None,
        }
        text = format_report(report, names, problems)
        if verify is not None:
            text += (
                f"\nverify: {verify.checked} linked entries checked, "
                f"{len(verify.divergences)} differ, {len(verify.errors)} unreadable"
            )
        return Outcome(1 if failed else 0, document, text)
    finally:
        with contextlib.ExitStack() as closing:  # each one closed, even if another raises
            closing.callback(b.close)
            closing.callback(a.close)  # an activities file writes what it still holds
            closing.callback(store.close)


# --- journal ------------------------------------------------------------------------


def run_journal(args: argparse.Namespace) -> Outcome:
    """``journal``: the error journal (S6), filtered."""
    config = _config(args)
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
        document = {"pair_id": pair_id, "entries": unstructure(list(entries))}
        return Outcome(0, document, format_journal(entries))
    finally:
        store.close()


# --- demo ---------------------------------------------------------------------------


def installed_examples() -> Traversable:
    """The example files installed with the package (a checkout's ``examples/``)."""
    bundled = files("severa_ext").joinpath("_examples")
    if bundled.is_dir():
        return bundled
    # An editable install runs from the checkout, where the files are not copied.
    return Path(__file__).resolve().parents[2] / "examples"


def _demo_folder(into: Path | None) -> Path:
    if into is None:
        return Path(tempfile.mkdtemp(prefix="severa-demo-"))
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise ConfigError(f"{into} is not empty; the demo works in a fresh folder")
    into.mkdir(parents=True, exist_ok=True)
    return into


def run_demo(args: argparse.Namespace, *, progress: bool) -> Outcome:
    """``demo``: copy the examples to a fresh folder and sync them twice."""
    source = installed_examples() if args.examples is None else Path(args.examples)
    missing = [name for name in DEMO_FILES if not source.joinpath(name).is_file()]
    if missing:
        raise ConfigError(
            f"{source} is not an examples folder (missing {', '.join(missing)}); "
            "give the folder, or leave it out to use the installed examples"
        )
    target = _demo_folder(Path(args.into) if args.into is not None else None)
    for name in DEMO_FILES:
        (target / name).write_bytes(source.joinpath(name).read_bytes())
    os.chdir(target)  # the demo works on the copies, with short relative names
    runs, lines, codes = [], [], []
    for number in (1, 2):
        namespace = argparse.Namespace(
            left="activities:activities.json",
            right="ics:calendar.ics",
            config=Path("severa-ext.toml"),
            state=Path(STATE_FILE),  # beside the copies, whatever $SEVERA_EXT_STATE says
            dry_run=False,
            verify=False,
            allow_mass_delete=False,
        )
        outcome = run_sync(namespace, plan_only=False, progress=progress)
        runs.append({"exit_code": outcome.code, **outcome.document})
        codes.append(outcome.code)
        lines.append(
            f"== run {number}: severa-ext sync activities:activities.json ics:calendar.ics "
            f"--config severa-ext.toml\n{outcome.text}"
        )
    lines.append(f"== the copies are in {target}; the examples themselves are untouched")
    return Outcome(max(codes), {"folder": str(target), "runs": runs}, "\n".join(lines))
