"""Benchmark of the ICS backend: initial syncs into an empty file, the backend's
writes beside vdirsyncer's, parse + index of a generated 50,000-event file, then a
no-change sync against it.

Run: ``python benchmarks/bench_ics.py [--events N] [--initial N,N] [--skip-full]
[--baseline REF] [--baseline-max N] [--vdirsyncer PYTHON] [--repeat N] [--profile]
[--writes-only]``.
Prints seconds (wall clock and the process's CPU time: on a machine shared with other
jobs the wall clock also waits for them) and peak memory (the process's peak resident
set size after each phase). Each initial-sync row is a whole engine run (memory
calendar to an empty ``ics:`` file) with the seconds spent inside the ICS backend,
measured side by side with the implementation on ``main`` (``--baseline REF``, copied
from git into a temporary package at run time), on the same data in the same run, and
printed with the ratio; ``--profile`` prints a cProfile of our initial syncs (the
costliest calls, then those inside ``backends/*ics*``).

The backend's writes of the same counts (``apply_batch`` of 500, then ``flush``: once,
after each durable step as the engine sizes them, or after every 500) are timed
against vdirsyncer 0.21.0's ``singlefile`` storage uploading the same events, run by
``--vdirsyncer`` (a Python in the benchmark's own virtualenv, ``/tmp/bench-venv``;
never a dependency of this package): each side's best of ``--repeat`` interleaved
rounds.

A no-change sync with a fresh backend (a new command-line process) passes the cursor
the previous run stored: the file is hashed, not parsed, and the engine does no
per-item work. ``--skip-full`` leaves out the slow comparison run that ignores the
cursor (a full parse and listing, the behaviour before cursors).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
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

import attrs
from _bench_sources import git, import_copy, memory_calendar

from severa_ext.backends.base import CreateOp
from severa_ext.backends.ics import IcsBackend
from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.engine._execute import step_size
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


@attrs.frozen
class Timing:
    """Wall-clock and CPU seconds of one piece of work (CPU time is what the work
    itself cost; on a machine shared with other jobs the wall clock waits for them)."""

    wall: float
    cpu: float

    def __str__(self) -> str:
        return f"{self.wall:.2f} s (cpu {self.cpu:.2f} s)"


class Timer:
    """Started at construction; :meth:`stop` gives the :class:`Timing` since then."""

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()

    def stop(self) -> Timing:
        return Timing(time.perf_counter() - self._wall, time.process_time() - self._cpu)


def best(timings: list[Timing]) -> Timing:
    """The fastest of several rounds (by wall clock)."""
    return min(timings, key=lambda timing: timing.wall)


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

    def files() -> dict[str, str]:
        names = git("ls-tree", "--name-only", ref, "src/severa_ext/backends/").split()
        wanted = [n for n in names if re.fullmatch(r"ics\.py|_ics_\w+\.py", Path(n).name)]
        return {Path(n).name: _renamed(git("show", f"{ref}:{n}")) for n in wanted}

    return import_copy(folder, "ics_baseline", files, "ics")


def _renamed(text: str) -> str:
    """A copied module's imports of ``ics`` and its helpers, pointed at the copy."""
    return re.sub(r"severa_ext\.backends\.(_ics_\w+|ics)\b", r"ics_baseline.\1", text)


def source_items(count: int) -> MemoryBackend:
    """A memory calendar of ``count`` single items inside the window."""
    return memory_calendar("memory", count, START, "activity")


def in_backend(backend_type: Any, spent: list[float]) -> Any:
    """``backend_type`` adding the wall seconds spent inside its reads, writes and
    flushes to ``spent[0]`` (the backend's share of an engine run)."""

    def timed(name: str) -> Any:
        method = getattr(backend_type, name)

        def wrapper(self: Any, *args: Any) -> Any:
            began = time.perf_counter()
            try:
                return method(self, *args)
            finally:
                spent[0] += time.perf_counter() - began

        return wrapper

    names = ("changes", "apply_batch", "flush", "close", "get", "find")
    return type("Timed" + backend_type.__name__, (backend_type,), {n: timed(n) for n in names})


def profiled(work: Callable[[], T], enabled: bool) -> T:
    """Run ``work``; under ``enabled`` print its profile: the costliest calls, then
    those inside the ICS backend's modules."""
    if not enabled:
        return work()
    profile = cProfile.Profile()
    try:
        return profile.runcall(work)
    finally:
        stats = pstats.Stats(profile)
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(r"backends[/\\]_?ics", 25)


def initial_sync(
    count: int, folder: Path, backend_type: Any, label: str, *, profile: bool = False
) -> float:
    """Seconds of the first sync of ``count`` items into an empty file, then the echo
    run and a no-change run (printed)."""
    path = folder / f"initial-{label}-{count}.ics"
    state = SQLiteStateStore(folder / f"state-{label}-{count}.sqlite")
    memory = source_items(count)
    policy = SyncPolicy.calendars(past_days=35, future_days=510)
    clock = FixedClock(datetime(2026, 1, 5, tzinfo=UTC))
    spent = [0.0]
    timed_type = in_backend(backend_type, spent)

    def run() -> Any:
        ics = timed_type(path, create_missing=True, clock=clock)
        engine = SyncEngine(memory, ics, state, pair_id=label, policy=policy, clock=clock)
        try:
            return engine.run()
        finally:
            ics.close()

    timer = Timer()
    first = profiled(run, profile)
    timing = timer.stop()
    print(
        f"  {label:<9} initial sync of {count:>6}: {timing}, {spent[0]:.2f} s of it in the "
        f"ICS backend  ({first.summary()})"
    )
    measure(f"  {label:<9} echo run", run)
    measure(f"  {label:<9} no-change run", run)
    state.close()
    return timing.wall


