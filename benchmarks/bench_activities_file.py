"""Benchmark of the activities file (``activities:PATH``): an initial sync into it.

A memory calendar of N entries is synced into an empty activities file (S9: every
entry comes in, as the default type) by the sync engine with an SQLite state on disk,
as ``severa-ext sync activities:... ics:...`` does; then the echo run and a
no-change run. Each row is measured for this checkout and for the implementation on
``--baseline REF`` (``main`` by default; ``activities_file.py`` copied from git into a
temporary package at run time, so both run in one process on the same data).

The baseline rewrites the whole file on every write, so its initial sync is
quadratic: it runs whole up to ``--baseline-max`` entries. For larger N the
baseline's cost of one write into a file that already holds N activities is timed
(``--probe`` writes), and the initial sync is estimated as N writes at half that
cost (a write costs in proportion to the file's size, which grows from 0 to N).

Run: ``python benchmarks/bench_activities_file.py [--sizes 2000,20000]
[--baseline REF] [--baseline-max N] [--probe K]``. Prints wall and CPU seconds, the
engine's writes and the file's size.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from _bench_sources import git, import_copy, memory_calendar

from severa_ext.backends import activities_file
from severa_ext.backends.activities import ActivityBackend
from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.domain import Activity, ActivityType, User
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.sqlite import SQLiteStateStore

T = TypeVar("T")
NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
CLOCK = FixedClock(NOW)
USER = User("u-1", "alice@example.com", "Alice")
TYPES = (ActivityType("meeting", "Meeting"), ActivityType("personal", "Personal"))
POLICY = SyncPolicy(
    outgoing_types={"meeting"}, default_type="meeting", past_days=35, future_days=510
)


def timed(work: Callable[[], T]) -> tuple[T, float, float]:
    """``work()``, its wall and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def baseline_module(ref: str, folder: Path) -> ModuleType:
    """``severa_ext.backends.activities_file`` as of git ``ref``, as
    ``activities_baseline.activities_file`` (its imports are public modules)."""

    def files() -> dict[str, str]:
        return {
            "activities_file.py": git("show", f"{ref}:src/severa_ext/backends/activities_file.py")
        }

    return import_copy(folder, "activities_baseline", files, "activities_file")


def calendar(count: int) -> MemoryBackend:
    """A memory calendar of ``count`` single entries inside the window."""
    return memory_calendar("calendar", count, NOW, "entry")


def initial_sync(count: int, folder: Path, module: Any, label: str) -> float:
    """Print the initial sync of ``count`` entries into an empty file, the echo run
    and a no-change run; return the initial sync's wall seconds."""
    path = folder / f"{label}-{count}.json"
    module.ActivityFile.new(path, module.ActivityFileData(USER, TYPES))
    state = SQLiteStateStore(folder / f"{label}-{count}.sqlite")
    memory = calendar(count)

    def run() -> Any:
        store = module.ActivityFile(path, clock=CLOCK)
        side = ActivityBackend(store, user_id=USER.id, activity_types={t.id: t for t in TYPES})
        engine = SyncEngine(side, memory, state, pair_id=label, policy=POLICY, clock=CLOCK)
        try:
            return engine.run()
        finally:
            side.close()

    try:
        first, initial, cpu = timed(run)
        size = path.stat().st_size / 2**20
        print(
            f"  {label:<8} initial sync of {count:>6}: {initial:8.2f} s wall {cpu:8.2f} s CPU"
            f"  ({first.summary()}; file {size:.1f} MiB)"
        )
        for name in ("echo run", "no-change run"):
            report, wall, cpu = timed(run)
            print(
                f"  {label:<8} {name:<22} {wall:8.2f} s wall {cpu:8.2f} s CPU"
                f"  ({report.total_writes} writes)"
            )
    finally:
        state.close()
    return initial


def write_cost(count: int, folder: Path, module: Any, probes: int) -> float:
    """Seconds of one create (as the engine makes it: written, then flushed) into a
    file already holding ``count`` activities, the mean of ``probes``."""
    path = folder / f"probe-{count}.json"
    starts = [NOW + timedelta(minutes=13 * n) for n in range(count + probes)]
    existing = tuple(
        Activity(f"a-{n}", USER.id, "meeting", f"Entry {n}", s, s + timedelta(minutes=30))
        for n, s in enumerate(starts[:count])
    )
    store = module.ActivityFile.new(path, module.ActivityFileData(USER, TYPES, existing))
    began = time.perf_counter()
    for n in range(count, count + probes):
        start = starts[n]
        store.create(Activity(f"a-{n}", USER.id, "meeting", "Probe", start, start))
        store.flush()
    return (time.perf_counter() - began) / probes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000,20000", help="entries synced, comma-separated")
    parser.add_argument("--baseline", default="main", help="git ref to compare with ('' for none)")
    parser.add_argument(
        "--baseline-max", type=int, default=2000, help="largest N the baseline syncs whole"
    )
    parser.add_argument("--probe", type=int, default=5, help="baseline writes timed beyond it")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.sizes.split(",") if n]
    with tempfile.TemporaryDirectory(prefix="bench-activities-file-") as name:
        folder = Path(name)
        baseline = baseline_module(args.baseline, folder) if args.baseline else None
        for count in sizes:
            ours = initial_sync(count, folder, activities_file, "this")
            if baseline is None:
                continue
            if count <= args.baseline_max:
                theirs = initial_sync(count, folder, baseline, args.baseline)
                print(
                    f"  initial sync of {count}: {theirs / ours:.1f}x faster than {args.baseline}"
                )
                continue
            cost = write_cost(count, folder, baseline, args.probe)
            estimate = count * cost / 2
            print(
                f"  {args.baseline:<8} one write into a file of {count}: {cost:.2f} s, so an "
                f"initial sync of {count} takes about {estimate / 3600:.1f} h "
                f"({estimate / ours:,.0f}x this checkout's)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
