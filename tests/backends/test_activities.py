"""The Severa side: ActivityBackend over MemoryActivityStore (contract + mapping, S8, S9)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severa_ext.backends.activities import (
    ACTIVITY_CONTENT_FIELDS,
    ActivityBackend,
    ActivityChanges,
    ActivityStore,
    MemoryActivityStore,
)
from severa_ext.clock import FixedClock
from severa_ext.domain import Activity, ActivityCategory, ActivityType
from severa_ext.errors import BackendUnavailable, BadItem, NotFound, ValidationError
from severa_ext.sync.items import CalendarItem, ShowAs, Window, fingerprint
from severa_ext.testing.contract import BackendContract
from severa_ext.testing.strategies import calendar_items
from support import scaled

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
TYPES = {
    "meeting": ActivityType("meeting", "Meeting"),
    "personal": ActivityType("personal", "Personal"),
    "task": ActivityType("task", "Project task", ActivityCategory.PROJECT_TASK),
}
WINDOW = Window(NOW - timedelta(days=30), NOW + timedelta(days=90))


class TestActivityBackendContract(BackendContract):
    """The contract for the Severa side (activities keep no free/busy state)."""

    content_fields = ACTIVITY_CONTENT_FIELDS
    now = NOW

    @pytest.fixture
    def backend(self):
        store = MemoryActivityStore(clock=FixedClock(NOW))
        backend = ActivityBackend(store, user_id="u1", activity_types=TYPES)
        yield backend
        backend.close()

    def sample_item(self, **changes):
        changes.setdefault("activity_type", "meeting")
        return super().sample_item(**changes)


def _activity(id_="a1", *, user="u1", type_="meeting", **changes):
    values = {
        "id": id_,
        "user_id": user,
        "activity_type_id": type_,
        "title": "Planning",
        "start": NOW + timedelta(days=1),
        "end": NOW + timedelta(days=1, hours=1),
    }
    values.update(changes)
    return Activity(**values)


@pytest.fixture
def store():
    return MemoryActivityStore(clock=FixedClock(NOW))


@pytest.fixture
def backend(store):
    return ActivityBackend(store, user_id="u1", activity_types=TYPES)


def test_memory_store_is_an_activity_store(store):
    assert isinstance(store, ActivityStore)


def test_activity_maps_every_field_to_the_item(store, backend):
    stored = store.create(
        _activity(
            location="HQ",
            description="Agenda",
            is_private=True,
            categories=("Red",),
            sync_key="k1",
        )
    )
    item = backend.get("a1")
    assert item == CalendarItem(
        title="Planning",
        start=stored.start,
        end=stored.end,
        location="HQ",
        body="Agenda",
        private=True,
        categories=("Red",),
        last_modified=NOW,
        id="a1",
        etag=stored.version,
        sync_key="k1",
        activity_type="meeting",
        project_task=False,
    )


def test_project_task_type_marks_the_item_S8(store, backend):
    """S8: the adapter reports project tasks so the policy never sends them out."""
    store.create(_activity(type_="task"))
    item = backend.get("a1")
    assert item is not None
    assert item.project_task


def test_item_maps_back_to_an_activity_of_the_user(store, backend):
    item = CalendarItem(
        "Lunch",
        NOW,
        NOW + timedelta(hours=1),
        body="Notes",
        private=True,
        show_as=ShowAs.FREE,
        activity_type="personal",
    )
    created = backend.create(item, "key")
    activity = store.get(created.id)
    assert activity is not None
    assert (activity.user_id, activity.activity_type_id, activity.description) == (
        "u1",
        "personal",
        "Notes",
    )
    assert activity.is_private
    assert activity.sync_key == "key"
    assert activity.version == created.etag


@pytest.mark.parametrize("type_id", [None, "nope"])
def test_missing_or_unknown_type_is_bad_item(backend, store, type_id):
    item = CalendarItem("X", NOW, NOW, activity_type=type_id)
    with pytest.raises(BadItem, match="activity type"):
        backend.create(item, "k")
    assert len(store) == 0


def test_unknown_type_when_reading_is_bad_item_and_skipped_in_listings(store, backend):
    store.create(_activity("a1", type_="gone"))
    store.create(_activity("a2"))
    with pytest.raises(BadItem, match="'gone'"):
        backend.get("a1")
    changes = backend.changes(None, WINDOW)
    assert [i.id for i in changes.items] == ["a2"]
    assert len(backend.problems) == 1


def test_other_users_activities_are_invisible(store, backend):
    store.create(_activity("theirs", user="u2", sync_key="k"))
    assert backend.get("theirs") is None
    assert backend.find("k") == ()
    assert backend.changes(None, WINDOW).items == ()
    with pytest.raises(NotFound):
        backend.update("theirs", CalendarItem("X", NOW, NOW, activity_type="meeting"), None)
    with pytest.raises(NotFound):
        backend.delete("theirs", None)
    assert store.get("theirs") is not None


def test_update_keeps_the_sync_key(store, backend):
    created = backend.create(CalendarItem("A", NOW, NOW, activity_type="meeting"), "key")
    updated = backend.update(
        created.id, CalendarItem("B", NOW, NOW, activity_type="meeting"), created.etag
    )
    assert updated.sync_key == "key"


def test_delta_reports_a_move_out_of_the_window_as_removed(store, backend):
    store.create(_activity())
    first = backend.changes(None, WINDOW)
    later = NOW + timedelta(days=300)
    activity = store.get("a1")
    store.update(
        _activity(start=later, end=later + timedelta(hours=1)), if_version=activity.version
    )
    delta = backend.changes(first.cursor, WINDOW)
    assert delta.items == ()
    assert delta.removed == ("a1",)
    assert backend.get("a1") is not None  # moved, not deleted (invariant 5)


def test_foreign_cursor_falls_back_to_a_full_listing(store, backend):
    store.create(_activity())
    for cursor in ("not-a-number", "999"):
        changes = backend.changes(cursor, WINDOW)
        assert changes.full
        assert [i.id for i in changes.items] == ["a1"]


def test_all_day_window_overlap(store, backend):
    day = (NOW - timedelta(days=30)).date()
    store.create(_activity("edge", start=day - timedelta(days=1), end=day))
    store.create(_activity("in", start=day, end=day + timedelta(days=1)))
    assert [i.id for i in backend.changes(None, WINDOW).items] == ["in"]


def test_store_errors_are_translated():
    class Broken(MemoryActivityStore):
        def get(self, activity_id):
            raise RuntimeError("database is down")

    backend = ActivityBackend(Broken(), user_id="u1", activity_types=TYPES)
    with pytest.raises(BackendUnavailable, match="database is down"):
        backend.get("x")


def test_constructor_validates():
    with pytest.raises(ValidationError):
        ActivityBackend(MemoryActivityStore(), user_id=" ", activity_types=TYPES)
    with pytest.raises(ValidationError, match="does not match"):
        ActivityBackend(MemoryActivityStore(), user_id="u", activity_types={"x": TYPES["meeting"]})


def test_store_refuses_duplicate_ids(store):
    store.create(_activity())
    with pytest.raises(ValidationError):
        store.create(_activity())


def test_changes_record_type():
    changes = ActivityChanges([_activity()], ["x"], "3")
    assert changes.activities[0].id == "a1"
    assert changes.removed == ("x",)
    assert not changes.full


def test_all_day_activity_round_trip(backend):
    day = date(2026, 5, 10)
    created = backend.create(
        CalendarItem("Off", day, day + timedelta(days=2), activity_type="personal"), "k"
    )
    fetched = backend.get(created.id)
    assert fetched is not None
    assert (fetched.start, fetched.end, fetched.all_day) == (day, day + timedelta(days=2), True)


@settings(max_examples=scaled(60))
@given(item=calendar_items(window=WINDOW), type_id=st.sampled_from(sorted(TYPES)))
def test_any_item_round_trips_through_the_activity_side(item, type_id):
    """Every content field an activity keeps survives create + get (S9: private too)."""
    backend = ActivityBackend(
        MemoryActivityStore(clock=FixedClock(NOW)), user_id="u1", activity_types=TYPES
    )
    created = backend.create(item.evolve(activity_type=type_id), "key")
    fetched = backend.get(created.id)
    assert fetched is not None
    assert fingerprint(fetched, fields=ACTIVITY_CONTENT_FIELDS) == fingerprint(
        item, fields=ACTIVITY_CONTENT_FIELDS
    )
    assert (fetched.start, fetched.end) == (item.start, item.end)
    assert fetched.activity_type == type_id
    assert fetched.project_task is TYPES[type_id].is_project_task
    assert [i.id for i in backend.changes(None, WINDOW).items] == [created.id]


# --- the activities file (ActivityFile): untrusted input, issue 12 ----------------

FILE_DOCUMENT = {
    "user": {"id": "u1", "email": "alice@example.com", "name": "Alice"},
    "activity_types": [{"id": "meeting", "name": "Meeting"}],
    "activities": [
        {
            "id": "a-1",
            "user_id": "u1",
            "activity_type_id": "meeting",
            "title": "Kick-off",
            "start": "2026-12-01T09:00:00+02:00",
            "end": "2026-12-01T10:00:00+02:00",
        },
        {
            "id": "a-2",
            "user_id": "u1",
            "activity_type_id": "meeting",
            "title": "Review",
            "start": "2026-12-02T09:00:00+02:00",
            "end": "2026-12-02T10:00:00+02:00",
        },
    ],
}


def _file_error(tmp_path, text: str | bytes) -> str:
    from severa_ext.backends.activities_file import ActivityFile
    from severa_ext.errors import BackendError

    path = tmp_path / "activities.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(BackendError) as caught:
        ActivityFile(path).activity_types()
    assert not isinstance(caught.value, BadItem)
    return str(caught.value)


def _with(path: tuple[str | int, ...], value: object) -> str:
    import copy
    import json

    document = copy.deepcopy(FILE_DOCUMENT)
    node: object = document
    for key in path[:-1]:
        node = node[key]  # type: ignore[index]
    node[path[-1]] = value  # type: ignore[index]
    return json.dumps(document)


@pytest.mark.parametrize("value", [None, 5, True, ["x"], {"a": 1}])
def test_file_title_of_another_type_names_the_field_and_the_entry(tmp_path, value):
    """``"title": null`` was read as the text "None" (issue 12)."""
    message = _file_error(tmp_path, _with(("activities", 1, "title"), value))
    assert "activities[1]" in message
    assert "'a-2'" in message
    assert "title" in message
    assert "None" not in message.replace("null", "")


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("activities", 0, "is_private"), "yes", "is_private"),
        (("activities", 0, "is_private"), 1, "is_private"),
        (("activities", 0, "location"), None, "location"),
        (("activities", 0, "categories"), "abc", "categories"),
        (("activities", 0, "start"), 10**40, "start"),
        (("activities", 0, "id"), None, "id"),
        (("activities", 0, "sync_key"), 7, "sync_key"),
        (("user", "email"), None, "email"),
        (("activity_types", 0, "category"), [1], "category"),
    ],
)
def test_file_wrong_types_are_refused_naming_the_field(tmp_path, path, value, field):
    message = _file_error(tmp_path, _with(path, value))
    assert field in message


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "null",
        "42",
        '"text"',
        '{"user": null}',
        '{"user": [], "activities": []}',
        '{"user": {"id": "u1", "email": "a@example.com"}, "activities": {}}',
        '{"user": {"id": "u1", "email": "a@example.com"}, "activities": [null]}',
        '{"user": {"id": "u1", "email": "a@example.com"}, "activities": [[]]}',
        '{"user": {"id": "u1", "email": "a@example.com"}, "unknown": 1}',
        "[" * 200_000 + "]" * 200_000,
        '{"user": ' + "[" * 5_000 + "]" * 5_000 + "}",
        '{"user": {"id": "u1", "email": "a@example.com", "name": 1' + "0" * 5000 + "}}",
        b'{"user": {"id": "\xff\xfe", "email": "a@example.com"}}',
    ],
    ids=lambda t: repr(t[:24]),
)
def test_file_of_any_shape_is_a_backend_error(tmp_path, text):
    """Deep nesting, lists, nulls, huge numbers, bad UTF-8: one BackendError (issue 12)."""
    message = _file_error(tmp_path, text)
    assert "activities.json" in message
    assert len(message) < 600
