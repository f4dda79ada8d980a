"""The fast read path (own line scanner) against icalendar's path, and the echo stamp.

Every property here reads one calendar both ways: :func:`read_fast` (plain single
events without icalendar objects) and the whole-file icalendar parse the backend used
before, and holds the listings, the problems and their lines equal.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Component

from severa_ext.backends._ics_emit import Stamp, _utc_parts, emit_event, emittable
from severa_ext.backends._ics_fast import read_fast
from severa_ext.backends._ics_index import convert, moment
from severa_ext.backends._ics_scan import StoredEvent
from severa_ext.backends._ics_text import parse_prepared, prepare_text
from severa_ext.backends._ics_zones import ZoneResolver
from severa_ext.backends.ics import IcsBackend, _index_parsed
from severa_ext.clock import FixedClock
from severa_ext.sync.items import CalendarItem, Window
from support import scaled

from .test_ics_roundtrip import calendar_items

WINDOW = Window(datetime(2025, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))
HELSINKI = ZoneInfo("Europe/Helsinki")
CLOCK = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))


def both_ways(data: bytes, floating=HELSINKI):
    """(fast index, icalendar index) of ``data``; the fast read must take the file."""
    prepared = prepare_text(data, "cal.ics")
    fast = read_fast(prepared, "cal.ics", floating, budget=120.0)
    assert fast is not None
    parsed = parse_prepared(prepared, "cal.ics")
    slow, _zone = _index_parsed(
        parsed.calendar,
        parsed.event_lines,
        "cal.ics",
        floating,
        budget=120.0,
        durations=parsed.durations,
        property_lines=parsed.property_lines,
    )
    return fast[1], slow


def offset(value: datetime | date) -> timedelta | None:
    return value.utcoffset() if isinstance(value, datetime) else None


def assert_same(fast, slow) -> None:
    assert sorted(fast.singles) == sorted(slow.singles)  # the order carries no meaning
    for uid, item in slow.singles.items():
        other = fast.singles[uid]
        assert other == item, (other, item)
        assert (offset(other.start), offset(other.end)) == (offset(item.start), offset(item.end))
    assert [str(p) for p in fast.problems] == [str(p) for p in slow.problems]
    assert list(fast.expand(WINDOW)) == list(slow.expand(WINDOW))
    assert [str(p) for p in fast.problems] == [str(p) for p in slow.problems]
    assert fast.bad_ids == slow.bad_ids


def calendar(*events: str, head: str = "") -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN"]
    if head:
        lines.append(head)
    text = "\r\n".join(lines) + "\r\n" + "".join(events) + "END:VCALENDAR\r\n"
    return text.encode("utf-8")


def event(*lines: str) -> str:
    return "\r\n".join(["BEGIN:VEVENT", *lines, "END:VEVENT"]) + "\r\n"


TEXT = st.lists(
    st.sampled_from([*'ab ,;:\\nNé€\t"', "\\n", "\\,", "\\;", "\\\\", "😀"]), max_size=30
).map("".join)
STAMP = st.datetimes(datetime(2025, 3, 1), datetime(2027, 11, 1)).map(
    lambda d: d.replace(microsecond=0)
)


@st.composite
def when(draw, name: str) -> str:
    moment = draw(STAMP)
    form = draw(st.sampled_from(["utc", "tzid", "floating", "date", "windows", "unknown"]))
    if form == "utc":
        return f"{name}:{moment:%Y%m%dT%H%M%S}Z"
    if form == "tzid":
        return f"{name};TZID=Europe/Helsinki:{moment:%Y%m%dT%H%M%S}"
    if form == "windows":
        return f"{name};TZID=W. Europe Standard Time:{moment:%Y%m%dT%H%M%S}"
    if form == "unknown":
        return f"{name};TZID=Nowhere/Else:{moment:%Y%m%dT%H%M%S}"
    if form == "date":
        return f"{name};VALUE=DATE:{moment:%Y%m%d}"
    return f"{name}:{moment:%Y%m%dT%H%M%S}"


@st.composite
def vevents(draw, uid: str) -> str:
    lines = [f"UID:{uid}", draw(when("DTSTART"))]
    end = draw(st.sampled_from(["dtend", "duration", "none"]))
    if end == "dtend":
        lines.append(draw(when("DTEND")))
    elif end == "duration":
        lines.append("DURATION:" + draw(st.sampled_from(["PT24H", "P1D", "PT90M", "P1W", "P"])))
    for name in ("SUMMARY", "LOCATION", "DESCRIPTION", "X-SEVERA-EXT-SYNC-KEY"):
        if draw(st.booleans()):
            lines.append(f"{name}:{draw(TEXT)}")
    optional = {
        "CLASS": ["PUBLIC", "PRIVATE", "CONFIDENTIAL", "x-odd"],
        "TRANSP": ["OPAQUE", "TRANSPARENT"],
        "STATUS": ["CONFIRMED", "CANCELLED", "TENTATIVE"],
        "X-MICROSOFT-CDO-BUSYSTATUS": ["OOF", "free", "WORKINGELSEWHERE", "BOGUS"],
        "CATEGORIES": ["Work", "Work,Home", "a\\,b,c", " , x"],
        "LAST-MODIFIED": ["20260101T101010Z", "20260101T101010", "garbage"],
        "SEQUENCE": ["0", "3"],
        "RRULE": ["FREQ=WEEKLY;COUNT=3"],
        "SUMMARY;LANGUAGE=fi": ["Kokous"],
    }
    for name, values in optional.items():
        if draw(st.integers(0, 3)) == 0:
            lines.append(f"{name}:{draw(st.sampled_from(values))}")
    if draw(st.integers(0, 5)) == 0:
        lines += ["BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:alarm", "END:VALARM"]
    return event(*lines)


@st.composite
def calendars(draw) -> bytes:
    uids = draw(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=6))
    return calendar(*(draw(vevents(uid)) for uid in uids))


@settings(max_examples=scaled(150), deadline=None)
@given(data=calendars())
def test_fast_and_icalendar_paths_give_the_same_listing(data: bytes) -> None:
    """Hypothesis: on generated calendars (times in every form, escapes, folding,
    duplicate UIDs, series, broken values, alarms) both read paths give the same
    items, problems (with their lines) and occurrences."""
    assert_same(*both_ways(data))


@settings(max_examples=scaled(60), deadline=None)
@given(data=calendars(), width=st.integers(4, 74))
def test_folding_anywhere_gives_the_same_listing(data: bytes, width: int) -> None:
    """Folds at any octet of a value (also inside a UTF-8 character, which the repair
    joins) read as the unfolded text, on both paths."""
    folded = []
    for line in data.split(b"\r\n"):
        if line.startswith((b"BEGIN:", b"END:")):
            folded.append(line)
            continue
        head = line.find(b":") + 1  # a physical line without NAME: reads as a lost space
        value = line[head:]
        chunks = [value[i : i + width] for i in range(0, max(len(value), 1), width)]
        folded.append(line[:head] + b"\r\n ".join(chunks))
    assert_same(*both_ways(b"\r\n".join(folded)))


@settings(max_examples=scaled(60), deadline=None)
@given(items=st.lists(calendar_items(), min_size=1, max_size=4))
def test_icalendar_reads_what_the_emitter_writes_as_the_same_items(items) -> None:
    """Hypothesis: for every item the direct writer takes, icalendar's parse of its
    text (convert) and the fast reader give the item the writer said it wrote."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    written = [
        emit_event(f"k{n}@x", item, stamp=Stamp.of(now), sync_key=f"k{n}")
        for n, item in enumerate(items)
        if emittable(item, f"k{n}")
    ]
    for created in written:
        component = Component.from_ical(created.text)
        resolver = ZoneResolver(Component(), UTC)  # type: ignore[arg-type]
        assert convert(component, resolver, item_id=created.item.id or "") == created.item
    text = calendar(*(created.text.decode() for created in written))
    fast, slow = both_ways(text, floating=UTC)
    assert_same(fast, slow)
    assert [fast.singles[c.item.id or ""] for c in written] == [c.item for c in written]


