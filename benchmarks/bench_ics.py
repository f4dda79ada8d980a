"""Benchmark of the ICS backend: initial syncs into an empty file, parse + index of a
generated 50,000-event file, then a no-change sync against it.

Run: ``python benchmarks/bench_ics.py [--events N] [--initial N,N] [--skip-full]
[--baseline REF] [--baseline-max N] [--vdirsyncer PYTHON]``.
Prints seconds and peak memory (the process's peak resident set size after each
phase). Each initial-sync row is measured side by side with the implementation on
``main`` (``--baseline REF``, copied from git into a temporary package at run time),
on the same data in the same run, and printed with the ratio. The backend's writes
of the same counts are also timed against vdirsyncer 0.21.0's ``singlefile`` storage
uploading the same events, run by ``--vdirsyncer`` (a Python in the benchmark's own
virtualenv, ``/tmp/bench-venv``; never a dependency of this package).

A no-change sync with a fresh backend (a new command-line process) passes the cursor
the previous run stored: the file is hashed, not parsed, and the engine does no
per-item work. ``--skip-full`` leaves out the slow comparison run that ignores the
cursor (a full parse and listing, the behaviour before cursors).
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from severa_ext.backends.base import CreateOp
from severa_ext.backends.ics import IcsBackend
from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem, ChangeSet, Window
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


def baseline_module(ref: str, folder: Path) -> ModuleType:
    """``severa_ext.backends.ics`` as of git ``ref``, importable as ``ics_baseline.ics``.

    Copies ``ics.py`` and its private ``_ics_*`` helpers into a temporary package
    (imports of those helpers renamed), so both implementations run in one process.
    """
    root = Path(__file__).resolve().parent.parent
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", ref, "src/severa_ext/backends/"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    package = folder / "ics_baseline"
    if package.exists():
        return importlib.import_module("ics_baseline.ics")
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name in names:
        base = Path(name).name
        if base != "ics.py" and not base.startswith("_ics_"):
            continue
        text = subprocess.run(
            ["git", "show", f"{ref}:{name}"],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        text = re.sub(r"severa_ext\.backends\.(_ics_\w+|ics)\b", r"ics_baseline.\1", text)
        (package / base).write_text(text)
    sys.path.insert(0, str(folder))
    return importlib.import_module("ics_baseline.ics")


def source_items(count: int) -> MemoryBackend:
    """A memory calendar of ``count`` single items inside the window."""
    memory = MemoryBackend("memory")
    for n in range(count):
        start = START + timedelta(minutes=13 * n)  # 50,000 items fit the window
        memory.user_create(
            CalendarItem(
                f"Activity {n}",
                start,
                start + timedelta(minutes=30),
                location=f"Room {n % 40}",
                body=f"Generated activity {n}\nwith a second line",
            )
        )
    return memory


def initial_sync(count: int, folder: Path, backend_type: Any, label: str) -> float:
    """Seconds of the first sync of ``count`` items into an empty file, then the echo
    run and a no-change run (printed)."""
    path = folder / f"initial-{label}-{count}.ics"
    state = SQLiteStateStore(folder / f"state-{label}-{count}.sqlite")
    memory = source_items(count)
    policy = SyncPolicy.calendars(past_days=35, future_days=510)
    clock = FixedClock(datetime(2026, 1, 5, tzinfo=UTC))

    def run() -> Any:
        ics = backend_type(path, create_missing=True, clock=clock)
        engine = SyncEngine(memory, ics, state, pair_id=label, policy=policy, clock=clock)
        try:
            return engine.run()
        finally:
            ics.close()

    began = time.perf_counter()
    first = run()
    seconds = time.perf_counter() - began
    print(f"  {label:<9} initial sync of {count:>6}: {seconds:8.2f} s  ({first.summary()})")
    measure(f"  {label:<9} echo run", run)
    measure(f"  {label:<9} no-change run", run)
    state.close()
    return seconds


def initial_rows(counts: list[int], ref: str, folder: Path, baseline_max: int) -> None:
    baseline = baseline_module(ref, folder).IcsBackend if ref else None
    for count in counts:
        ours = initial_sync(count, folder, IcsBackend, "this")
        if baseline is not None and count <= baseline_max:
            theirs = initial_sync(count, folder, baseline, ref)
            print(f"  initial sync of {count}: {theirs / ours:.1f}x faster than {ref}")


_VDIRSYNCER = """
import asyncio, json, sys, time
from vdirsyncer.storage.singlefile import SingleFileStorage
from vdirsyncer.vobject import Item

