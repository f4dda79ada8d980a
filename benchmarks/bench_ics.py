"""Benchmark of the ICS backend: parse + index a generated 50,000-event file, then a
no-change sync against it.

Run: ``python benchmarks/bench_ics.py [--events N] [--skip-full]``. Prints seconds and
peak memory (the process's peak resident set size after each phase).

A no-change sync with a fresh backend (a new command-line process) passes the cursor
the previous run stored: the file is hashed, not parsed, and the engine does no
per-item work. ``--skip-full`` leaves out the slow comparison run that ignores the
cursor (a full parse and listing, the behaviour before cursors).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from severa_ext.backends.ics import IcsBackend
from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import ChangeSet, Window
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.sqlite import SQLiteStateStore

T = TypeVar("T")
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
WINDOW = Window(datetime(2025, 12, 1, tzinfo=UTC), datetime(2027, 6, 1, tzinfo=UTC))


def generate(path: Path, events: int) -> None:
    """Write ``events`` events: mostly single ones, one in fifty a weekly series."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//severa_ext//bench//EN"]
    for n in range(events):
        start = START + timedelta(minutes=37 * n)
        lines += [
            "BEGIN:VEVENT",
            f"UID:bench-{n}@example.com",
            "DTSTAMP:20260101T000000Z",
            f"DTSTART:{start:%Y%m%dT%H%M%SZ}",
            f"DTEND:{start + timedelta(minutes=30):%Y%m%dT%H%M%SZ}",
            f"SUMMARY:Benchmark event {n}",
            f"LOCATION:Room {n % 40}",
            f"DESCRIPTION:Generated event number {n}\\nwith a second line",
            "CATEGORIES:Bench,Generated",
        ]
        if n % 50 == 0:
            lines.append("RRULE:FREQ=WEEKLY;COUNT=10")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")


def peak_rss_mib() -> float:
    """The process's peak resident set size so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(label: str, work: Callable[[], T]) -> T:
    began = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - began
    print(f"{label:<40} {seconds:8.3f} s   peak RSS so far {peak_rss_mib():7.0f} MiB")
    return result


class FullListingIcs(IcsBackend):
    """An ICS backend that ignores cursors: every listing is a full parse and listing."""

    def changes(self, cursor: str | None, window: Window) -> ChangeSet:
        return super().changes(None, window)


def no_change_sync(path: Path, state_path: Path, *, full: bool) -> None:
    """Sync the file with an in-memory calendar, then time syncs that change nothing."""
    store = SQLiteStateStore(state_path)
    memory = MemoryBackend("memory")
    policy = SyncPolicy.calendars(past_days=35, future_days=510)
    clock = FixedClock(datetime(2026, 1, 5, tzinfo=UTC))

    def engine(ics: IcsBackend) -> SyncEngine:
        return SyncEngine(memory, ics, store, pair_id="bench", policy=policy, clock=clock)

    first = measure("first sync (links, copies to memory)", lambda: engine(IcsBackend(path)).run())
    print(f"  first sync: {first.summary()}")
    # The memory side lists its own creates once more; after this run both cursors rest.
    settle = measure("second sync (memory side settles)", lambda: engine(IcsBackend(path)).run())
    print(f"  second sync: {settle.total_writes} writes, {settle.changes} changes seen")
    warm = IcsBackend(path)
    warm.changes(None, WINDOW)
    again = measure("no-change sync (file already parsed)", lambda: engine(warm).run())
    cold_backend = IcsBackend(path)
    cold = measure("no-change sync (fresh, stored cursor)", lambda: engine(cold_backend).run())
    reports = [("warm", again, warm), ("fresh", cold, cold_backend)]
    if full:
        full_backend = FullListingIcs(path)
        ignored = measure(
            "no-change sync (fresh, cursor ignored)", lambda: engine(full_backend).run()
        )
        reports.append(("cursor ignored", ignored, full_backend))
    for label, report, backend in reports:
        print(
            f"  {label}: {report.total_writes} writes, {report.changes} changes seen, "
            f"{backend.parses} parses"
        )
    store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument(
        "--skip-full", action="store_true", help="leave out the sync that ignores the cursor"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.ics"
        generate(path, args.events)
        size = path.stat().st_size
        print(f"file: {args.events} events, {size / 2**20:.1f} MiB")
        backend = IcsBackend(path)
        listing = measure("parse + index + list window", lambda: backend.changes(None, WINDOW))
        print(f"  listed {len(listing.items)} items, {len(backend.problems)} problems")
        measure("list again, no cursor (cached parse)", lambda: backend.changes(None, WINDOW))
        fresh = IcsBackend(path)
        quiet = measure(
            "changes(cursor), fresh backend", lambda: fresh.changes(listing.cursor, WINDOW)
        )
        print(f"  full={quiet.full}, {len(quiet.items)} items, {fresh.parses} parses")
        no_change_sync(path, Path(folder) / "state.sqlite", full=not args.skip_full)
    print(f"peak resident memory of the process: {peak_rss_mib():.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