@given(
    value=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
        lambda naive: naive.replace(microsecond=0, tzinfo=UTC)
    )
)
def test_the_emitters_utc_text_and_moment_are_those_of_the_time(value: datetime) -> None:
    """Hypothesis: the writer's cached day and clock texts spell any whole-second UTC
    time (before 1970 too) as RFC 5545 does, and its moment is the index's."""
    spelt = value.replace(tzinfo=None).isoformat().replace("-", "").replace(":", "") + "Z"
    assert _utc_parts(value) == (spelt, moment(value))


def test_the_emitter_takes_only_a_usable_sync_key() -> None:
    """An empty key, or one with spaces around or a control character, goes through
    icalendar (the direct path would drop or mangle its line)."""
    item = CalendarItem(
        "T", datetime(2026, 1, 5, 9, tzinfo=UTC), datetime(2026, 1, 5, 10, tzinfo=UTC)
    )
    assert emittable(item, "key-1")
    assert not any(emittable(item, key) for key in ("", " key", "key\t1", "kéy"))


def test_an_unchanged_event_is_written_back_byte_for_byte(tmp_path: Path) -> None:
    """A rewrite keeps the text of events it did not change exactly (odd spacing,
    property order, own folding), and writes the changed one anew."""
    odd = event(
        "UID:odd",
        "DTSTART:20260105T080000Z",
        "SUMMARY:Folded in an un",
        " usual place",
        "X-VENDOR;X-P=1:kept",
        "DTEND:20260105T090000Z",
    )
    path = tmp_path / "cal.ics"
    path.write_bytes(calendar(odd, event("UID:other", "DTSTART:20260106T080000Z")))
    backend = IcsBackend(path, clock=CLOCK)
    listed = {i.id: i for i in backend.changes(None, WINDOW).items}
    assert listed["odd"].title == "Folded in an unusual place"
    backend.update("other", listed["other"].evolve(title="Changed"), listed["other"].etag)
    backend.close()
    assert odd.encode() in path.read_bytes()
    assert {i.title for i in IcsBackend(path).changes(None, WINDOW).items} == {
        "Folded in an unusual place",
        "Changed",
    }


