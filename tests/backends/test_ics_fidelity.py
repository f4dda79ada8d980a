"""Issue 16 classes: duplicate UIDs, buffered writes and flush, new files, http refusal.

Every calendar here is written by the test itself.
"""

from __future__ import annotations

import itertools
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severa_ext.backends.base import CreateOp, UpdateOp
from severa_ext.backends.ics import IcsBackend, IcsSubscription
from severa_ext.clock import FixedClock
from severa_ext.errors import BackendError, ConfigError, NotFound, VersionConflict
from severa_ext.sync.items import CalendarItem, Window
from support import scaled

WINDOW = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
CLOCK = FixedClock(datetime(2026, 5, 1, tzinfo=UTC))
START = datetime(2026, 6, 1, 9, tzinfo=UTC)


def event(
    uid: str,
    title: str,
    *,
    sequence: int | None = None,
    stamp: str = "20260101T000000Z",
    modified: str | None = None,
) -> str:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{stamp}",
        f"SUMMARY:{title}",
        "DTSTART:20260601T090000Z",
        "DTEND:20260601T100000Z",
    ]
    if sequence is not None:
        lines.append(f"SEQUENCE:{sequence}")
    if modified is not None:
        lines.append(f"LAST-MODIFIED:{modified}")
    return "\r\n".join([*lines, "END:VEVENT"])


def calendar(*events: str) -> bytes:
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//fidelity//EN"
    return "\r\n".join([head, *events, "END:VCALENDAR"]).encode() + b"\r\n"


def titles(path: Path) -> dict[str, str]:
    backend = IcsBackend(path)
    return {i.id or "": i.title for i in backend.changes(None, WINDOW).items}


