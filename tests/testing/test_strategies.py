"""The hypothesis strategies of severa_ext.testing.strategies and their registration."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severa_ext.backends.activities import ActivityBackend, MemoryActivityStore
from severa_ext.backends.memory import MemoryBackend
from severa_ext.domain import Activity, ActivityCategory, ActivityType
from severa_ext.errors import RightsError, ValidationError
from severa_ext.extranet.rights import Right, validate_rights
from severa_ext.sync.items import CalendarItem, Window
from severa_ext.testing.strategies import (
    DEFAULT_WINDOW,
    Edit,
    activities,
    activity_types,
    all_day_items,
    calendar_items,
    edit_sequences,
    register_type_strategies,
    rights,
    windows,
)
from support import scaled

WINDOW = Window(datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC))
TYPES = {
    "meeting": ActivityType("meeting", "Meeting"),
    "task": ActivityType("task", "Task", ActivityCategory.PROJECT_TASK),
}


@given(calendar_items(window=WINDOW))
def test_calendar_items_start_inside_the_window(item):
    assert isinstance(item, CalendarItem)
    start = (
        item.start if item.all_day is False else datetime(*item.start.timetuple()[:3], tzinfo=UTC)
    )
    assert WINDOW.start <= start < WINDOW.end
    assert WINDOW.contains(item)
    assert (item.id, item.etag, item.sync_key) == (None, None, None)


@given(calendar_items(all_day=False, with_identity=True))
def test_timed_items_with_identity(item):
    assert not item.all_day
    assert item.start.tzinfo is not None
    assert item.id
    assert item.etag
    assert item.sync_key


@given(all_day_items(window=WINDOW, max_days=3))
def test_all_day_items(item):
    assert item.all_day
    assert isinstance(item.start, date)
    assert 1 <= (item.end - item.start).days <= 3


@given(calendar_items(titles=st.just("Fixed"), all_day=True))
def test_strategies_are_arguments(item):
    assert item.title == "Fixed"


def test_bad_options_are_validation_errors():
    with pytest.raises(ValidationError):
        calendar_items(max_days=0)
    with pytest.raises(ValidationError):
        calendar_items(window="2026")  # type: ignore[arg-type]


@given(windows())
def test_windows(window):
    assert window.end > window.start


@given(activity_types(categories=st.just(ActivityCategory.PROJECT_TASK)))
def test_activity_types(activity_type):
    assert activity_type.is_project_task


@settings(max_examples=scaled(50))
@given(activities(types=st.sampled_from(list(TYPES.values()))))
def test_activities_map_to_items_and_back(activity):
    """The adapter's mapping loses nothing an activity holds (S8: the task flag)."""
    backend = ActivityBackend(MemoryActivityStore(), user_id="user-1", activity_types=TYPES)
    item = backend.to_item(activity)
    assert item.project_task is (activity.activity_type_id == "task")
    back = backend.to_activity(item, activity_id=activity.id, sync_key=None)
    assert back == activity


@given(rights())
def test_rights_are_consistent_by_default(granted):
    assert validate_rights(granted) is granted


def test_rights_can_be_inconsistent():
    from hypothesis import find

    bad = find(rights(consistent=False), _invalid)
    with pytest.raises(RightsError):
        validate_rights(bad)


def _invalid(granted):
    try:
        validate_rights(granted)
    except RightsError:
        return True
    return False


@settings(max_examples=scaled(40))
@given(edit_sequences(min_size=1, max_size=8))
def test_edit_sequences_apply_to_memory_backends(edits):
    sides = {"a": MemoryBackend("a"), "b": MemoryBackend("b")}
    creates = {"a": 0, "b": 0}
    for edit in edits:
        assert isinstance(edit, Edit)
        before = len(sides[edit.side].all_items())
        result = edit.apply_to(sides[edit.side])
        after = len(sides[edit.side].all_items())
        if edit.action == "create":
            creates[edit.side] += 1
            assert after == before + 1
            assert result is not None
        elif edit.action == "delete":
            assert after == max(0, before - 1)
        else:
            assert after == before
            if result is not None:
                for name in edit.fields:
                    assert getattr(result, name) == getattr(edit.item, name)


def test_edit_validation():
    with pytest.raises(ValidationError):
        Edit("a", "create")
    with pytest.raises(ValidationError):
        Edit("a", "rename", item=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", [CalendarItem, Window, Activity, ActivityType, Right])
@settings(max_examples=5)
@given(data=st.data())
def test_from_type_is_registered(cls, data):
    register_type_strategies()  # idempotent; the entry point already called it
    assert isinstance(data.draw(st.from_type(cls)), cls)


def test_default_window_is_a_window():
    assert DEFAULT_WINDOW.end - DEFAULT_WINDOW.start >= timedelta(days=365)


_OUR_HOOK = """
import sys
from importlib.metadata import entry_points
import hypothesis
from hypothesis import strategies as st
before = set(sys.modules)
(hook,) = [e for e in entry_points(group="hypothesis") if e.value.startswith("severa_ext.")]
hook.load()()
from severa_ext.sync.items import CalendarItem
assert isinstance(st.from_type(CalendarItem).example(), CalendarItem)
print(sorted(set(sys.modules) - before))
"""


def test_the_hypothesis_entry_point_imports_no_backend():
    """Our hypothesis hook registers the strategies without importing I/O modules. It
    runs alone (other plugins of the host's, such as trio's, import what they like)."""
    out = subprocess.run(
        [sys.executable, "-c", _OUR_HOOK],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "HYPOTHESIS_NO_PLUGINS": "1"},
    )
    ours = set(ast.literal_eval(out.stdout.strip().splitlines()[-1]))
    heavy = {"requests", "sqlite3", "msal", "icalendar", "pytest"}
    assert not {m for m in ours if m in heavy or m.startswith("severa_ext.backends")}
    assert "severa_ext.testing.strategies" in ours  # the strategies did load on the draw
