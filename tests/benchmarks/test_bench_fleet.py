"""Smoke test of ``benchmarks/bench_fleet.py`` (issue 15), so it cannot rot: a tiny fleet,
two worker counts; a no-change cycle costs one delta request per mailbox, and no
mailbox got a 429 or went past Graph's limits."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_fleet.py"


def test_a_small_fleet_costs_one_delta_request_per_mailbox_per_no_change_cycle():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--mailboxes", "12", "--workers", "1,3"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "cycle" in line]
    assert len(lines) == 3  # the initial cycle, then one no-change cycle per worker count
    for line in lines:
        assert "429s 0" in line
        assert int(re.search(r"peak in flight/mailbox (\d+)", line).group(1)) <= 4
        assert "runs {'synced': 12}" in line
    for line in lines[1:]:
        assert "requests/mailbox 1.000 {'GET delta': 1.0}" in line
