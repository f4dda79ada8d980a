"""Benchmark of the sync engine (issue 4): memory backends, SQLite state on disk.

For N in 1,000 / 10,000 / 50,000 / 100,000 it measures

* an initial sync with all N items on side A (N creates on side B),
* the echo pass (the next sync reads back what the initial sync wrote, once),
* a no-change sync (delta cursors: the cost must not grow with N, zero writes),
* a sync after 1% of the items changed on each side.

and prints seconds, items per second, peak traced memory and writes per side.
Targets: initial 100k < 5 s; no-change < 50 ms at every N; 1%+1% on 50k < 0.4 s.

Run ``python benchmarks/bench_sync.py`` (``--quick`` for N = 1,000 and 10,000 only,
``--memory-store`` to use the in-memory state store instead of SQLite,
``--step-writes 0`` for the library's default durable step (one backend batch),
``--no-gc-pause`` to leave Python's cyclic collector running during the runs (the
library's default; the benchmark, like the command line, pauses it), ``--trace``
to add tracemalloc's peak allocation per sync, which slows the runs, ``--sizes
1000,100000`` to pick the N values, ``--profile 25`` to print the 25 costliest
functions of each initial sync). Wall and CPU (``time.process_time``) seconds are
both printed: on a shared machine the CPU time is the steadier figure.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import logging
import pstats
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem, Capabilities
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.report import SyncReport
from severa_ext.sync.state import MemoryStateStore, StateStore

NOW = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
STEP_WRITES = 1000
"""``SyncEngine(step_writes=...)``: the intents of 1,000 creates per durable step."""
POLICY = SyncPolicy(outgoing_types={"meeting"}, default_type="internal", personal_type="personal")


def memory_pair(n: int, clock: FixedClock, tag: str = "") -> tuple[MemoryBackend, MemoryBackend]:
    """Two memory sides (delta cursors, batches of 50): ``n`` activities on A, B empty."""
    caps = Capabilities(delta=True, batch_size=50)
    a = MemoryBackend(f"severa{tag}", capabilities=caps, clock=clock)
    b = MemoryBackend(f"calendar{tag}", capabilities=caps, clock=clock)
    for i in range(n):
        start = NOW + timedelta(days=i % 300, minutes=(i * 7) % 1440)
        a.user_create(
            CalendarItem(
                f"activity {i}",
                start,
                start + timedelta(hours=1),
                location="Office",
                body="Notes",
                activity_type="meeting",
            )
        )
    return a, b


def _store(path: Path, memory: bool) -> tuple[StateStore, str]:
    if memory:
        return MemoryStateStore(), "MemoryStateStore"
    try:
        from severa_ext.sync.sqlite import SQLiteStateStore
    except ImportError:  # the SQLite store is built in parallel; fall back
        return MemoryStateStore(), "MemoryStateStore (SQLite store not available)"
    return SQLiteStateStore(path), f"SQLiteStateStore({path.name}, on disk)"


_CPU: list[float] = [0.0]
"""The process CPU seconds of the last measured sync (the machine may be shared)."""


def _measure(action: Callable[[], SyncReport]) -> tuple[SyncReport, float, float]:
    gc.collect()
    tracemalloc.start()
    report, seconds = _untraced(action)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return report, seconds, peak / 2**20


def _untraced(action: Callable[[], SyncReport]) -> tuple[SyncReport, float]:
    gc.collect()
    c0 = time.process_time()
    t0 = time.perf_counter()
    report = action()
    seconds = time.perf_counter() - t0
    _CPU[0] = time.process_time() - c0
    return report, seconds


def _profiled(action: Callable[[], SyncReport], top: int) -> tuple[SyncReport, float]:
    """Run ``action`` under cProfile and print the ``top`` functions by own time."""
    profiler = cProfile.Profile()
    gc.collect()
    c0 = time.process_time()
    t0 = time.perf_counter()
    report = profiler.runcall(action)
    seconds = time.perf_counter() - t0
    _CPU[0] = time.process_time() - c0
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)
    return report, seconds


def _rss_mib() -> float:
    # ru_maxrss is in KiB on Linux: the process's peak resident memory so far.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _line(label: str, n: int, items: int, report: SyncReport, seconds: float, peak: float) -> None:
    w = report.writes
    rate = items / seconds if seconds > 0 else float("inf")
    traced = f"{peak:>8.1f} MiB" if peak == peak else f"{'-':>12}"
    print(
        f"{n:>8,} {label:<14} {seconds * 1000:>10.1f} ms {_CPU[0] * 1000:>10.1f} ms "
        f"{rate:>12,.0f} items/s "
        f"{traced} {_rss_mib():>8.0f} MiB   writes a={w['a']:<6} b={w['b']:<6} ok={report.ok}"
    )


def bench(
    n: int,
    directory: Path,
    *,
    memory: bool,
    trace: bool,
    profile: int = 0,
    pause_gc: bool = True,
    step_writes: int = STEP_WRITES,
) -> str:
    """Run the three measurements for ``n`` items; return the store's name."""
    clock = FixedClock(NOW)
    a, b = memory_pair(n, clock)
    # The memory backends hold 2 x N items that a real deployment keeps on servers:
    # freeze them so the collector does not rescan these fixtures on every pass.
    gc.collect()
    gc.freeze()
    store, store_name = _store(directory / f"state-{n}.sqlite", memory)
    engine = SyncEngine(
        a,
        b,
        store,
        pair_id="bench",
        policy=POLICY,
        clock=clock,
        step_writes=step_writes,
        pause_gc=pause_gc,
    )

    def timed(action: Callable[[], SyncReport]) -> tuple[SyncReport, float, float]:
        if trace:
            return _measure(action)
        report, seconds = _untraced(action)
        return report, seconds, float("nan")

    if profile:
        report, seconds = _profiled(engine.run, profile)
        peak = float("nan")
    else:
        report, seconds, peak = timed(engine.run)
    _line("initial", n, n, report, seconds, peak)
    assert report.writes["b"] == n, report.summary()

    # The first sync after the initial one reads back the N items it wrote to side B
    # (the delta since the cursor taken before writing); it writes nothing.
    report, seconds = _untraced(engine.run)
    assert report.total_writes == 0, report.summary()
    _line("echo pass", n, n, report, seconds, float("nan"))

    samples = []
    for _ in range(5):
        report, seconds = _untraced(engine.run)
        assert report.total_writes == 0, report.summary()
        samples.append(seconds)
    best = min(samples)
    _line("no-change", n, n, report, best, float("nan"))

    changed = max(1, n // 100)
    a_items = a.all_items()
    b_items = b.all_items()
    for i in range(changed):
        clock.advance(timedelta(seconds=1))
        a.user_update(a_items[(i * 2) % n].id or "", title=f"activity {i} (edited in Severa)")
        b.user_update(b_items[(i * 2 + 1) % n].id or "", location=f"Room {i}")
    report, seconds, peak = timed(engine.run)
    _line("1%+1% changed", n, 2 * changed, report, seconds, peak)
    assert report.total_writes == 2 * changed, report.summary()
    store.close()
    gc.unfreeze()
    return store_name


def main() -> None:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1,000 and 10,000 only")
    parser.add_argument("--memory-store", action="store_true", help="MemoryStateStore")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="also trace the peak Python allocation of each sync (tracemalloc, 3x slower)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="TOP",
        help="profile each initial sync with cProfile and print the TOP functions",
    )
    parser.add_argument(
        "--sizes", type=str, default="", help="comma-separated N values (overrides --quick)"
    )
    parser.add_argument(
        "--step-writes",
        type=int,
        default=STEP_WRITES,
        help=f"SyncEngine(step_writes=...): writes per durable step (default {STEP_WRITES}; "
        "0 is the library's default, one step per backend batch)",
    )
    parser.add_argument(
        "--no-gc-pause",
        action="store_true",
        help="leave the cyclic garbage collector running (SyncEngine(pause_gc=False), "
        "the library's default; the command line pauses it)",
    )
    args = parser.parse_args()
    logging.disable(logging.INFO)
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 50_000, 100_000]
    if args.sizes:
        sizes = [int(size.replace("_", "")) for size in args.sizes.split(",")]
    print(
        f"{'N':>8} {'sync':<14} {'wall':>13} {'CPU':>13} {'rate':>20} {'traced':>12} "
        f"{'peak RSS':>12}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            name = bench(
                n,
                Path(tmp),
                memory=args.memory_store,
                trace=args.trace,
                profile=args.profile,
                pause_gc=not args.no_gc_pause,
                step_writes=args.step_writes,
            )
    collector = "running" if args.no_gc_pause else "paused during each run (pause_gc=True)"
    print(
        f"state store: {name}; step_writes={args.step_writes}; cyclic GC: {collector}; "
        "traced: peak allocation during the sync (--trace); "
        "peak RSS: the process's peak so far, fixtures included"
    )


if __name__ == "__main__":
    main()