def test_a_stored_event_keeps_its_text_until_a_write_changes_it() -> None:
    """A record renders its component once and answers that text again (no table
    keyed by object identity); after ``changed`` it renders the component anew, and a
    record read as text keeps those bytes even once parsed for a write."""
    text = event("UID:r", "DTSTART:20260105T080000Z", "SUMMARY:First").encode()
    component = Component.from_ical(text)
    record = StoredEvent(None, component)
    first = record.rendered()
    assert b"SUMMARY:First" in first
    component["SUMMARY"] = "Second"
    assert record.rendered() is first  # unchanged as far as any write said
    record.changed()
    assert b"SUMMARY:Second" in record.rendered()
    odd = text.replace(b"SUMMARY:First", b"SUMMARY:Odd\r\n  spacing")
    read = StoredEvent(odd)
    assert read.materialize()["SUMMARY"] == "Odd spacing"
    assert read.rendered() == odd
    with pytest.raises(ValueError, match="needs its text or its component"):
        StoredEvent(None)


def test_an_event_created_and_changed_before_a_flush_is_written_as_changed(
    tmp_path: Path,
) -> None:
    """Creates, then an update and a delete of created events in the same batch run,
    then one flush: the file holds what a fresh read lists, nothing stale."""
    path = tmp_path / "cal.ics"
    seeded(path)
    backend = IcsBackend(path, clock=CLOCK)
    backend.changes(None, WINDOW)
    backend.flush()  # from now on writes wait for flush()
    start = datetime(2026, 4, 1, 9, tzinfo=UTC)
    made = [
        backend.create(CalendarItem(f"E{n}", start, start + timedelta(hours=n + 1)), f"e{n}")
        for n in range(3)
    ]
    backend.update(made[0].id or "", made[0].evolve(title="Renamed"), made[0].etag)
    backend.delete(made[1].id or "", made[1].etag)
    backend.flush()
    backend.close()
    titles = sorted(i.title for i in IcsBackend(path).changes(None, WINDOW).items)
    assert titles == ["", "E2", "Renamed"]  # the seed has no SUMMARY


def test_a_series_change_reindexes_from_the_text_to_be_written(tmp_path: Path) -> None:
    """An edit of one occurrence (a new override) lists like a fresh read after it."""
    path = tmp_path / "cal.ics"
    series = event("UID:s", "DTSTART:20260105T080000Z", "RRULE:FREQ=DAILY;COUNT=3")
    path.write_bytes(calendar(series, event("UID:single", "DTSTART:20260106T080000Z")))
    backend = IcsBackend(path, clock=CLOCK)
    items = sorted(backend.changes(None, WINDOW).items, key=lambda i: i.start)
    second = next(i for i in items if i.series_id == "s" and i.start.day == 6)
    backend.update(second.id or "", second.evolve(title="Moved"), second.etag)
    mine = sorted((i.id, i.title) for i in backend.changes(None, WINDOW).items)
    backend.close()
    fresh = sorted((i.id, i.title) for i in IcsBackend(path).changes(None, WINDOW).items)
    assert mine == fresh
    assert ("s#20260106T080000Z", "Moved") in fresh


def test_stored_events_stay_text_until_a_write_needs_them(tmp_path: Path) -> None:
    """A read builds no icalendar component for a plain single event."""
    path = tmp_path / "cal.ics"
    path.write_bytes(calendar(event("UID:a", "DTSTART:20260105T080000Z")))
    backend = IcsBackend(path)
    backend.changes(None, WINDOW)
    loaded = backend._loaded
    assert loaded is not None
    record = loaded.index.stored["a"][0]
    assert isinstance(record, StoredEvent)
    assert record.component is None


