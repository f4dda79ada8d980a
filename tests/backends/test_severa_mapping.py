"""The Severa mapping on its own (pure): the sync-key line in the notes, the etag, the
JSON Patch and the all-day and time-zone rules, property-tested."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from severa_ext.backends.severa import SeveraActivityType, SeveraUser
from severa_ext.backends.severa._mapping import (
    UNTITLED,
    activity_body,
    activity_etag,
    activity_to_item,
    join_notes,
    patch_operations,
    split_notes,
)
from severa_ext.errors import BadItem, ValidationError
from severa_ext.sync.items import CalendarItem, normalize_text

ZONES = st.sampled_from(["Europe/Helsinki", "America/New_York", "Asia/Kolkata", "UTC"])
KEYS = st.from_regex(r"[A-Za-z0-9._:-]{1,40}", fullmatch=True)
TYPES = {
    "meeting": SeveraActivityType("meeting", "Meeting", "CalendarEntry"),
    "personal": SeveraActivityType("personal", "Personal", "Personal"),
    "task": SeveraActivityType("task", "Project work", "Task"),
}


def wire(body: dict, guid: str = "a-1", updated: str = "2026-05-04T09:00:00Z") -> dict:
    """What a server would answer for a created body (the fields the mapping reads)."""
    return {
        **body,
        "guid": guid,
        "lastUpdatedDateTime": updated,
        "activityType": {**body["activityType"], "category": "CalendarEntry"},
    }


@given(body=st.text(max_size=200), key=st.one_of(st.none(), KEYS))
def test_the_sync_key_line_round_trips(body, key):
    notes = join_notes(body, key)
    text, found = split_notes(notes)
    assert found == key
    assert normalize_text(text) == normalize_text(body) or key is None


def test_a_key_severa_cannot_store_is_refused():
    with pytest.raises(ValidationError):
        join_notes("x", "has space")


@given(
    zone=ZONES,
    minutes=st.integers(min_value=0, max_value=60 * 24 * 400),
    length=st.integers(min_value=0, max_value=60 * 24 * 3),
    title=st.text(min_size=1, max_size=40).filter(str.strip),
    body=st.text(max_size=80),
    location=st.text(max_size=80),
    key=KEYS,
)
def test_timed_items_round_trip_through_the_wire_shape(
    zone, minutes, length, title, body, location, key
):
    user = SeveraUser("u-1", "alice@example.com", ZoneInfo(zone))
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    item = CalendarItem(
        title, start, start + timedelta(minutes=length), body=body, location=location
    )
    raw = wire(activity_body(item, owner=user, type_guid="meeting", sync_key=key))
    back = activity_to_item(raw, zone=user.zone, types=TYPES)
    assert (back.start, back.end) == (item.start, item.end)
    assert back.title == title
    assert back.sync_key == key
    assert normalize_text(back.body) == normalize_text(body)
    assert (
        patch_operations(
            raw, activity_body(item, owner=user, type_guid="meeting", sync_key=key), zone=user.zone
        )
        == []
    )


@given(zone=ZONES, days=st.integers(min_value=0, max_value=400), span=st.integers(1, 20))
def test_all_day_items_round_trip_in_any_zone(zone, days, span):
    user = SeveraUser("u-1", "alice@example.com", ZoneInfo(zone))
    first = date(2026, 1, 1) + timedelta(days=days)
    item = CalendarItem("Away", first, first + timedelta(days=span))
    raw = wire(activity_body(item, owner=user, type_guid="meeting", sync_key=None))
    back = activity_to_item(raw, zone=user.zone, types=TYPES)
    assert (back.start, back.end) == (item.start, item.end)


@pytest.mark.parametrize("title", ["", "   "])
def test_an_untitled_entry_comes_in_named_and_reads_back_untitled_S9(title):
    user = SeveraUser("u-1", "alice@example.com", ZoneInfo("Europe/Helsinki"))
    start = datetime(2026, 5, 4, 9, tzinfo=UTC)
    item = CalendarItem(title, start, start + timedelta(hours=1))
    body = activity_body(item, owner=user, type_guid="meeting", sync_key=None)
    assert body["name"] == UNTITLED  # Severa requires a name: never refused (S9)
    assert activity_to_item(wire(body), zone=user.zone, types=TYPES).title == ""


def test_times_without_offset_are_in_the_users_zone():
    raw = wire(
        {
            "name": "Local",
            "startDateTime": "2026-05-04T12:00:00",
            "endDateTime": "2026-05-04T13:00:00",
            "activityType": {"guid": "meeting"},
        }
    )
    item = activity_to_item(raw, zone=ZoneInfo("Europe/Helsinki"), types=TYPES)
    assert item.start == datetime(2026, 5, 4, 9, tzinfo=UTC)


def test_etag_moves_with_content_and_with_the_last_update():
    raw = wire(
        {"name": "A", "startDateTime": "2026-05-04T12:00:00Z", "activityType": {"guid": "meeting"}}
    )
    assert activity_etag(raw) == activity_etag(dict(raw))
    assert activity_etag({**raw, "name": "B"}) != activity_etag(raw)
    assert activity_etag({**raw, "lastUpdatedDateTime": "2026-05-04T10:00:00Z"}) != activity_etag(
        raw
    )


def test_categories_decide_private_and_project_task():
    base = {"name": "A", "startDateTime": "2026-05-04T12:00:00Z", "endDateTime": None}
    personal = activity_to_item(
        {**base, "guid": "p", "activityType": {"guid": "personal"}},
        zone=ZoneInfo("UTC"),
        types=TYPES,
    )
    task = activity_to_item(
        {**base, "guid": "t", "activityType": {"guid": "task"}}, zone=ZoneInfo("UTC"), types=TYPES
    )
    assert personal.private
    assert not personal.project_task
    assert task.project_task
    with pytest.raises(BadItem, match="unknown activity type"):
        activity_to_item(
            {**base, "guid": "x", "activityType": {"guid": "gone"}},
            zone=ZoneInfo("UTC"),
            types=TYPES,
        )
