"""SyncPolicy: the seed rules S8 and S9, the window and the conflict rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from severa_ext.errors import ValidationError
from severa_ext.sync.items import CalendarItem
from severa_ext.sync.policy import ConflictRule, SyncPolicy, content_copy
from severa_ext.testing.strategies import calendar_items

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def item(**kw: object) -> CalendarItem:
    return CalendarItem("x", NOW, NOW + timedelta(hours=1), **kw)  # type: ignore[arg-type]


POLICY = SyncPolicy(outgoing_types={"meeting"}, default_type="other", personal_type="personal")


def test_s8_only_selected_types_go_out_and_never_project_tasks() -> None:
    assert POLICY.sends(item(activity_type="meeting"))
    assert not POLICY.sends(item(activity_type="travel"))
    assert not POLICY.sends(item(activity_type=None))
    assert not POLICY.sends(item(activity_type="meeting", project_task=True))


def test_s9_private_entries_get_personal_type_else_default() -> None:
    assert POLICY.incoming_type(item(private=True)) == "personal"
    assert POLICY.incoming_type(item()) == "other"
    no_personal = SyncPolicy(default_type="other")
    assert no_personal.incoming_type(item(private=True)) == "other"


def test_s9_linked_item_keeps_its_type() -> None:
    existing = item(activity_type="meeting", project_task=False)
    shaped = POLICY.to_side("a", item(private=True, id="b1", etag="e"), existing)
    assert shaped.activity_type == "meeting"
    assert shaped.id is None


def test_to_side_b_strips_activity_fields() -> None:
    shaped = POLICY.to_side("b", item(activity_type="meeting", sync_key="k"))
    assert shaped.activity_type is None
    assert shaped.sync_key is None


def test_default_type_is_required_with_activity_rules() -> None:
    with pytest.raises(ValidationError, match="default_type"):
        SyncPolicy(outgoing_types={"meeting"})
    assert SyncPolicy.calendars().sends(item())


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValidationError, match="past_days"):
        SyncPolicy(default_type="x", past_days=-1)
    with pytest.raises(ValidationError, match="outgoing_types"):
        SyncPolicy(outgoing_types="meeting", default_type="x")  # type: ignore[arg-type]


def test_window_spans_past_and_future_days_from_midnight_utc() -> None:
    window = SyncPolicy(default_type="x", past_days=2, future_days=3).window(NOW)
    midnight = NOW.replace(hour=0)
    assert window.start == midnight - timedelta(days=2)
    assert window.end == midnight + timedelta(days=3)


def test_window_is_stable_within_a_day_so_delta_cursors_stay_valid() -> None:
    policy = SyncPolicy(default_type="x")
    assert policy.window(NOW) == policy.window(NOW + timedelta(hours=11, minutes=59))
    assert policy.window(NOW) != policy.window(NOW + timedelta(hours=12))


def test_conflict_rule_newest_wins_ties_to_severa_side() -> None:
    older = item(last_modified=NOW)
    newer = item(last_modified=NOW + timedelta(seconds=1))
    assert POLICY.winner(older, newer) == "b"
    assert POLICY.winner(newer, older) == "a"
    assert POLICY.winner(older, older) == "a"
    b_wins = SyncPolicy(default_type="x", conflict_rule=ConflictRule.B_WINS)
    assert b_wins.winner(newer, older) == "b"
    a_wins = SyncPolicy(default_type="x", conflict_rule=ConflictRule.A_WINS)
    assert a_wins.winner(older, newer) == "a"


def _identity_free(item: CalendarItem) -> CalendarItem:
    return attrs.evolve(item, id=None, etag=None, sync_key=None, last_modified=None)


@given(calendar_items(with_identity=True), st.sampled_from([None, "meeting"]), st.booleans())
def test_content_copy_is_the_content_without_identity(item, activity_type, project_task):
    """Every content field (and the series identity) survives; identity, last_modified
    and the activity fields are replaced, whatever order CalendarItem's fields take."""
    stamped = attrs.evolve(item, last_modified=datetime(2026, 1, 1, tzinfo=UTC), series_id="s")
    copy = content_copy(stamped, activity_type=activity_type, project_task=project_task)
    expected = attrs.evolve(
        _identity_free(stamped), activity_type=activity_type, project_task=project_task
    )
    assert copy == expected


@given(calendar_items())
def test_content_copy_shares_an_item_that_already_is_the_content(item):
    """A create's content, the link's base and its intent are one frozen value when
    they are equal (no third copy per created item)."""
    content = _identity_free(item)
    assert content_copy(content, activity_type=None, project_task=False) is content
    typed = content_copy(content, activity_type="meeting", project_task=False)
    assert typed is not content
    assert typed.activity_type == "meeting"
    assert content_copy(typed, activity_type="meeting", project_task=False) is typed
