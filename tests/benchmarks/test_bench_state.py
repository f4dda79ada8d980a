"""Smoke test of ``benchmarks/bench_state.py`` (issue 14), so it cannot rot.

The benchmark is not a test: this runs it on tiny inputs (its own throw-away
PostgreSQL) and checks that it prints every figure, positive, and its ratios.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from severa_ext.testing.postgres_server import PostgresNotAvailable, find_bindir

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_state.py"


def test_bench_state_prints_every_figure():
    try:
        find_bindir()
    except PostgresNotAvailable as missing:
        from severa_ext.testing._fixtures_postgres import skip_or_fail

        skip_or_fail(str(missing))
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--items", "300", "--pairs", "3", "--pair-items", "20"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for store in ("SQLite", "PostgreSQL"):
        for what in ("initial", "echo pass", "no-change", "no-change, vacuumed"):
            row = re.search(rf"^{store}\s+{what}\s+300 items\s+([\d.]+) ms wall", out, re.M)
            assert row is not None, (store, what, out)
            assert float(row.group(1)) > 0
    assert len(re.findall(r"^ratio PostgreSQL / SQLite, .+: [\d.]+x$", out, re.M)) == 4
    assert re.search(r"^3 pairs' no-change syncs in a row: .* [\d,]+ pairs/s", out, re.M)
    assert re.search(r"^3 pairs claimed by 10s and synced: .* [\d,]+ pairs/s", out, re.M)