async def upload(texts, path):
    storage = SingleFileStorage(path)
    async with storage.at_once():
        for text in texts:
            await storage.upload(Item(text))

texts = json.load(open(sys.argv[1]))
began = time.perf_counter()
asyncio.run(upload(texts, sys.argv[2]))
print(time.perf_counter() - began)
"""


def backend_write(count: int, folder: Path, *, flush_each: bool = True) -> tuple[float, Path]:
    """Seconds to create ``count`` items through ``apply_batch`` (500 a batch) and
    ``flush`` after each batch (the engine's durable steps) or once at the end."""
    path = folder / f"backend-{count}-{flush_each}.ics"
    clock = FixedClock(datetime(2026, 1, 5, tzinfo=UTC))
    items = list(source_items(count).changes(None, WINDOW).items)
    began = time.perf_counter()
    backend = IcsBackend(path, create_missing=True, clock=clock)
    backend.flush()  # the engine's protocol: one flush per durable step
    for first in range(0, count, 500):
        ops = [
            CreateOp(item, f"key-{first + n}") for n, item in enumerate(items[first : first + 500])
        ]
        backend.apply_batch(ops)
        if flush_each:
            backend.flush()
    backend.close()
    return time.perf_counter() - began, path


def vdirsyncer_row(count: int, folder: Path, python: Path) -> None:
    """Our backend's writes of ``count`` items vs vdirsyncer's ``singlefile`` storage
    uploading the same events (one ``at_once`` block: one write at the end)."""
    ours, written = backend_write(count, folder)
    once, _path = backend_write(count, folder, flush_each=False)
    events = re.findall(rb"BEGIN:VEVENT\r\n.*?END:VEVENT\r\n", written.read_bytes(), re.S)
    texts = [
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n"
        + event.decode()
        + "END:VCALENDAR\r\n"
        for event in events
    ]
    source = folder / f"vdirsyncer-items-{count}.json"
    source.write_text(json.dumps(texts))
    target = folder / f"vdirsyncer-{count}.ics"
    target.write_bytes(b"")
    answer = subprocess.run(
        [str(python), "-c", _VDIRSYNCER, str(source), str(target)],
        check=True,
        capture_output=True,
        text=True,
    )
    theirs = float(answer.stdout.strip())
    print(
        f"  write {count} new events: vdirsyncer 0.21.0 singlefile {theirs:.2f} s (one "
        f"write); this backend {once:.2f} s (one flush): {theirs / once:.1f}x faster, "
        f"{ours:.2f} s (a flush per 500, as a sync does): {theirs / ours:.1f}x faster"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument(
        "--skip-full", action="store_true", help="leave out the sync that ignores the cursor"
    )
    parser.add_argument(
        "--initial", default="25000,50000", help="item counts of the initial-sync rows"
    )
    parser.add_argument("--baseline", default="main", help="git ref to compare with ('' for none)")
    parser.add_argument(
        "--baseline-max",
        type=int,
        default=25_000,
        help="largest count the baseline runs for (main's writes are quadratic)",
    )
    parser.add_argument(
        "--vdirsyncer",
        default="/tmp/bench-venv/bin/python",
        help="a Python with vdirsyncer 0.21.0 installed ('' to skip that row)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        counts = [int(n) for n in args.initial.split(",") if n]
        initial_rows(counts, args.baseline, Path(folder), args.baseline_max)
        if args.vdirsyncer and Path(args.vdirsyncer).exists():
            for count in counts:
                vdirsyncer_row(count, Path(folder), Path(args.vdirsyncer))
        path = Path(folder) / "bench.ics"
        generate(path, args.events)
        size = path.stat().st_size
        print(f"file: {args.events} events, {size / 2**20:.1f} MiB")
        backend = IcsBackend(path)
        listing = measure("parse + index + list window", lambda: backend.changes(None, WINDOW))
        if args.baseline:
            old = baseline_module(args.baseline, Path(folder) / "parse").IcsBackend(path)
            measure(f"  the same on {args.baseline}", lambda: old.changes(None, WINDOW))
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
