"""The ICS file's cursor: a no-change sync costs one hash, never a parse.

A cursor from ``IcsBackend.changes`` names the file's content hash, the window and the
reading options. From an unchanged file it answers an empty delta without parsing
(``IcsBackend.parses`` counts the parses); anything else -- any change to the bytes
(even one that keeps size and mtime), another window, other options, a garbled or
old-format cursor -- gives the full listing as before, so no change is ever lost
(S9: everything in the calendar comes into Severa; S11: both ways).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from severa_ext.backends.ics import IcsBackend
from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.errors import BackendError, NotFound
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem, Window
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.sqlite import SQLiteStateStore

WINDOW = Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CALENDAR = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//severa_ext//cursor test//EN\r\n"
    b"BEGIN:VEVENT\r\nUID:review@example.com\r\nDTSTAMP:20261101T000000Z\r\n"
    b"SUMMARY:Review AAAA\r\nDTSTART:20261201T100000Z\r\nDTEND:20261201T110000Z\r\n"
    b"END:VEVENT\r\n"
    b"BEGIN:VEVENT\r\nUID:weekly@example.com\r\nDTSTAMP:20261101T000000Z\r\n"
    b"SUMMARY:Weekly\r\nDTSTART:20261102T080000Z\r\nDURATION:PT30M\r\n"
    b"RRULE:FREQ=WEEKLY;COUNT=20\r\nEND:VEVENT\r\n"
    b"END:VCALENDAR\r\n"
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    target = tmp_path / "team.ics"
    target.write_bytes(CALENDAR)
    return target


def fresh(path: Path, **options: object) -> IcsBackend:
    """A new backend, as a new command-line process would build it."""
    return IcsBackend(path, clock=FixedClock(NOW), **options)  # type: ignore[arg-type]


def first_cursor(path: Path, window: Window = WINDOW) -> str:
    cursor = fresh(path).changes(None, window).cursor
    assert cursor is not None
    return cursor


def rewrite_keeping_size_and_mtime(path: Path, old: bytes, new: bytes) -> None:
    assert len(old) == len(new)
    before = path.stat()
    data = path.read_bytes()
    assert data.count(old) == 1
    path.write_bytes(data.replace(old, new))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_unchanged_file_is_an_empty_delta_without_a_parse(path: Path) -> None:
    """S9: the cursor of an unchanged file lists nothing, and nothing is parsed."""
    cursor = first_cursor(path)
    backend = fresh(path)
    quiet = backend.changes(cursor, WINDOW)
    assert (quiet.full, quiet.items, quiet.removed, quiet.cursor) == (False, (), (), cursor)
    assert backend.parses == 0
    # Lookups after an empty delta still work: they parse on demand.
    weekly = next(i for i in fresh(path).changes(None, WINDOW).items if i.title == "Weekly")
    assert backend.get(weekly.id or "") == weekly
    assert backend.parses == 1


def test_a_full_listing_parses_once(path: Path) -> None:
    backend = fresh(path)
    listing = backend.changes(None, WINDOW)
    assert listing.full
    assert backend.parses == 1
    assert len(listing.items) == 1 + 9  # the single event and nine weekly occurrences
    backend.changes(None, WINDOW)
    assert backend.parses == 1  # the same process reuses its parse


def test_edit_keeping_size_and_mtime_is_a_full_listing(path: Path) -> None:
    """Size and mtime are never trusted: a same-size edit at the same mtime is seen."""
    cursor = first_cursor(path)
    rewrite_keeping_size_and_mtime(path, b"Review AAAA", b"Review BBBB")
    backend = fresh(path)
    listing = backend.changes(cursor, WINDOW)
    assert listing.full
    assert "Review BBBB" in {i.title for i in listing.items}
    assert listing.cursor != cursor
    assert backend.parses == 1


def test_warm_backend_sees_an_edit_keeping_size_and_mtime(path: Path) -> None:
    """The same backend object that issued the cursor also sees the edit."""
    backend = fresh(path)
    cursor = backend.changes(None, WINDOW).cursor
    assert cursor is not None
    rewrite_keeping_size_and_mtime(path, b"Review AAAA", b"Review CCCC")
    listing = backend.changes(cursor, WINDOW)
    assert listing.full
    assert listing.cursor != cursor


def test_another_window_is_a_full_listing(path: Path) -> None:
    """Recurrence expansion depends on the window, so the window is in the cursor."""
    cursor = first_cursor(path)
    later = Window(WINDOW.start + timedelta(days=7), WINDOW.end + timedelta(days=7))
    backend = fresh(path)
    listing = backend.changes(cursor, later)
    assert listing.full
    assert len(listing.items) == 1 + 9
    starts = {i.start for i in listing.items if i.title == "Weekly"}
    assert min(starts) == datetime(2026, 11, 9, 8, tzinfo=UTC)
    assert listing.cursor != cursor
    assert backend.changes(listing.cursor, later).full is False


@pytest.mark.parametrize(
    "options",
    [
        {"zone": "Europe/Helsinki"},
        {"encoding": "latin-1"},
        {"max_bytes": 1_000_000},
        {"expansion_budget": 3.0},
    ],
    ids=["zone", "encoding", "max_bytes", "expansion_budget"],
)
def test_other_reading_options_are_a_full_listing(path: Path, options: dict[str, object]) -> None:
    cursor = first_cursor(path)
    backend = fresh(path, **options)
    listing = backend.changes(cursor, WINDOW)
    assert listing.full
    assert backend.parses == 1


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage",
        "ics1",
        "ics1:",
        "ics1:::",
        "ics2:00:00",
        "ICS1:" + "0" * 65,
        "\x00\udcff",
        "ics1:" + "f" * 10_000,
    ],
)
def test_garbled_cursor_is_a_full_listing(path: Path, cursor: str) -> None:
    """A cursor that is not this file's answers a full listing, never an error."""
    listing = fresh(path).changes(cursor, WINDOW)
    assert listing.full
    assert len(listing.items) == 10


