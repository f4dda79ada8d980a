"""Our sync engine against vdirsyncer 0.21.0, side by side in one run (issue 17).

Both engines sync the same generated events (``_bench_events``) between two memory
storages: ours ``MemoryCalendar`` <-> ``MemoryCalendar`` with the state in a
``SQLiteStateStore`` file on disk; vdirsyncer ``MemoryStorage`` <-> ``MemoryStorage``
with its status in its own ``SqliteStatus`` file on disk, driven through the
``vdirsyncer.sync.sync`` coroutine (``a wins``, ``force_delete=True``). Every
measurement is a fresh process (``_bench_worker_ours.py`` with the project's python,
``_bench_worker_peer.py`` with the peer's) that sets its scenario up untimed, times one
sync and reports wall and CPU seconds and its peak RSS (``getrusage``) as JSON.

Scenarios (columns), each a ratio peer time / our time (above 1: we are faster):

* initial (defaults): side A holds N events, side B is empty; the library's defaults;
* initial (collector paused): ours with ``SyncEngine(pause_gc=True)`` against the same
  peer run (the column is left out when the engine no longer offers the option);
* no-change, delta cursors / full listings: a sync after the initial and a settling
  sync; "full listings" gives both our sides ``Capabilities(delta=False)``, so each
  ``changes`` call lists everything, as an ICS file or the Severa REST API does.
  vdirsyncer has no delta cursors: it always lists both sides in full, so both
  columns divide the same peer run;
* 1%+1% edits, full listings / delta cursors: 1% of the events renamed on side A and
  1% others moved on side B, then a sync;
* peak RSS vs peer: the peak resident memory of our initial-sync process against the
  peer's (the fixtures and the interpreter included on both sides).

A pair is one peer run and the runs of ours it is compared with, in the order ours,
peer, ours (the two variants of ours swap places from one pair to the next); the
table gives the median of the per-pair ratios. The wall-clock ratios are the table;
the CPU seconds are printed beside them (steadier on a shared machine).

The peer lives in the benchmark's own virtualenv, never in the package's dependencies::

    python3.11 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install vdirsyncer==0.21.0

Run (with the project's virtualenv)::

    .venv/bin/python benchmarks/bench_vs_vdirsyncer.py --peer-python /tmp/bench-venv/bin/python

Options: ``--sizes 10000,50000`` (default 10,000, 50,000, 100,000), ``--pairs 3``,
``--quick`` (N = 2,000, one pair: a smoke run). Without ``--peer-python`` only our
half runs and only our seconds are printed. Prints Markdown tables; exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["COLUMNS", "Column", "main"]

HERE = Path(__file__).resolve().parent
OURS_WORKER = HERE / "_bench_worker_ours.py"
PEER_WORKER = HERE / "_bench_worker_peer.py"
DEFAULT_SIZES = (10_000, 50_000, 100_000)


@dataclass(frozen=True)
class Column:
    """One ratio column: a scenario and the options of our run."""

    title: str
    scenario: str
    listing: str = "delta"
    pause_gc: bool = False

    def ours_options(self) -> list[str]:
        """The worker options of our run."""
        return ["--listing", self.listing, *(["--pause-gc"] if self.pause_gc else [])]


COLUMNS = (
    Column("initial (defaults)", "initial"),
    Column("initial (collector paused)", "initial", pause_gc=True),
    Column("no-change, delta cursors", "no-change"),
    Column("no-change, full listings", "no-change", listing="full"),
    Column("1%+1% edits, full listings", "edits", listing="full"),
    Column("1%+1% edits, delta cursors", "edits"),
)
RSS_COLUMN = COLUMNS[0]
SCENARIOS = tuple(dict.fromkeys(c.scenario for c in COLUMNS))
"""Peak RSS compares our initial-sync process (defaults) with the peer's."""


@dataclass(frozen=True)
class Runner:
    """How to start the workers."""

    ours_python: str
    peer_python: str | None
    timeout: float

    def run(self, worker: Path, python: str, scenario: str, n: int, extra: list[str]) -> Any:
        """One measurement in a fresh process with a fresh state directory."""
        with tempfile.TemporaryDirectory(prefix="bench-vs-") as directory:
            command = [python, str(worker), "--scenario", scenario, "--n", str(n)]
            command += ["--dir", directory, *extra]
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=self.timeout, check=False
            )
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}{done.stdout}")
        record = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"  N={n:,} {record['engine']:<10} {scenario:<9} {' '.join(extra):<28} "
            f"{record['seconds']:9.4f} s wall {record['cpu_seconds']:9.4f} s CPU "
            f"{record['peak_rss_mib']:7.1f} MiB",
            file=sys.stderr,
        )
        return record

    def ours(self, column: Column, n: int) -> Any:
        return self.run(OURS_WORKER, self.ours_python, column.scenario, n, column.ours_options())

    def peer(self, scenario: str, n: int) -> Any:
        assert self.peer_python is not None
        return self.run(PEER_WORKER, self.peer_python, scenario, n, [])

    def pause_gc_offered(self) -> bool:
        """Ask our worker whether the engine still takes ``pause_gc``."""
        done = subprocess.run(
            [self.ours_python, str(OURS_WORKER), "--probe"],
            capture_output=True,
            text=True,
            check=True,
        )
        return bool(json.loads(done.stdout)["pause_gc"])


@dataclass
class Results:
    """Every record of one N: ours per column, the peer's per scenario, per pair."""

    ours: dict[str, list[Any]]
    peer: dict[str, list[Any]]


