"""The report's counts come from one function, ``Tally.entry``, over an entry's
records and its outcomes; a dry run counts its plan through the same function
(issue 11; S11: both ways counted alike)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from severa_ext.sync.engine._entries import group
from severa_ext.sync.engine._report import Tally, tally_plan
from severa_ext.sync.items import CalendarItem
from severa_ext.sync.links import Link
from severa_ext.sync.planner import (
    Conflict,
    Create,
    LinkExisting,
    Park,
    SetLink,
    Skipped,
    Unlink,
    Update,
)

NOW = datetime(2026, 5, 4, 8, tzinfo=UTC)
ITEM = CalendarItem("Review", NOW, NOW + timedelta(hours=1), id="x1", etag="e1")


def _merge_entry(key: str = "k1"):
    link = Link(key, a_id="a1", b_id="b1")
    return [
        LinkExisting(key, "a1", "b1"),
        Update("a", "a1", ITEM, None, key),
        Update("b", "b1", ITEM, None, key),
        Conflict(key, ("title",), "a", "a1", "b1"),
        SetLink(link),
    ]


def test_a_completed_entry_counts_its_writes_and_its_state_records():
    (entry,) = group(_merge_entry())
    entry.results = {"a": ITEM, "b": ITEM}
    tally = Tally()
    tally.entry(entry)
    assert tally.updated == {"a": 1, "b": 1}
    assert tally.linked == 1
    assert len(tally.conflicts) == 1


def test_a_stopped_entry_counts_only_the_writes_that_succeeded():
    (entry,) = group(_merge_entry())
    entry.results = {"a": ITEM}
    entry.stopped = "failed"
    tally = Tally()
    tally.entry(entry)
    assert tally.updated == {"a": 1, "b": 0}
    assert tally.linked == 0  # the link was not stored: not counted
    assert tally.conflicts == []


def test_a_dry_run_counts_the_plan_as_if_every_write_succeeded():
    key = "k2"
    records = [
        *_merge_entry(),
        Create("b", ITEM, key, "a2", Link(key, a_id="a2")),
        SetLink(Link(key, a_id="a2")),
        Skipped("b", "delete", "k3", "b3"),
        Unlink("k4"),
        Park("b", "b5", ITEM, "a copy"),
    ]
    tally = Tally()
    tally_plan(tally, group(records))
    assert tally.created == {"a": 0, "b": 1}
    assert tally.updated == {"a": 1, "b": 1}
    assert tally.skipped == {"a": 0, "b": 1}
    assert (tally.linked, tally.unlinked, tally.quarantined) == (1, 1, 1)
    assert len(tally.conflicts) == 1
