"""The crash soak of ``benchmarks/crash_soak.py`` in short (issue 12), so it runs in CI.

2,000 items, 5 SIGKILLs at random points of a CLI sync, each followed at once by a
rerun (a killed holder's lease is taken over, never waited for), then a final run:
no duplicates, no loss on either side, and the run after the final one writes
nothing. The checker itself is tested on files with a planted duplicate and a
planted loss, so a soak cannot pass by checking nothing.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "crash_soak.py"


def _module():
    spec = importlib.util.spec_from_file_location("crash_soak", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_short_soak_kills_reruns_at_once_and_loses_and_duplicates_nothing(tmp_path):
    done = subprocess.run(
        [sys.executable, SCRIPT, "--items", "2000", "--kills", "5", "--seed", "7", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(done.stdout)
    assert figures["failures"] == []
    assert figures["kills"] == 5
    assert figures["reruns"] >= 5
    assert figures["lease refusals (exit 3)"] == 0
    assert figures["run after the final: writes"] == {"a": 0, "b": 0}
    for name in ("duplicates on A", "duplicates on B", "lost on A", "lost on B"):
        assert figures[name] == 0, name
    assert figures["items"] >= 2000


def test_the_checker_sees_a_planted_duplicate_and_a_planted_loss(tmp_path):
    soak = _module()
    run = soak.Soak(tmp_path)
    run.create(3, 1)
    on_a, on_b = run.titles()
    assert set(on_a) == {"Activity 0", "Activity 1", "Activity 2"}
    assert set(on_b) == {"Event 0"}
    document = json.loads(run.activities.read_text())
    document["activities"].append({**document["activities"][0], "id": "copy"})
    del document["activities"][1]
    run.activities.write_text(json.dumps(document))
    on_a, _ = run.titles()
    assert on_a["Activity 0"] == 2
    assert run.expected() - set(on_a) == {"Activity 1", "Event 0"}
    figures = {
        "lease refusals (exit 3)": 0,
        "duplicates on A": 1,
        "duplicates on B": 0,
        "lost on A": 2,
        "lost on B": 0,
        "unexpected titles": 0,
        "final run exit code": 0,
        "run after the final: exit code": 0,
        "kills": 5,
        "run after the final: writes": {"a": 0, "b": 1},
    }
    assert soak.failures(figures, 5) == [
        "duplicates on A",
        "lost on A",
        "run after the final: writes",
    ]
