"""Benchmark of the ICS backend: parse + index a generated 50,000-event file, then a
no-change sync against it.

Run: ``python benchmarks/bench_ics.py [--events N]``. Prints seconds and peak memory
(the process's peak resident set size after each phase).
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
from severa_ext.sync.items import Window
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
    print(f"{label:<36} {seconds:8.2f} s   peak RSS so far {peak_rss_mib():7.0f} MiB")
    return result


def no_change_sync(path: Path, state_path: Path) -> None:
    """Sync the file with an in-memory calendar, then time a sync that changes nothing."""
    store = SQLiteStateStore(state_path)
    memory = MemoryBackend("memory")
    policy = SyncPolicy.calendars(past_days=35, future_days=510)
    clock = FixedClock(datetime(2026, 1, 5, tzinfo=UTC))

    def engine(ics: IcsBackend) -> SyncEngine:
        return SyncEngine(memory, ics, store, pair_id="bench", policy=policy, clock=clock)

    first = measure("first sync (links, copies to memory)", lambda: engine(IcsBackend(path)).run())
    print(f"  first sync: {first.summary()}")
    warm = IcsBackend(path)
    warm.changes(None, WINDOW)
    again = measure("no-change sync (file already parsed)", lambda: engine(warm).run())
    cold = measure("no-change sync (fresh process-like)", lambda: engine(IcsBackend(path)).run())
    for label, report in (("warm", again), ("cold", cold)):
        print(f"  {label}: {report.total_writes} writes, {report.changes} changes seen")
    store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.ics"
        generate(path, args.events)
        size = path.stat().st_size
        print(f"file: {args.events} events, {size / 2**20:.1f} MiB")
        backend = IcsBackend(path)
        listing = measure("parse + index + list window", lambda: backend.changes(None, WINDOW))
        print(f"  listed {len(listing.items)} items, {len(backend.problems)} problems")
        measure("list again (cached parse)", lambda: backend.changes(listing.cursor, WINDOW))
        no_change_sync(path, Path(folder) / "state.sqlite")
    print(f"peak resident memory of the process: {peak_rss_mib():.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
