"""The neutral item model: validation, normalisation, fingerprints, windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from severa_ext.errors import ValidationError
from severa_ext.sync.items import CalendarItem, Window, content_equal, copy_print, fingerprint

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


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"title": 5}, "title must be a str, got 5"),
        ({"title": None}, "title must be a str"),
        ({"start": "2026-05-04"}, "start must be a date or an aware datetime"),
        ({"end": datetime(2026, 5, 4, 10)}, "end must be timezone-aware"),
        ({"last_modified": datetime(2026, 5, 4)}, "last_modified must be timezone-aware"),
        ({"last_modified": "yesterday"}, "last_modified must be a date or an aware"),
        ({"original_start": 3}, "original_start must be a date or an aware"),
    ],
)
def test_every_bad_field_is_a_validation_error_naming_it(changes, message):
    """One check replaces the per-field validators: the same errors, on every path
    (construction and ``evolve``), from the package's own hierarchy."""
    with pytest.raises(ValidationError, match=message):
        item(**changes)
    with pytest.raises(ValidationError, match=message):
        CalendarItem(**{"title": "x", "start": item().start, "end": item().end, **changes})


def test_the_utc_fast_path_and_other_zones_agree():
    utc = item()
    helsinki = item(start=utc.start.astimezone(HELSINKI), end=utc.end.astimezone(HELSINKI))
    assert content_equal(utc, helsinki)
    with pytest.raises(ValidationError, match="before start"):
        item(start=utc.end, end=utc.start)
    with pytest.raises(ValidationError, match="before start"):
        item(start=helsinki.end, end=helsinki.start)


_instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.timezones()
)


@given(
    title=st.text(max_size=12),
    start=_instants,
    minutes=st.integers(min_value=0, max_value=600),
    zone=st.timezones(),
    body=st.text(max_size=5),
)
def test_copy_print_is_title_and_instants_S3(title, start, minutes, zone, body):
    """Copies have one print however their zones are spelt and whatever their bodies;
    a different title or instant gives another print."""
    end = start + timedelta(minutes=minutes)
    one = CalendarItem(title, start, end)
    respelt = CalendarItem(
        f"{title}  ", start.astimezone(zone), end.astimezone(zone), body=body, id="other"
    )
    assert copy_print(one) == copy_print(respelt)
    assert copy_print(one) != copy_print(one.evolve(title=title + "x"))
    # One second is the precision of content (severa_ext.sync.content.PRECISION);
    # instant arithmetic in UTC (wall-clock arithmetic across a DST gap is not).
    utc_start, utc_end = start.astimezone(UTC), end.astimezone(UTC)
    later = one.evolve(start=utc_start + timedelta(seconds=1), end=utc_end + timedelta(minutes=1))
    assert copy_print(one) != copy_print(later)
    assert copy_print(one) == copy_print(one.evolve(start=start.replace(microsecond=0)))


def test_copy_print_keeps_all_day_dates_apart_from_midnight_instants():
    day = item(start=date(2026, 5, 4), end=date(2026, 5, 5))
    midnight = item(start=datetime(2026, 5, 4, tzinfo=UTC), end=datetime(2026, 5, 5, tzinfo=UTC))
    assert copy_print(day) != copy_print(midnight)
