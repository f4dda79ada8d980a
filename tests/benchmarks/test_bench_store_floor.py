"""Smoke test of ``benchmarks/bench_store_floor.py`` (issue 17), so it cannot rot.

The benchmark is not a test: this runs it on a tiny input and checks that it prints
its six figures, each a positive number of seconds, and that what it times through
the store is what the store then holds.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_bench_store_floor_prints_its_six_figures():
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench_store_floor.py"), "--items", "230", "--step", "50"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "230 creates in steps of 50, best of 3:" in done.stdout
    figures = re.findall(r"^  (.+?)\s+(\d+\.\d+) s$", done.stdout, flags=re.MULTILINE)
    assert [name for name, _ in figures] == [
        "intent + link (raw SQL, rows made)",
        "intents in their own table (raw SQL)",
        "one intent row per step (raw SQL)",
        "link only (raw SQL, rows made)",
        "encoding the bases (no SQL)",
        "SQLiteStateStore.apply (intents, then links)",
    ]
    assert all(float(seconds) > 0 for _, seconds in figures)


def test_the_steps_it_times_leave_every_link_settled(tmp_path):
    sys.path.insert(0, str(SCRIPTS))
    try:
        import bench_store_floor as bench
    finally:
        sys.path.remove(str(SCRIPTS))
    from severa_ext.sync.links import Link
    from severa_ext.sync.sqlite import SQLiteStateStore

    links = bench._links(120)
    assert bench._through_the_store(tmp_path, links, 50) > 0
    with SQLiteStateStore(tmp_path / "store.sqlite") as store:
        stored = list(store.links(bench.PAIR))
        assert len(stored) == 120
        assert all(isinstance(entry, Link) for entry in stored)  # no intent left pending
        assert sorted(stored, key=lambda link: link.sync_key) == links


def test_each_raw_layout_leaves_every_link_and_no_intent(tmp_path):
    sys.path.insert(0, str(SCRIPTS))
    try:
        import bench_store_floor as bench
    finally:
        sys.path.remove(str(SCRIPTS))
    rows = bench.Rows(bench._links(130))
    layouts = {  # each layout and the table its intents live in apart from the links
        bench._intent_then_link: None,
        bench._intents_apart: "intents",
        bench._intent_row_per_step: "steps",
    }
    for write, intents in layouts.items():
        conn = bench._fresh(tmp_path, write.__name__)
        write(conn, rows, 50)
        assert conn.execute("SELECT count(*) FROM links WHERE pending IS NULL").fetchone() == (130,)
        assert conn.execute("SELECT count(*) FROM links").fetchone() == (130,)
        if intents is not None:
            assert conn.execute(f"SELECT count(*) FROM {intents}").fetchone() == (0,)
        conn.close()