# -- the echo of the engine's own writes --------------------------------------------


def seeded(path: Path) -> None:
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    path.write_bytes(calendar(event("UID:seed", f"DTSTART:{start:%Y%m%dT%H%M%SZ}")))


def write_one(path: Path, cursor: str | None, title: str) -> str | None:
    """List with ``cursor``, create one event, flush; the listing's cursor."""
    backend = IcsBackend(path, clock=CLOCK)
    listing = backend.changes(cursor, WINDOW)
    start = datetime(2026, 4, 1, 9, tzinfo=UTC)
    backend.create(CalendarItem(title, start, start + timedelta(hours=1)), title)
    backend.close()
    return listing.cursor


def test_the_echo_of_own_writes_is_an_empty_delta_without_a_parse(tmp_path: Path) -> None:
    """S11: after writes for a cursor's consumer, that cursor answers nothing changed
    (a new cursor), with no parse; that new cursor rests on the next run too."""
    path = tmp_path / "cal.ics"
    seeded(path)
    cursor = write_one(path, None, "Mine")
    backend = IcsBackend(path)
    echo = backend.changes(cursor, WINDOW)
    assert (echo.full, echo.items, backend.parses) == (False, (), 0)
    assert echo.cursor != cursor
    again = IcsBackend(path)
    assert again.changes(echo.cursor, WINDOW).full is False
    assert again.parses == 0


def test_another_consumers_writes_are_never_an_echo(tmp_path: Path) -> None:
    """Two pairs syncing one file: what one writes is listed in full for the other."""
    path = tmp_path / "cal.ics"
    seeded(path)
    theirs = IcsBackend(path).changes(None, WINDOW).cursor
    write_one(path, None, "Other pair")  # a second consumer: its own token
    listing = IcsBackend(path).changes(theirs, WINDOW)
    assert listing.full
    assert "Other pair" in {i.title for i in listing.items}


def test_an_edit_before_the_write_is_never_taken_for_the_echo(tmp_path: Path) -> None:
    """Writes that started from a file the consumer was not listed (someone edited
    it between the listing and the write) carry no stamp for it: listed in full."""
    path = tmp_path / "cal.ics"
    seeded(path)
    backend = IcsBackend(path, clock=CLOCK)
    cursor = backend.changes(None, WINDOW).cursor
    path.write_bytes(path.read_bytes().replace(b"UID:seed", b"UID:seed\r\nSUMMARY:Edited"))
    start = datetime(2026, 4, 1, 9, tzinfo=UTC)
    backend.create(CalendarItem("Mine", start, start + timedelta(hours=1)), "mine")
    backend.close()
    listing = IcsBackend(path).changes(cursor, WINDOW)
    assert listing.full
    assert "Edited" in {i.title for i in listing.items}


def test_an_edit_after_the_write_is_a_full_listing(tmp_path: Path) -> None:
    """Another tool's edit of a stamped file (keeping the stamp line) is listed."""
    path = tmp_path / "cal.ics"
    seeded(path)
    cursor = write_one(path, None, "Mine")
    text = path.read_bytes()
    assert b"X-SEVERA-EXT-WRITTEN:" in text.split(b"\r\n")[1]
    path.write_bytes(text.replace(b"UID:seed", b"UID:seed\r\nSUMMARY:Edited"))
    listing = IcsBackend(path).changes(cursor, WINDOW)
    assert listing.full
    assert "Edited" in {i.title for i in listing.items}


def test_appended_writes_equal_a_full_render(tmp_path: Path) -> None:
    """Flushes that only append events give the bytes a whole render would give."""
    path = tmp_path / "cal.ics"
    seeded(path)
    backend = IcsBackend(path, clock=CLOCK)
    backend.changes(None, WINDOW)
    backend.flush()
    for n in range(3):
        start = datetime(2026, 4, 1 + n, 9, tzinfo=UTC)
        backend.create(CalendarItem(f"E{n}", start, start + timedelta(hours=1)), f"e{n}")
        backend.flush()
    loaded = backend._loaded
    assert loaded is not None
    appended = path.read_bytes()
    loaded.written = None  # force the whole render of the same state
    loaded.dirty = True
    backend.flush()
    assert path.read_bytes() == appended
    days = {i.start.date() for i in IcsBackend(path).changes(None, WINDOW).items}  # type: ignore[union-attr]
    assert date(2026, 4, 3) in days
