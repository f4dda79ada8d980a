"""Smoke tests of ``benchmarks/bench_vs_vdirsyncer.py`` (issue 17), so it cannot rot.

The benchmark is not a test: these only run its ``--quick`` mode (N = 2,000, one
pair) and its workers on tiny inputs, and check that what it prints is a complete,
well-formed table of positive figures. Our half always runs; the peer half only when
``SEVERA_EXT_BENCH_PEER_PYTHON`` names the python of a virtualenv with
``vdirsyncer==0.21.0`` (vdirsyncer is never a dependency of the package).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPT = BENCHMARKS / "bench_vs_vdirsyncer.py"
OURS_WORKER = BENCHMARKS / "_bench_worker_ours.py"
PEER_PYTHON = os.environ.get("SEVERA_EXT_BENCH_PEER_PYTHON", "")
RUNS = (
    "initial (defaults)",
    "initial (collector paused)",
    "no-change, delta cursors",
    "no-change, full listings",
    "1%+1% edits, full listings",
    "1%+1% edits, delta cursors",
)
SECONDS = r"(\d+\.\d{4}) s"


def _run(*command: str | Path) -> str:
    done = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _seconds_rows(output: str, *, peer: bool) -> dict[str, list[float]]:
    peer_cells = rf"{SECONDS} \| {SECONDS}" if peer else r"- \| -"
    pattern = re.compile(rf"^\| 2,000 \| (.+?) \| {SECONDS} \| {SECONDS} \| {peer_cells} \|$")
    rows = {}
    for line in output.splitlines():
        match = pattern.match(line)
        if match:
            rows[match.group(1)] = [float(value) for value in match.groups()[1:]]
    return rows


def test_quick_mode_without_a_peer_prints_our_seconds_for_every_run() -> None:
    output = _run(sys.executable, SCRIPT, "--quick")

    assert "Peer skipped (no --peer-python)" in output
    rows = _seconds_rows(output, peer=False)
    # The collector column is left out only when the engine drops pause_gc.
    assert set(rows) in ({*RUNS}, {*RUNS} - {"initial (collector paused)"})
    assert all(value > 0 for values in rows.values() for value in values)
    # Cheap sanity of the measurement: a no-change sync with delta cursors costs less
    # than the initial sync that wrote every event.
    assert rows["no-change, delta cursors"][0] < rows["initial (defaults)"][0]


@pytest.mark.parametrize(
    ("scenario", "listing", "writes"),
    [
        ("initial", "delta", 150),
        ("no-change", "full", 0),
        ("edits", "full", 2),
        ("edits", "delta", 2),
    ],
)
def test_our_worker_reports_one_json_measurement(
    tmp_path: Path, scenario: str, listing: str, writes: int
) -> None:
    output = _run(
        sys.executable, OURS_WORKER, "--scenario", scenario, "--n", "150", "--dir", tmp_path,
        "--listing", listing,
    )  # fmt: skip

    record = json.loads(output)
    assert record["engine"] == "severa_ext"
    assert record["writes"] == writes
    assert record["seconds"] > 0
    assert record["cpu_seconds"] > 0
    assert record["peak_rss_mib"] > 10
    assert (tmp_path / "severa-ext-state.sqlite").is_file()  # the state is on disk


def test_our_worker_can_keep_the_state_in_memory(tmp_path: Path) -> None:
    output = _run(
        sys.executable, OURS_WORKER, "--scenario", "initial", "--n", "120", "--dir", tmp_path,
        "--state", "memory",
    )  # fmt: skip

    assert json.loads(output)["writes"] == 120
    assert not (tmp_path / "severa-ext-state.sqlite").exists()  # no state file written


def test_our_worker_can_write_a_profile_of_the_timed_sync(tmp_path: Path) -> None:
    profile = tmp_path / "initial.prof"

    _run(
        sys.executable, OURS_WORKER, "--scenario", "initial", "--n", "50", "--dir", tmp_path,
        "--profile", profile,
    )  # fmt: skip

    assert profile.stat().st_size > 0


@pytest.mark.skipif(not PEER_PYTHON, reason="SEVERA_EXT_BENCH_PEER_PYTHON is not set")
def test_quick_mode_with_the_peer_prints_every_ratio() -> None:
    output = _run(sys.executable, SCRIPT, "--quick", "--peer-python", PEER_PYTHON)

    rows = _seconds_rows(output, peer=True)
    assert {*RUNS} - {"initial (collector paused)"} <= set(rows)
    ratio_rows = [line for line in output.splitlines() if line.startswith("| 2,000 | ")]
    first = ratio_rows[0].split(" | ")
    assert re.fullmatch(r"[\d.]+x (more|less) \|", first[-1])  # peak RSS vs peer
    assert all(re.fullmatch(r"[\d,.]+x", cell) for cell in first[1:-1])
