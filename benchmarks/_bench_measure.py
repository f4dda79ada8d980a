"""How a worker of ``bench_vs_vdirsyncer.py`` times one sync and reports it.

Standard library only (the peer's worker runs in the benchmark's own virtualenv).
A worker process sets its scenario up untimed, times exactly one sync with
:func:`timed`, and prints one JSON object with :func:`emit`: wall and CPU seconds
of that sync and the process's peak resident set size (``getrusage``'s
``ru_maxrss``, fixtures and imports included, the same for both engines).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["SCENARIOS", "emit", "timed", "worker_arguments"]

SCENARIOS = ("initial", "no-change", "edits")
"""``initial``: side A holds N events, side B is empty; ``no-change``: a sync after
the initial one (and, for ours, after the pass that reads its own writes back);
``edits``: 1% of the events edited on each side (different events), then a sync."""


def worker_arguments(description: str) -> argparse.ArgumentParser:
    """The options every worker takes (the driver passes them)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--scenario", choices=SCENARIOS, required=True)
    parser.add_argument("--n", type=int, required=True, help="number of events")
    parser.add_argument("--dir", required=True, help="directory for the state file")
    parser.add_argument(
        "--profile", default="", metavar="FILE", help="cProfile the timed sync into FILE"
    )
    return parser


def timed(action: Callable[[], Any], profile: str = "") -> tuple[Any, float, float]:
    """Run ``action`` once; return its result, wall seconds and CPU seconds.

    With ``profile`` the run is profiled with cProfile and the stats are dumped
    there (the profiler's overhead is then part of the figures).
    """
    gc.collect()
    profiler = cProfile.Profile() if profile else None
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    result = profiler.runcall(action) if profiler is not None else action()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    if profiler is not None:
        profiler.dump_stats(profile)
    return result, wall, cpu


def emit(engine: str, version: str, wall: float, cpu: float, **extra: Any) -> None:
    """Print the measurement as one JSON line on stdout."""
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    record = {
        "engine": engine,
        "version": version,
        "seconds": wall,
        "cpu_seconds": cpu,
        "peak_rss_mib": peak_kib / 1024,
        **extra,
    }
    json.dump(record, sys.stdout)
    sys.stdout.write("\n")
