"""Concurrency proof (issue 14): real ``severa-ext sync`` processes on one PostgreSQL state.

Each process is the command line (``python -m severa_ext sync activities:... ics:...
--state postgresql://...``): an activities JSON file (the Severa side) and an .ics
file (the calendar) per user, all users' sync state in one PostgreSQL schema.

* Two processes syncing different users at once both finish, each user's files end
  as a lone sync leaves them, and each pair's state is its own.
* Processes racing for the same user never duplicate (every entry once on each side)
  and never interleave: the loser waits its turn or stops with exit code 3
  (``LeaseHeld``) before writing, so the writes of all racers add up to the writes of
  one lone sync (SQLite state, same files), and a further sync finds nothing to do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXIT_BUSY = 3
EXTRA = 300
"""Activities added to the example user, so that a sync lasts long enough to race."""


def _user_folder(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir()
    for file in ("calendar.ics", "severa-ext.toml"):
        shutil.copyfile(EXAMPLES / file, folder / file)
    data = json.loads((EXAMPLES / "activities.json").read_text(encoding="utf-8"))
    user = data["user"]["id"]
    start = datetime.fromisoformat("2026-12-02T08:00:00+02:00")
    for n in range(EXTRA):
        begin = start + timedelta(days=n % 60, minutes=15 * (n % 30))
        data["activities"].append(
            {
                "id": f"act-extra-{n}",
                "user_id": user,
                "activity_type_id": "meeting",
                "title": f"{name} meeting {n}",
                "start": begin.isoformat(),
                "end": (begin + timedelta(minutes=30)).isoformat(),
            }
        )
    (folder / "activities.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def _start(folder: Path, state: str) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "severa_ext",
        "sync",
        "activities:activities.json",
        "ics:calendar.ics",
        "--config",
        "severa-ext.toml",
        "--state",
        state,
        "--json",
    ]
    return subprocess.Popen(
        command,
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, dict]:
    out, err = process.communicate(timeout=180)
    assert "Traceback" not in err, err
    return process.returncode, json.loads(out)


def _sync_at_once(folders: list[Path], state: str) -> list[tuple[int, dict]]:
    started = [_start(folder, state) for folder in folders]
    return [_finish(process) for process in started]


def _contents(folder: Path) -> tuple[list[str], list[str]]:
    """The titles on each side, sorted (duplicates kept, so a duplicate shows)."""
    data = json.loads((folder / "activities.json").read_text(encoding="utf-8"))
    titles = sorted(activity["title"] for activity in data["activities"])
    calendar = (folder / "calendar.ics").read_text(encoding="utf-8")
    summaries = sorted(
        line.removeprefix("SUMMARY:")
        for line in calendar.splitlines()
        if line.startswith("SUMMARY:")
    )
    return titles, summaries


@pytest.fixture
def state_url(postgres_schema):
    """The schema as a ``postgresql://`` URL, as a host passes it to ``--state``."""
    return postgres_schema.sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def lone(tmp_path):
    """What one sync alone (SQLite state) writes and leaves, for user ``ref``."""
    folder = _user_folder(tmp_path, "ref")
    ((code, document),) = _sync_at_once([folder], str(folder / "state.sqlite"))
    assert code == 0, document
    return document["writes"], _contents(folder)


def _renamed(contents, name):
    return tuple(
        sorted(t.replace("ref meeting", f"{name} meeting") for t in side) for side in contents
    )


def test_two_users_sync_at_once_on_one_postgres_state(tmp_path, state_url, lone):
    writes, contents = lone
    folders = [_user_folder(tmp_path, "alice"), _user_folder(tmp_path, "bob")]
    results = _sync_at_once(folders, state_url)
    assert [code for code, _ in results] == [0, 0], results
    assert [document["writes"] for _, document in results] == [writes, writes]
    pairs = {document["pair_id"] for _, document in results}
    assert len(pairs) == 2  # one pair per user, both in the one database
    for folder in folders:
        assert _contents(folder) == _renamed(contents, folder.name)
    again = _sync_at_once(folders, state_url)
    assert [(code, document["writes"]) for code, document in again] == [
        (0, {"a": 0, "b": 0}),
        (0, {"a": 0, "b": 0}),
    ]


def test_processes_racing_for_one_user_never_duplicate_nor_interleave(tmp_path, state_url, lone):
    writes, contents = lone
    folder = _user_folder(tmp_path, "carol")
    results = _sync_at_once([folder, folder, folder], state_url)
    codes = sorted(code for code, _ in results)
    assert set(codes) <= {0, EXIT_BUSY}, results
    assert 0 in codes, results
    for code, document in results:
        if code == EXIT_BUSY:
            assert document["error"]["type"] == "LeaseHeld"
    done = [document["writes"] for code, document in results if code == 0]
    assert {side: sum(w[side] for w in done) for side in ("a", "b")} == writes
    assert _contents(folder) == _renamed(contents, "carol")
    ((code, document),) = _sync_at_once([folder], state_url)
    assert (code, document["writes"]) == (0, {"a": 0, "b": 0})