def measure(runner: Runner, columns: tuple[Column, ...], n: int, pairs: int) -> Results:
    """Run ``pairs`` pairs of every scenario for ``n`` events."""
    results = Results({c.title: [] for c in columns}, {c.scenario: [] for c in columns})
    for scenario in dict.fromkeys(c.scenario for c in columns):
        variants = [c for c in columns if c.scenario == scenario]
        for pair in range(pairs):
            order = variants if pair % 2 == 0 else variants[::-1]
            results.ours[order[0].title].append(runner.ours(order[0], n))
            if runner.peer_python is not None:
                results.peer[scenario].append(runner.peer(scenario, n))
            for column in order[1:]:
                results.ours[column.title].append(runner.ours(column, n))
    return results


def _ratio(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}x"
    return f"{value:.0f}x" if value >= 10 else f"{value:.1f}x"


def _median_ratio(peer: list[Any], ours: list[Any], key: str) -> float:
    return statistics.median(p[key] / max(o[key], 1e-9) for p, o in zip(peer, ours, strict=True))


def _rss(results: Results) -> str:
    peer, ours = results.peer[RSS_COLUMN.scenario], results.ours[RSS_COLUMN.title]
    more = statistics.median(
        o["peak_rss_mib"] / p["peak_rss_mib"] for p, o in zip(peer, ours, strict=True)
    )
    return f"{more:.1f}x more" if more >= 1 else f"{1 / more:.1f}x less"


def ratio_table(columns: tuple[Column, ...], by_n: dict[int, Results], key: str) -> str:
    """The Markdown table of median ratios (peer / ours) of ``key``."""
    with_rss = key == "seconds" and RSS_COLUMN in columns
    titles = [c.title for c in columns] + (["peak RSS vs peer"] if with_rss else [])
    lines = ["| N | " + " | ".join(titles) + " |", "|---" * (len(titles) + 1) + "|"]
    for n, results in by_n.items():
        cells = [
            _ratio(_median_ratio(results.peer[c.scenario], results.ours[c.title], key))
            for c in columns
        ]
        if with_rss:
            cells.append(_rss(results))
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seconds_table(columns: tuple[Column, ...], by_n: dict[int, Results]) -> str:
    """The Markdown table of median seconds (wall / CPU) of each engine."""
    lines = ["| N | run | ours wall | ours CPU | peer wall | peer CPU |", "|---" * 6 + "|"]
    for n, results in by_n.items():
        for c in columns:
            ours, peer = results.ours[c.title], results.peer[c.scenario]
            cells = [_median(ours, "seconds"), _median(ours, "cpu_seconds")]
            cells += [_median(peer, "seconds"), _median(peer, "cpu_seconds")]
            lines.append(f"| {n:,} | {c.title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _median(records: list[Any], key: str) -> str:
    return f"{statistics.median(r[key] for r in records):.4f} s" if records else "-"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", help="python of a virtualenv with vdirsyncer==0.21.0")
    parser.add_argument("--ours-python", default=sys.executable, help="the project's python")
    parser.add_argument("--sizes", default="", help="comma-separated N values")
    parser.add_argument("--pairs", type=int, default=3, help="pairs per scenario and N")
    parser.add_argument("--quick", action="store_true", help="N = 2,000 and one pair")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per measurement")
    parser.add_argument(
        "--scenarios",
        default="",
        help=f"comma-separated subset of {','.join(SCENARIOS)} (default: all)",
    )
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.pairs = args.sizes or "2000", 1
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    unknown = set(filter(None, args.scenarios.split(","))) - set(SCENARIOS)
    if unknown:
        parser.error(f"--scenarios: unknown {', '.join(sorted(unknown))}")
    return args


def chosen_columns(runner: Runner, scenarios: str) -> tuple[Column, ...]:
    """The columns to measure: those of ``scenarios`` (all when empty), without the
    paused-collector column when our python does not offer it."""
    wanted = set(filter(None, scenarios.split(","))) or set(SCENARIOS)
    return tuple(
        c for c in COLUMNS if c.scenario in wanted and (runner.pause_gc_offered() or not c.pause_gc)
    )


def main() -> None:
    """Measure, then print the tables."""
    args = _arguments()
    sizes = (
        [int(s.replace("_", "")) for s in args.sizes.split(",")] if args.sizes else DEFAULT_SIZES
    )
    runner = Runner(args.ours_python, args.peer_python, args.timeout)
    columns = chosen_columns(runner, args.scenarios)
    load_before, began = os.getloadavg(), time.monotonic()
    by_n = {n: measure(runner, columns, n, args.pairs) for n in sizes}
    load_after = os.getloadavg()
    print(f"# severa_ext vs vdirsyncer, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"\nCommand: `python {' '.join(sys.argv)}`")
    print(
        f"\n{args.pairs} pair(s) per scenario and N; {time.monotonic() - began:.0f} s in all; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
        f"{os.cpu_count()} CPUs"
    )
    if runner.peer_python is None:
        print("\nPeer skipped (no --peer-python): our seconds only.\n")
    else:
        print("\nRatio = peer wall time / our wall time (median of the pairs):\n")
        print(ratio_table(columns, by_n, "seconds"))
        print("\nThe same on CPU seconds:\n")
        print(ratio_table(columns, by_n, "cpu_seconds"))
        print("\nMedian seconds:\n")
    print(seconds_table(columns, by_n))


if __name__ == "__main__":
    main()