COPIES = [
    event("dup", "old", sequence=1, stamp="20260301T000000Z"),
    event("dup", "newest", sequence=3, stamp="20260101T000000Z"),
    event("dup", "middle", sequence=2, stamp="20260401T000000Z"),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_duplicate_uid_the_higher_sequence_wins_in_any_order(tmp_path, order):
    path = tmp_path / "dup.ics"
    path.write_bytes(calendar(*(COPIES[i] for i in order)))
    backend = IcsBackend(path)
    assert {i.title for i in backend.changes(None, WINDOW).items} == {"newest"}
    assert len(backend.problems) == 2
    assert all("higher SEQUENCE" in p.reason for p in backend.problems)


def test_duplicate_uid_same_sequence_later_stamp_wins(tmp_path):
    early = event("d", "early", sequence=0, stamp="20260101T000000Z")
    late = event("d", "late", sequence=0, stamp="20260101T000000Z", modified="20260201T000000Z")
    for pair in ((early, late), (late, early)):
        path = tmp_path / "d.ics"
        path.write_bytes(calendar(*pair))
        assert titles(path) == {"d": "late"}


def test_a_write_goes_to_the_winning_copy(tmp_path):
    path = tmp_path / "dup.ics"
    path.write_bytes(calendar(COPIES[0], COPIES[1]))
    backend = IcsBackend(path, clock=CLOCK)
    current = backend.get("dup")
    assert current is not None
    assert current.title == "newest"
    backend.update("dup", current.evolve(title="edited"), current.etag)
    assert titles(path) == {"dup": "edited"}


@st.composite
def shuffled_files(draw):
    uids = draw(st.lists(st.sampled_from("abc"), min_size=1, max_size=6))
    events = [
        event(
            uid,
            f"t{n}",
            sequence=draw(st.integers(0, 2)),
            stamp=f"2026010{draw(st.integers(1, 3))}T000000Z",
        )
        for n, uid in enumerate(uids)
    ]
    return events, draw(st.permutations(events))


@settings(max_examples=scaled(40))
@given(files=shuffled_files())
def test_reordering_components_never_changes_the_listing(tmp_path_factory, files):
    events, shuffled = files
    folder = tmp_path_factory.mktemp("order")
    (folder / "a.ics").write_bytes(calendar(*events))
    (folder / "b.ics").write_bytes(calendar(*shuffled))
    a, b = IcsBackend(folder / "a.ics"), IcsBackend(folder / "b.ics")
    listed_a = sorted(a.changes(None, WINDOW).items, key=lambda i: i.id or "")
    listed_b = sorted(b.changes(None, WINDOW).items, key=lambda i: i.id or "")
    assert listed_a == listed_b


def item(n: int) -> CalendarItem:
    start = START + timedelta(hours=n)
    return CalendarItem(f"Item {n}", start, start + timedelta(minutes=30))


def test_apply_batch_writes_through_until_the_caller_flushes(tmp_path):
    path = tmp_path / "cal.ics"
    backend = IcsBackend(path, create_missing=True, clock=CLOCK)
    backend.apply_batch([CreateOp(item(0), "k0")])
    assert "k0@severa-ext" in titles(path)  # no flush() seen yet: written at once
    backend.flush()  # the engine calls flush: from now on writes wait for it
    backend.apply_batch([CreateOp(item(1), "k1"), CreateOp(item(2), "k2")])
    assert set(titles(path)) == {"k0@severa-ext"}
    assert [i.title for i in backend.find("k1")] == ["Item 1"]  # memory answers already
    backend.flush()
    assert set(titles(path)) == {"k0@severa-ext", "k1@severa-ext", "k2@severa-ext"}


def test_one_flush_writes_the_file_once(tmp_path, monkeypatch):
    import severa_ext.backends.ics as ics_module

    path = tmp_path / "cal.ics"
    backend = IcsBackend(path, create_missing=True, clock=CLOCK)
    backend.flush()
    writes: list[int] = []
    real = ics_module.atomic_write
    monkeypatch.setattr(
        ics_module, "atomic_write", lambda p, d: (writes.append(len(d)), real(p, d))
    )
    for n in range(5):
        backend.apply_batch([CreateOp(item(n), f"k{n}")])
    assert writes == []
    backend.flush()
    backend.flush()  # nothing new: no write
    assert len(writes) == 1
    assert len(titles(path)) == 5


def test_update_of_a_buffered_create_and_close_flushes(tmp_path):
    path = tmp_path / "cal.ics"
    backend = IcsBackend(path, create_missing=True, clock=CLOCK)
    backend.flush()
    (created,) = backend.apply_batch([CreateOp(item(0), "k0")])
    assert created.item is not None
    (updated,) = backend.apply_batch(
        [UpdateOp(created.item.id or "", created.item.evolve(title="renamed"), created.item.etag)]
    )
    assert updated.error is None
    assert updated.item is not None
    assert updated.item.title == "renamed"
    backend.close()
    assert titles(path) == {"k0@severa-ext": "renamed"}


def test_flush_refuses_a_file_changed_on_disk(tmp_path):
    path = tmp_path / "cal.ics"
    backend = IcsBackend(path, create_missing=True, clock=CLOCK)
    backend.flush()
    backend.apply_batch([CreateOp(item(0), "k0")])
    path.write_bytes(calendar(event("other", "someone else's")))
    with pytest.raises(VersionConflict):
        backend.flush()
    assert titles(path) == {"other": "someone else's"}


def test_a_new_file_is_created_but_a_vanished_one_is_refused(tmp_path):
    path = tmp_path / "new.ics"
    first = IcsBackend(path, create_missing=True, clock=CLOCK)
    listing = first.changes(None, WINDOW)
    assert path.exists()
    assert listing.items == ()
    path.unlink()  # the file vanishes between runs; the stored cursor remembers it
    again = IcsBackend(path, create_missing=True, clock=CLOCK)
    with pytest.raises(NotFound, match="earlier sync"):
        again.changes(listing.cursor, WINDOW)
    assert not path.exists()  # never an empty calendar standing in for the lost one


def test_plain_http_subscription_is_refused_without_the_option():
    with pytest.raises(ConfigError, match="allow_http"):
        IcsSubscription("http://calendar.example.com/feed.ics")
    assert IcsSubscription("http://127.0.0.1:9/feed.ics", allow_http=True).url.startswith("http:")


HELSINKI = ZoneInfo("Europe/Helsinki")


@pytest.mark.parametrize(
    ("duration", "end"),
    [
        ("PT24H", datetime(2026, 10, 25, 11, 0, tzinfo=HELSINKI)),  # exact: 24 h elapsed
        ("P1D", datetime(2026, 10, 25, 12, 0, tzinfo=HELSINKI)),  # nominal: same wall time
        ("P1DT1H", datetime(2026, 10, 25, 13, 0, tzinfo=HELSINKI)),
        ("PT1440M", datetime(2026, 10, 25, 11, 0, tzinfo=HELSINKI)),
        ("P1W", datetime(2026, 10, 31, 12, 0, tzinfo=HELSINKI)),
    ],
)
def test_duration_exact_hours_and_nominal_days_across_dst(tmp_path, duration, end):
    """RFC 5545 3.3.6; Helsinki leaves summer time on 2026-10-25 (a 25-hour day)."""
    path = tmp_path / "dst.ics"
    path.write_bytes(
        calendar(
            "\r\n".join(
                [
                    "BEGIN:VEVENT",
                    "UID:d",
                    "DTSTAMP:20260101T000000Z",
                    "SUMMARY:over the change",
                    "DTSTART;TZID=Europe/Helsinki:20261024T120000",
                    f"DURATION:{duration}",
                    "END:VEVENT",
                ]
            )
        )
    )
    (listed,) = IcsBackend(path).changes(None, WINDOW).items
    assert listed.end == end
    assert listed.end.utcoffset() == end.utcoffset()


def test_library_warnings_become_notes_even_under_w_error(tmp_path):
    """icalendar warns when it guesses a globally unique TZID; nothing escapes."""
    path = tmp_path / "global.ics"
    path.write_bytes(
        calendar(
            "\r\n".join(
                [
                    "BEGIN:VEVENT",
                    "UID:g",
                    "DTSTAMP:20260101T000000Z",
                    "SUMMARY:vendor zone",
                    "DTSTART;TZID=/example.org/tzdb/Europe/Berlin:20260601T090000",
                    "DTEND;TZID=/example.org/tzdb/Europe/Berlin:20260601T100000",
                    "END:VEVENT",
                ]
            )
        )
    )
    backend = IcsBackend(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as under python -W error
        (listed,) = backend.changes(None, WINDOW).items
    assert listed.start == datetime(2026, 6, 1, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    assert any("globally unique" in note for note in backend.notes)


def test_a_problem_names_the_line_of_the_offending_property(tmp_path):
    path = tmp_path / "bad.ics"
    path.write_bytes(
        calendar(
            event("fine", "fine"),
            "\r\n".join(
                [
                    "BEGIN:VEVENT",  # line 11
                    "UID:bad",
                    "DTSTAMP:20260101T000000Z",
                    "SUMMARY:bad end",
                    "DTSTART:20260601T100000Z",
                    "DTEND:20260601T090000Z",  # line 16
                    "END:VEVENT",
                ]
            ),
        )
    )
    backend = IcsBackend(path)
    assert [i.id for i in backend.changes(None, WINDOW).items] == ["fine"]
    (problem,) = backend.problems
    assert problem.item_ref == f"bad ({path}, line 16)"


def test_a_recurrence_fault_names_the_rule_line(tmp_path):
    path = tmp_path / "rule.ics"
    rule = "\r\n".join(
        [
            "BEGIN:VEVENT",  # line 4
            "UID:often",
            "DTSTAMP:20260101T000000Z",
            "SUMMARY:every minute",
            "DTSTART:20260101T000000Z",
            "DURATION:PT1M",
            "RRULE:FREQ=MINUTELY",  # line 10
            "END:VEVENT",
        ]
    )
    path.write_bytes(calendar(rule))
    backend = IcsBackend(path, expansion_budget=600.0)  # the count limit decides, not time
    assert backend.changes(None, WINDOW).items == ()
    (problem,) = backend.problems
    assert problem.item_ref == f"often ({path}, line 10)"
    assert "occurrences" in problem.reason


def test_truncated_and_foreign_files_name_their_line(tmp_path):
    cut = tmp_path / "cut.ics"
    cut.write_bytes(calendar(event("a", "a"))[:-40])
    last = len(cut.read_bytes().splitlines())
    with pytest.raises(BackendError, match=f"line {last}: the file ends inside"):
        IcsBackend(cut).changes(None, WINDOW)
    page = tmp_path / "page.ics"
    page.write_bytes(b"<!DOCTYPE html><html><body>Sign in</body></html>\n")
    with pytest.raises(BackendError, match="line 1: the content is HTML"):
        IcsBackend(page).changes(None, WINDOW)
    text = tmp_path / "notes.ics"
    text.write_bytes(b"just some notes\nBEGIN:VCALENDAR\n")
    with pytest.raises(BackendError, match="line 1: content outside BEGIN:VCALENDAR"):
        IcsBackend(text).changes(None, WINDOW)


def folded_event(summary_lines: list[bytes], description_lines: list[bytes]) -> bytes:
    return b"\r\n".join(
        [
            b"BEGIN:VCALENDAR",
            b"VERSION:2.0",
            b"PRODID:-//tests//folds//EN",
            b"BEGIN:VEVENT",
            b"UID:f",
            b"DTSTAMP:20260101T000000Z",
            b"DTSTART:20260601T090000Z",
            b"DTEND:20260601T100000Z",
            *summary_lines,
            *description_lines,
            b"END:VEVENT",
            b"BEGIN:VEVENT",
            b"UID:g",
            b"DTSTAMP:20260101T000000Z",
            b"SUMMARY:the next event",
            b"DTSTART:20260602T090000Z",
            b"END:VEVENT",
            b"END:VCALENDAR",
            b"",
        ]
    )


@pytest.mark.parametrize("split", range(1, 4))
def test_a_character_split_across_a_fold_is_restored_exactly(tmp_path, split):
    """Folding is on octets (RFC 5545 3.1); some writers split a UTF-8 character."""
    title = "Jyväskylä 🌲 kokous".encode()
    cut = title.index("🌲".encode()) + split  # inside the four-byte character
    path = tmp_path / "split.ics"
    path.write_bytes(folded_event([b"SUMMARY:" + title[:cut], b" " + title[cut:]], []))
    backend = IcsBackend(path)
    items = {i.id: i for i in backend.changes(None, WINDOW).items}
    assert items["f"].title == "Jyväskylä 🌲 kokous"
    assert set(items) == {"f", "g"}


def test_a_continuation_line_without_its_space_is_repaired_and_named(tmp_path):
    path = tmp_path / "lost.ics"
    path.write_bytes(
        folded_event(
            [b"SUMMARY:Kept"], [b"DESCRIPTION:first half and", b" the second half"]
        ).replace(b"\r\n the second", b"\r\nthe second")
    )
    backend = IcsBackend(path)
    items = {i.id: i for i in backend.changes(None, WINDOW).items}
    assert set(items) == {"f", "g"}  # the rest of the event and the file still import
    assert items["f"].body == "first half andthe second half"
    assert items["f"].title == "Kept"
    assert any(note.startswith("line 11: a continuation line") for note in backend.notes)


FLOATING = calendar(
    "\r\n".join(
        [
            "BEGIN:VEVENT",
            "UID:fl",
            "DTSTAMP:20260101T000000Z",
            "SUMMARY:wall clock",
            "DTSTART:20260601T090000",
            "DTEND:20260601T100000",
            "END:VEVENT",
        ]
    )
)
"""One floating event (no Z, no TZID, no X-WR-TIMEZONE) at 09:00-10:00."""


@pytest.mark.parametrize("move", [timedelta(0), timedelta(hours=2)])
def test_a_floating_event_stays_floating_when_written_back(tmp_path, move):
    path = tmp_path / "floating.ics"
    path.write_bytes(FLOATING)
    backend = IcsBackend(path, zone="Europe/Helsinki", clock=CLOCK)
    (read,) = backend.changes(None, WINDOW).items
    assert read.start == datetime(2026, 6, 1, 9, tzinfo=HELSINKI)
    changed = read.evolve(title="renamed", start=read.start + move, end=read.end + move)
    written = backend.update("fl", changed, read.etag)
    text = path.read_bytes().decode()
    wall = (datetime(2026, 6, 1, 9) + move).strftime("%Y%m%dT%H%M%S")
    assert f"DTSTART:{wall}\r\n" in text  # no Z, no TZID: still floating
    (again,) = IcsBackend(path, zone="Europe/Helsinki").changes(None, WINDOW).items
    assert again == written
    assert again.start == changed.start


def test_a_listing_between_writes_and_flush_keeps_the_buffered_writes(tmp_path):
    path = tmp_path / "cal.ics"
    backend = IcsBackend(path, create_missing=True, clock=CLOCK)
    first = backend.changes(None, WINDOW)
    backend.flush()
    backend.apply_batch([CreateOp(item(0), "k0")])
    again = backend.changes(first.cursor, WINDOW)  # the engine re-reads mid-run
    assert again.full
    assert [i.sync_key for i in again.items] == ["k0"]
    backend.flush()
    assert set(titles(path)) == {"k0@severa-ext"}


def _unambiguous(moment: datetime) -> bool:
    """A Helsinki wall time that names one instant (not in the repeated autumn hour)."""
    wall = moment.astimezone(HELSINKI).replace(tzinfo=None)
    return wall.replace(tzinfo=HELSINKI, fold=0) == wall.replace(tzinfo=HELSINKI, fold=1)


@settings(max_examples=scaled(30), deadline=None)
@given(
    start=st.datetimes(datetime(2026, 1, 2), datetime(2026, 12, 20), timezones=st.just(UTC))
    .map(lambda d: d.replace(microsecond=0))
    .filter(_unambiguous),
    minutes=st.integers(0, 600),
    title=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20),
)
def test_floating_item_to_ics_to_item_is_exact(tmp_path_factory, start, minutes, title):
    end = start + timedelta(minutes=minutes)
    if not _unambiguous(end):
        return
    path = tmp_path_factory.mktemp("floating") / "f.ics"
    path.write_bytes(FLOATING)
    backend = IcsBackend(path, zone="Europe/Helsinki", clock=CLOCK)
    (read,) = backend.changes(None, WINDOW).items
    written = backend.update("fl", read.evolve(title=title, start=start, end=end), read.etag)
    assert b"DTSTART:" + start.astimezone(HELSINKI).strftime(
        "%Y%m%dT%H%M%S"
    ).encode() + b"\r\n" in (path.read_bytes())
    back = IcsBackend(path, zone="Europe/Helsinki").get("fl")
    assert back == written
    assert (back.start, back.end, back.title) == (start, end, title)