def initial_rows(
    counts: list[int], ref: str, folder: Path, baseline_max: int, *, profile: bool = False
) -> None:
    baseline = baseline_module(ref, folder).IcsBackend if ref else None
    for count in counts:
        ours = initial_sync(count, folder, IcsBackend, "this", profile=profile)
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
began, cpu = time.perf_counter(), time.process_time()
asyncio.run(upload(texts, sys.argv[2]))
print(time.perf_counter() - began, time.process_time() - cpu)
"""


def durable_steps(count: int, batch: int = 500) -> list[int]:
    """The writes of each durable step of a sync creating ``count`` items, as the
    engine sizes them on a side that ``rewrites_on_flush`` (the engine's own rule,
    ``step_size``, with the default ``step_writes``)."""
    steps: list[int] = []
    done = 0
    while done < count:
        step = step_size(batch, done=done, floor=0, grows=True)
        steps.append(min(step, count - done))
        done += steps[-1]
    return steps


def backend_write(count: int, folder: Path, steps: list[int], tag: str) -> tuple[Timing, Path]:
    """Time creating ``count`` items through ``apply_batch`` (500 a batch) with a
    ``flush`` after each durable step of ``steps`` (the engine's protocol)."""
    path = folder / f"backend-{count}-{tag}.ics"
    path.unlink(missing_ok=True)
    clock = FixedClock(datetime(2026, 1, 5, tzinfo=UTC))
    items = list(source_items(count).changes(None, WINDOW).items)
    timer = Timer()
    backend = IcsBackend(path, create_missing=True, clock=clock)
    backend.flush()  # the engine's protocol: one flush per durable step
    first = 0
    for step in steps:
        for start in range(first, first + step, 500):
            chunk = items[start : min(start + 500, first + step)]
            ops = [CreateOp(item, f"key-{start + n}") for n, item in enumerate(chunk)]
            backend.apply_batch(ops)
        backend.flush()
        first += step
    backend.close()
    return timer.stop(), path


def write_schedules(count: int) -> dict[str, list[int]]:
    """The flush schedules of the write rows, by label."""
    return {
        "one flush": [count],
        "engine's steps": durable_steps(count),
        "a flush per 500": [500] * (count // 500) + ([count % 500] if count % 500 else []),
    }


def vdirsyncer_texts(written: Path, folder: Path, count: int) -> Path:
    """The events of ``written``, each as its own calendar (vdirsyncer's items)."""
    events = re.findall(rb"BEGIN:VEVENT\r\n.*?END:VEVENT\r\n", written.read_bytes(), re.S)
    texts = [
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n"
        + event.decode()
        + "END:VCALENDAR\r\n"
        for event in events
    ]
    source = folder / f"vdirsyncer-items-{count}.json"
    source.write_text(json.dumps(texts))
    return source


def vdirsyncer_upload(source: Path, folder: Path, count: int, python: Path) -> Timing:
    """vdirsyncer's ``singlefile`` storage uploading the events of ``source`` into an
    empty file (one ``at_once`` block: one write at the end), timed in its process."""
    target = folder / f"vdirsyncer-{count}.ics"
    target.write_bytes(b"")
    answer = subprocess.run(
        [str(python), "-c", _VDIRSYNCER, str(source), str(target)],
        check=True,
        capture_output=True,
        text=True,
    )
    wall, cpu = (float(word) for word in answer.stdout.split())
    return Timing(wall, cpu)


def vdirsyncer_row(count: int, folder: Path, python: Path, repeat: int) -> None:
    """Our backend's writes of ``count`` items (one flush, the engine's durable steps,
    a flush per 500) vs vdirsyncer's ``singlefile`` storage uploading the same events;
    each side's best of ``repeat`` rounds, the rounds interleaved (shared machines)."""
    schedules = write_schedules(count)
    ours: dict[str, list[Timing]] = {label: [] for label in schedules}
    theirs: list[Timing] = []
    source: Path | None = None
    for _round in range(repeat):
        for label, steps in schedules.items():
            timing, written = backend_write(count, folder, steps, label.replace(" ", "-"))
            ours[label].append(timing)
            source = source or vdirsyncer_texts(written, folder, count)
        assert source is not None
        theirs.append(vdirsyncer_upload(source, folder, count, python))
    peer = best(theirs)
    print(f"  write {count} new events, best of {repeat}: vdirsyncer 0.21.0 singlefile {peer}")
    for label, timings in ours.items():
        mine = best(timings)
        flushes = len(schedules[label])
        print(
            f"    this backend, {label} ({flushes} flushes): {mine}: "
            f"{peer.wall / mine.wall:.1f}x faster (cpu {peer.cpu / mine.cpu:.1f}x)"
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
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of the write rows (the best is kept)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="print a profile of each initial sync"
    )
    parser.add_argument(
        "--writes-only", action="store_true", help="only the initial-sync and write rows"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        counts = [int(n) for n in args.initial.split(",") if n]
        initial_rows(counts, args.baseline, Path(folder), args.baseline_max, profile=args.profile)
        if args.vdirsyncer and Path(args.vdirsyncer).exists():
            for count in counts:
                vdirsyncer_row(count, Path(folder), Path(args.vdirsyncer), args.repeat)
        if args.writes_only:
            return 0
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