def test_old_format_cursor_is_a_full_listing(path: Path) -> None:
    """Before the versioned format the cursor was the bare content hash."""
    real = first_cursor(path)
    old = real.split(":")[1]
    listing = fresh(path).changes(old, WINDOW)
    assert listing.full
    # The same file and context; the consumer token is new (no cursor of ours came in).
    assert listing.cursor.split(":")[:3] == real.split(":")[:3]


@given(position=st.integers(min_value=0), replacement=st.characters())
def test_any_altered_cursor_is_a_full_listing(
    tmp_path_factory: pytest.TempPathFactory, position: int, replacement: str
) -> None:
    """Hypothesis: changing any one character of a cursor never gives an empty delta."""
    path = tmp_path_factory.mktemp("cursor") / "team.ics"
    path.write_bytes(CALENDAR)
    real = first_cursor(path)
    index = position % len(real)
    altered = real[:index] + replacement + real[index + 1 :]
    listing = fresh(path).changes(altered, WINDOW)
    assert listing.full is (altered != real)


def test_missing_or_oversized_file_with_a_cursor_is_the_same_error(path: Path) -> None:
    """A cursor never hides a missing file (NotFound) or the size limit."""
    cursor = first_cursor(path)
    with pytest.raises(BackendError, match="more than the limit"):
        fresh(path, max_bytes=100).changes(cursor, WINDOW)
    path.unlink()
    with pytest.raises(NotFound):
        fresh(path).changes(cursor, WINDOW)


def engine(
    path: Path, memory: MemoryBackend, store: SQLiteStateStore
) -> tuple[SyncEngine, IcsBackend]:
    ics = fresh(path)
    policy = SyncPolicy.calendars(past_days=30, future_days=60)
    clock = FixedClock(NOW)
    return SyncEngine(memory, ics, store, pair_id="ics", policy=policy, clock=clock), ics


def test_no_change_sync_writes_nothing_and_does_not_parse(tmp_path: Path, path: Path) -> None:
    """End to end (S9, S11): a second run on an unchanged file is one hash and no writes."""
    memory = MemoryBackend("memory")
    store = SQLiteStateStore(tmp_path / "state.sqlite")
    try:
        first_engine, _ = engine(path, memory, store)
        first = first_engine.run()
        assert first.ok
        assert first.created["a"] == 1 + 12  # the weekly series has 12 in the window
        links = sorted(store.links("ics"), key=lambda link: link.sync_key)
        cursor = store.cursor("ics", "b")
        assert cursor is not None

        # Runs two and three (the memory side's own delta settles on run two).
        for _ in range(2):
            again_engine, ics = engine(path, memory, store)
            again = again_engine.run()
            assert again.ok
            assert again.total_writes == 0
            assert ics.parses == 0
            assert store.cursor("ics", "b") == cursor
            assert sorted(store.links("ics"), key=lambda link: link.sync_key) == links

        # A same-size, same-mtime edit is synced as before.
        rewrite_keeping_size_and_mtime(path, b"Review AAAA", b"Review DDDD")
        edited_engine, ics = engine(path, memory, store)
        edited = edited_engine.run()
        assert ics.parses == 1
        assert edited.updated["a"] == 1
        assert "Review DDDD" in {i.title for i in memory.changes(None, WINDOW).items}
        assert store.cursor("ics", "b") != cursor

        # The engine's own write into the file: the next run (its echo) and the one
        # after are a hash each, never a parse.
        start = datetime(2026, 12, 3, 9, tzinfo=UTC)
        memory.create(CalendarItem("From memory", start, start + timedelta(hours=1)), "mem-1")
        wrote_engine, _ = engine(path, memory, store)
        assert wrote_engine.run().created["b"] == 1
        for _ in range(2):
            quiet_engine, ics = engine(path, memory, store)
            assert quiet_engine.run().total_writes == 0
            assert ics.parses == 0
        assert store.cursor("ics", "b") != cursor
    finally:
        store.close()
