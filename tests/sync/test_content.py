"""The one content value (severa_ext.sync.content): what "same content" means."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from severa_ext.sync.content import MERGE_FIELDS, PRECISION, Content, instant
from severa_ext.sync.items import CalendarItem, ShowAs
from severa_ext.testing.strategies import calendar_items

HELSINKI = timezone(timedelta(hours=3))


def _item(**changes):
    base = CalendarItem(
        "Review",
        datetime(2026, 5, 4, 9, tzinfo=UTC),
        datetime(2026, 5, 4, 10, tzinfo=UTC),
        location="Room 1",
        body="agenda",
        categories=("b", "a"),
    )
    return base.evolve(**changes)


def test_spelling_differences_are_not_content():
    plain = _item()
    spelt = _item(
        title="Review  ",
        start=datetime(2026, 5, 4, 12, tzinfo=HELSINKI),
        end=datetime(2026, 5, 4, 10, 0, 0, 999_999, tzinfo=UTC),
        body="agenda \r\n",
        categories=("a", " ", "b "),
        id="x",
        etag="e",
        sync_key="k",
        last_modified=datetime(2026, 1, 1, tzinfo=UTC),
        activity_type="meeting",
    )
    assert Content.of(plain) == Content.of(spelt)
    assert Content.of(plain).key() == Content.of(spelt).key()
    assert Content.of(plain).diff(Content.of(spelt)) == ()


def test_one_precision_whole_seconds():
    assert timedelta(seconds=1) == PRECISION
    one = _item(start=datetime(2026, 5, 4, 9, 0, 0, 1, tzinfo=UTC))
    other = _item(start=datetime(2026, 5, 4, 9, 0, 1, tzinfo=UTC))
    assert Content.of(one).print() == Content.of(_item()).print()
    assert Content.of(other).print() != Content.of(_item()).print()
    assert Content.of(other).diff(Content.of(_item())) == ("when",)


def test_diff_names_merge_fields_in_order():
    changed = _item(title="Other", private=True, show_as=ShowAs.FREE, categories=("c",))
    assert Content.of(_item()).diff(Content.of(changed)) == (
        "title",
        "private",
        "show_as",
        "categories",
    )
    assert Content.of(_item()).diff(Content.of(changed), ("body", "title")) == ("title",)


def test_print_ignores_what_other_tools_rewrite():
    rewritten = _item(body="other", location="", categories=(), show_as=ShowAs.TENTATIVE)
    assert Content.of(rewritten).print() == Content.of(_item()).print()
    assert Content.of(_item(title="Moved")).print() != Content.of(_item()).print()


def test_all_day_dates_compare_as_dates():
    day = _item(start=date(2026, 5, 4), end=date(2026, 5, 5))
    assert instant(date(2026, 5, 4)) == "2026-05-04"
    assert Content.of(day).value("when") == ("2026-05-04", "2026-05-05")
    assert Content.of(day).print() != Content.of(_item()).print()


def test_digest_is_per_fields():
    assert Content.of(_item()).digest(("title",)) == Content.of(_item(body="x")).digest(("title",))
    assert Content.of(_item()).digest() != Content.of(_item(body="x")).digest()
    assert len(MERGE_FIELDS) == 7


@given(st.datetimes(timezones=st.just(UTC)), st.integers(-12, 12))
def test_zone_spelling_never_matters(when, hours):
    zone = timezone(timedelta(hours=hours))
    one = _item(start=when, end=when)
    two = _item(start=when.astimezone(zone), end=when.astimezone(zone))
    assert Content.of(one) == Content.of(two)


@given(st.sampled_from(["title", "body", "location", "private", "show_as", "categories", "when"]))
def test_one_field_alone_is_that_field_of_the_whole_value(name):
    one = _item(title="Review ", categories=("b", " a"), start=_item().start.astimezone(HELSINKI))
    assert Content.field(one, name) == Content.of(one).value(name)
    other = _item(location="Room 2")
    assert Content.same(one, other, [name]) == (
        Content.of(one).diff(Content.of(other), [name]) == ()
    )


@given(calendar_items(with_identity=True), calendar_items(), st.data())
def test_same_agrees_with_the_whole_values(one, other, data):
    """``Content.same`` (which skips normalising raw-equal fields) answers as the
    diff of the two normalised values does, on any subset of fields."""
    names = ["title", "location", "body", "private", "show_as", "categories"]
    mixed = one.evolve(**{n: getattr(other, n) for n in data.draw(st.sets(st.sampled_from(names)))})
    fields = data.draw(st.lists(st.sampled_from(MERGE_FIELDS), unique=True))
    expected = Content.of(mixed).diff(Content.of(one), fields) == ()
    assert Content.same(mixed, one, fields) == expected


def test_same_compares_wall_clock_twins_by_instant():
    """Two equal wall clocks of one zone either side of a DST fall-back are different
    instants: not the same content."""
    helsinki = ZoneInfo("Europe/Helsinki")
    first = datetime(2026, 10, 25, 3, 30, tzinfo=helsinki)
    second = first.replace(fold=1)
    one, two = _item(start=first, end=first), _item(start=second, end=second)
    assert one.start == two.start  # Python compares one zone by wall clock
    assert not Content.same(one, two)
    assert Content.of(one).diff(Content.of(two)) == ("when",)
