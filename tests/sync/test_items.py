"""The neutral item model: validation, normalisation, fingerprints, windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from severa_ext.errors import ValidationError
from severa_ext.sync.items import CalendarItem, Window, content_equal, fingerprint

HELSINKI = ZoneInfo("Europe/Helsinki")


def item(**changes):
    base = CalendarItem(
        title="Review",
        start=datetime(2026, 5, 4, 9, tzinfo=UTC),
        end=datetime(2026, 5, 4, 10, tzinfo=UTC),
    )
    return base.evolve(**changes)


def test_naive_datetimes_are_refused_with_the_field_name():
    with pytest.raises(ValidationError, match="start must be timezone-aware"):
        CalendarItem(title="x", start=datetime(2026, 1, 1), end=datetime(2026, 1, 1, 1))


def test_end_before_start_is_refused():
    with pytest.raises(ValidationError, match="before start"):
        item(end=datetime(2026, 5, 4, 8, tzinfo=UTC))


def test_mixed_date_and_datetime_is_refused():
    with pytest.raises(ValidationError, match="both"):
        item(end=date(2026, 5, 5))


def test_all_day_items_are_dates():
    day = item(start=date(2026, 5, 1), end=date(2026, 5, 2))
    assert day.all_day
    assert not item().all_day


def test_same_instant_in_another_zone_is_the_same_content():
    other = item(
        start=datetime(2026, 5, 4, 12, tzinfo=HELSINKI),
        end=datetime(2026, 5, 4, 13, tzinfo=HELSINKI),
        id="x",
        etag="e",
        sync_key="k",
    )
    assert content_equal(item(), other)
    assert fingerprint(item()) == fingerprint(other)


def test_trailing_white_space_and_line_endings_do_not_count():
    assert content_equal(item(body="a\nb"), item(body="a  \r\nb\r\n"))
    assert not content_equal(item(body="a b"), item(body="ab"))


def test_fingerprint_subset_of_fields():
    looser = ("title", "start", "end")
    assert fingerprint(item(body="x"), fields=looser) == fingerprint(item(), fields=looser)
    assert fingerprint(item(body="x")) != fingerprint(item())
    with pytest.raises(ValidationError, match="unknown fields"):
        fingerprint(item(), fields=("colour",))


@given(st.text(), st.text())
def test_fingerprint_separates_titles(a, b):
    if content_equal(item(title=a), item(title=b)):
        assert fingerprint(item(title=a)) == fingerprint(item(title=b))
    else:
        assert fingerprint(item(title=a)) != fingerprint(item(title=b))


def test_window_overlap_and_zero_length_items():
    now = datetime(2026, 5, 4, tzinfo=UTC)
    window = Window.around(now, past_days=1, future_days=1)
    assert window.contains(item())
    assert not window.contains(item(start=now + timedelta(days=2), end=now + timedelta(days=3)))
    instant = now - timedelta(days=1)
    assert window.contains(item(start=instant, end=instant))
    assert not window.contains(item(start=window.end, end=window.end))
    with pytest.raises(ValidationError):
        Window(now, now)


def test_end_before_start_is_judged_by_instant_across_a_dst_fold():
    """03:00 fold=1 (01:00 UTC) to 03:00 fold=0 (00:00 UTC) in Helsinki ends first."""
    start = datetime(2026, 10, 25, 3, tzinfo=HELSINKI, fold=1)
    with pytest.raises(ValidationError, match="before start"):
        item(start=start, end=start.replace(fold=0))
    # The other way round is an hour long and valid.
    ok = item(start=start.replace(fold=0), end=start)
    assert ok.end.astimezone(UTC) - ok.start.astimezone(UTC) == timedelta(hours=1)
