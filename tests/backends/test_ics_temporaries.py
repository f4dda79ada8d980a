"""The ICS file's atomic writes share the file backends' one implementation
(``backends/_atomic.py``): a write leaves no temporary file, and the temporary files a
killed writer left beside the calendar are removed once they are stale."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from severa_ext.backends.base import CreateOp
from severa_ext.backends.ics import IcsBackend
from severa_ext.clock import FixedClock
from severa_ext.errors import BackendError
from severa_ext.sync.items import CalendarItem

CLOCK = FixedClock(datetime(2026, 5, 1, tzinfo=UTC))
START = datetime(2026, 5, 4, 9, tzinfo=UTC)


def write_one(path: Path) -> None:
    backend = IcsBackend(path, create_missing=True, clock=CLOCK)
    backend.flush()
    backend.apply_batch([CreateOp(CalendarItem("Item", START, START + timedelta(hours=1)), "k")])
    backend.flush()


def hidden(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.startswith(".")}


def test_a_flush_leaves_no_temporary_file(tmp_path):
    write_one(tmp_path / "cal.ics")
    assert hidden(tmp_path) == set()
    assert b"SUMMARY:Item" in (tmp_path / "cal.ics").read_bytes()


def test_stale_temporaries_of_the_calendar_go_fresh_and_others_stay(tmp_path):
    names = {
        "stale": ".cal.ics.k2j4h1x_.tmp",
        "fresh": ".cal.ics.p0q9w8e7.tmp",
        "other file": ".cal.ics.bak.a1b2c3d4.tmp",
    }
    for name in names.values():
        (tmp_path / name).write_text("BEGIN:VCALENDAR")
    hour_ago = time.time() - 3600
    for key in ("stale", "other file"):
        os.utime(tmp_path / names[key], (hour_ago, hour_ago))
    write_one(tmp_path / "cal.ics")
    assert hidden(tmp_path) == {names["fresh"], names["other file"]}


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "cal.ics"
    write_one(path)
    before = path.read_bytes()

    def refuse(self: Path, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", refuse)
    backend = IcsBackend(path, clock=CLOCK)
    backend.flush()
    backend.apply_batch([CreateOp(CalendarItem("Two", START, START + timedelta(hours=2)), "k2")])
    with pytest.raises(BackendError, match=r"cal\.ics: cannot be written"):
        backend.flush()
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert hidden(tmp_path) == set()
