"""The ICS file backend against the tricky-calendar corpus in ``tests/data/ics``.

Every pitfall of issue 5 has a file there; each test names the rule it guards (S3
duplicates, S9 private entries) and the golden listings pin the whole mapping.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from icalendar import Calendar

from severa_ext.backends.ics import ICS_SYNC_KEY_PROPERTY, IcsBackend, parse_zone
from severa_ext.clock import FixedClock
from severa_ext.errors import (
    BackendError,
    BadItem,
    ConfigError,
    NotFound,
    VersionConflict,
)
from severa_ext.sync.items import CalendarItem, ShowAs, Window

DATA = Path(__file__).resolve().parent.parent / "data" / "ics"
GOLDEN = DATA / "golden"
WINDOW = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def backend_for(tmp_path: Path, name: str, **options) -> IcsBackend:
    target = tmp_path / name
    shutil.copyfile(DATA / name, target)
    options.setdefault("zone", "Europe/Helsinki")
    if name == "impossible_rule.ics":
        options.setdefault("expansion_budget", 0.5)  # keep the suite fast
    if name == "far_past_rule.ics":
        # The count limit, not the clock, must stop the minutely rule, even on a
        # loaded machine: no outcome of a test may depend on timing.
        options.setdefault("expansion_budget", 600.0)
    return IcsBackend(target, clock=FixedClock(NOW), **options)


def listing(backend: IcsBackend, window: Window = WINDOW) -> dict[str, CalendarItem]:
    return {item.id: item for item in backend.changes(None, window).items}


def dump(backend: IcsBackend) -> dict[str, object]:
    items = backend.changes(None, WINDOW).items
    return {
        "items": [
            {
                "id": i.id,
                "title": i.title,
                "start": i.start.isoformat(),
                "end": i.end.isoformat(),
                "location": i.location,
                "body": i.body,
                "private": i.private,
                "show_as": i.show_as.value,
                "categories": list(i.categories),
                "sync_key": i.sync_key,
                "series_id": i.series_id,
            }
            for i in sorted(items, key=lambda i: str(i.id))
        ][:50],
        "count": len(items),
        "problems": sorted(
            str(p).replace(str(backend.path.parent) + os.sep, "") for p in backend.problems
        ),
    }


READABLE = sorted(
    p.name
    for p in DATA.glob("*.ics")
    if p.name
    not in {
        "empty.ics",
        "html_error.ics",
        "truncated.ics",
        "not_calendar.ics",
        "unbalanced.ics",
        "latin1.ics",
    }
)


@pytest.mark.parametrize("name", READABLE)
def test_golden_listing(name, tmp_path):
    """Each corpus file lists exactly as its reviewed golden output says."""
    backend = backend_for(tmp_path, name)
    got = dump(backend)
    golden = GOLDEN / (name.removesuffix(".ics") + ".json")
    if os.environ.get("SEVERA_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert got == json.loads(golden.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("empty.ics", "empty content"),
        ("html_error.ics", "HTML"),
        ("truncated.ics", "line 13: the file ends inside BEGIN:VEVENT of line 11"),
        ("not_calendar.ics", "line 1"),
        ("unbalanced.ics", "line 7"),
        ("latin1.ics", "line 7"),
    ],
)
def test_unreadable_files_are_errors_naming_file_and_line(name, fragment, tmp_path):
    """Never an empty calendar: an empty, truncated or HTML file is a BackendError."""
    backend = backend_for(tmp_path, name)
    with pytest.raises(BackendError) as caught:
        backend.changes(None, WINDOW)
    assert name in str(caught.value)
    assert fragment in str(caught.value)


def test_non_utf8_is_read_only_with_a_configured_encoding(tmp_path):
    backend = backend_for(tmp_path, "latin1.ics", encoding="latin-1")
    (item,) = listing(backend).values()
    assert item.title == "Kokous Jyväskylässä"
    assert "Café Säde" in item.location
    assert backend.notes == ("read as latin-1 (configured)",)


def test_bom_lf_folding_and_lowercase_are_read(tmp_path):
    titles = {
        name: next(iter(listing(backend_for(tmp_path, name)).values())).title
        for name in ("bom.ics", "lf_only.ics", "bad_folding.ics", "lowercase.ics")
    }
    assert titles == {
        "bom.ics": "Byte order mark",
        "lf_only.ics": "Unix line endings",
        "bad_folding.ics": "A long title that was folded with a space",
        "lowercase.ics": "lowercase names",
    }


def test_custom_vtimezone_never_leaks_between_files(tmp_path):
    """Each file's "Customized Time Zone" is its own; a third file without one is bad."""
    a = listing(backend_for(tmp_path, "custom_zone_a.ics"))["custom-a"]
    b = listing(backend_for(tmp_path, "custom_zone_b.ics"))["custom-b"]
    assert a.start.utcoffset() == timedelta(hours=5)
    assert b.start.utcoffset() == timedelta(hours=-3)
    missing = backend_for(tmp_path, "missing_vtimezone.ics")
    assert set(listing(missing)) == {"nozone-2"}
    (problem,) = missing.problems
    assert "Customized Time Zone" in problem.reason
    assert "line 8" in problem.item_ref  # the DTSTART that names the zone


def test_unknown_tzid_is_a_problem_not_a_floating_time(tmp_path):
    backend = backend_for(tmp_path, "unknown_tzid.ics")
    assert set(listing(backend)) == {"known-tz"}
    (problem,) = backend.problems
    assert isinstance(problem, BadItem)
    assert "Mars/Olympus_Mons" in problem.reason
    with pytest.raises(BadItem):
        backend.get("unknown-tz")  # broken, never "deleted"


def test_windows_names_quoted_and_numbered(tmp_path):
    items = listing(backend_for(tmp_path, "windows_zones.ics"))
    assert items["win-1"].start == datetime(2026, 12, 1, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    assert items["win-2"].start == datetime(2026, 12, 1, 9, tzinfo=ZoneInfo("America/New_York"))
    assert items["win-3"].start == datetime(2026, 12, 1, 9, tzinfo=ZoneInfo("Europe/Helsinki"))


def test_floating_times_use_the_configured_zone(tmp_path):
    helsinki = listing(backend_for(tmp_path, "floating.ics"))["float-1"]
    (tmp_path / "utc").mkdir()
    utc = listing(backend_for(tmp_path / "utc", "floating.ics", zone="UTC"))["float-1"]
    assert helsinki.start == datetime(2026, 12, 1, 7, tzinfo=UTC)
    assert utc.start == datetime(2026, 12, 1, 9, tzinfo=UTC)


def test_x_wr_timezone_sets_floating_zone_and_rule_wall_time(tmp_path):
    items = listing(backend_for(tmp_path, "x_wr_timezone.ics", zone="UTC"))
    assert items["wr-1"].start == datetime(2026, 12, 1, 9, tzinfo=ZoneInfo("Europe/Helsinki"))
    weekly = sorted((i for i in items.values() if i.series_id == "wr-2"), key=lambda i: i.start)
    # Expanded in Helsinki wall time: 10:00 local before and after the DST change.
    assert [i.start.astimezone(ZoneInfo("Europe/Helsinki")).hour for i in weekly] == [10] * 4


def test_all_day_and_duration(tmp_path):
    items = listing(backend_for(tmp_path, "all_day.ics"))
    assert (items["allday-1"].start, items["allday-1"].end) == (
        date(2026, 12, 1),
        date(2026, 12, 2),
    )
    assert items["allday-3"].end == date(2026, 12, 8)  # no DTEND: one day, exclusive end
    durations = listing(backend_for(tmp_path, "duration.ics"))
    assert durations["dur-1"].end - durations["dur-1"].start == timedelta(minutes=90)
    assert durations["dur-2"].end == date(2026, 12, 5)


def test_class_transp_categories_and_cancelled(tmp_path):
    """S9: PRIVATE, CONFIDENTIAL and unknown classes are private (RFC 5545 3.8.1.3)."""
    items = listing(backend_for(tmp_path, "class_and_show_as.ics"))
    private = {uid: item.private for uid, item in items.items()}
    assert private == {
        "class-public": False,
        "class-private": True,
        "class-confidential": True,
        "class-unknown": True,
        "class-none": False,
    }
    assert "cancelled" not in items
    assert items["class-public"].show_as is ShowAs.FREE
    assert items["class-none"].show_as is ShowAs.TENTATIVE
    assert items["class-none"].categories == ("Red category", "Blue, dark")


def test_recurrence_overrides_exdate_rdate_and_cancelled_override(tmp_path):
    items = listing(backend_for(tmp_path, "recurrence.ics"))
    starts = sorted(
        i.start.astimezone(ZoneInfo("Europe/Helsinki")).strftime("%m-%d %H:%M")
        for i in items.values()
    )
    # Daily x7 from 30 Nov; 2 Dec excluded; 3 Dec moved to 11:00; 4 Dec cancelled; RDATE 12 Dec.
    assert starts == [
        "11-30 09:30",
        "12-01 09:30",
        "12-03 11:00",
        "12-05 09:30",
        "12-06 09:30",
        "12-12 09:30",
    ]
    moved = items["series-1#20261203T073000Z"]
    assert moved.title == "Stand-up moved"
    assert moved.original_start == datetime(2026, 12, 3, 7, 30, tzinfo=UTC)


def test_far_past_rules_are_bounded_and_exact(tmp_path):
    """A rule from 1900/1970 expands in bounded time to the same occurrences."""
    backend = backend_for(tmp_path, "far_past_rule.ics")
    items = listing(backend)
    daily = sorted(i.start for i in items.values() if i.series_id == "daily-1900")
    calendar = Calendar.from_ical((DATA / "far_past_rule.ics").read_bytes())
    only_daily = Calendar()
    only_daily.add_component(next(c for c in calendar.walk("VEVENT") if c["UID"] == "daily-1900"))
    truth = sorted(
        o["DTSTART"].dt
        for o in recurring_ical_events.of(only_daily).between(WINDOW.start, WINDOW.end)
    )
    assert daily == truth
    assert len(daily) > 100
    problems = {p.item_ref.split()[0]: p.reason for p in backend.problems}
    assert "occurrences" in problems["minutely"]  # refused as a whole, not half-listed
    assert "COUNT" in problems["huge-count"]
    assert not any(i.series_id == "minutely" for i in items.values())


def test_dtend_before_dtstart_and_broken_components_are_skipped(tmp_path):
    backend = backend_for(tmp_path, "dtend_before_dtstart.ics")
    assert set(listing(backend)) == {"forwards"}
    assert "before DTSTART" in backend.problems[0].reason
    broken = backend_for(tmp_path, "broken_component.ics")
    assert set(listing(broken)) == {"good-1"}
    reasons = " | ".join(p.reason for p in broken.problems)
    assert "DTSTART" in reasons
    assert "no UID" in reasons
    assert len(broken.problems) == 3


def test_duplicate_uids_are_quarantined_not_multiplied(tmp_path):
    """S3: duplicates others created are noticed and not multiplied."""
    backend = backend_for(tmp_path, "duplicate_uids.ics")
    items = listing(backend)
    assert set(items) == {"dup", "unique"}
    # All three copies tie on SEQUENCE and DTSTAMP: the text decides, not the order.
    assert items["dup"].title == "Third copy"
    assert len(backend.problems) == 2
    assert all("duplicate UID" in p.reason for p in backend.problems)


def test_huge_file_is_refused(tmp_path):
    backend = backend_for(tmp_path, "basic.ics", max_bytes=100)
    with pytest.raises(BackendError, match="limit of 100 bytes"):
        backend.changes(None, WINDOW)


def test_missing_file_is_not_found_unless_created(tmp_path):
    with pytest.raises(NotFound):
        IcsBackend(tmp_path / "none.ics").changes(None, WINDOW)
    created = IcsBackend(tmp_path / "new.ics", create_missing=True)
    assert created.changes(None, WINDOW).items == ()


def test_unknown_configured_zone_is_a_config_error():
    with pytest.raises(ConfigError):
        parse_zone("Atlantis/Capital")


# --- writing -------------------------------------------------------------------------


def new_item(title="Created", hour=9) -> CalendarItem:
    start = datetime(2026, 12, 10, hour, tzinfo=ZoneInfo("Europe/Helsinki"))
    return CalendarItem(title, start, start + timedelta(hours=1), categories=("A",), private=True)


def test_create_update_delete_round_trip(tmp_path):
    backend = backend_for(tmp_path, "basic.ics")
    created = backend.create(new_item(), "key-1")
    assert created.sync_key == "key-1"
    assert created.id is not None
    assert backend.find("key-1") == (created,)
    assert backend.create(new_item(), "key-1").id == created.id  # idempotent per sync key
    again = IcsBackend(backend.path)  # a fresh reader sees the same item
    assert again.get(created.id) == created
    updated = backend.update(created.id, created.evolve(title="Renamed"), created.etag)
    assert updated.title == "Renamed"
    assert updated.etag != created.etag
    with pytest.raises(VersionConflict):
        backend.update(created.id, created.evolve(title="Stale"), created.etag)
    backend.delete(created.id, updated.etag)
    assert backend.get(created.id) is None
    with pytest.raises(NotFound):
        backend.delete(created.id, None)


def test_rewrite_preserves_unknown_properties_and_components(tmp_path):
    backend = backend_for(tmp_path, "preserve.ics")
    item = backend.get("keep-1")
    assert item is not None
    backend.update("keep-1", item.evolve(title="Changed"), item.etag)
    text = backend.path.read_text(encoding="utf-8")
    for kept in (
        "BEGIN:VTODO",
        "BEGIN:VJOURNAL",
        "BEGIN:VALARM",
        "X-CUSTOM-CALENDAR-PROP:keep me",
        "X-VENDOR-THING;X-PARAM=1:opaque value",
        "ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:bob@example.com",
        "SUMMARY:Changed",
    ):
        assert kept in text, kept


class EditingClock:
    """A clock whose first reading happens while another program saves the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.edited = False

    def now(self) -> datetime:
        if not self.edited:
            self.edited = True
            text = self.path.read_bytes().replace(b"SUMMARY:Planning", b"SUMMARY:Edited elsewhere")
            self.path.write_bytes(text)
            stamp = self.path.stat().st_mtime_ns + 10**9
            os.utime(self.path, ns=(stamp, stamp))
        return NOW


def test_refuses_to_overwrite_a_file_changed_on_disk(tmp_path):
    """A concurrent editor never loses work: the write is refused, the file is theirs."""
    shutil.copyfile(DATA / "basic.ics", tmp_path / "basic.ics")
    clock = EditingClock(tmp_path / "basic.ics")
    backend = IcsBackend(tmp_path / "basic.ics", clock=clock)
    item = backend.get("basic-1")
    assert item is not None
    # The other program saves between our read and our write (the clock is read while
    # the new event is prepared): the write is refused, naming the file.
    with pytest.raises(VersionConflict, match=r"basic\.ics changed on disk"):
        backend.create(new_item(), "key-race")
    edited = backend.path.read_bytes()
    assert b"Edited elsewhere" in edited
    assert b"key-race" not in edited
    # The next call reads the edit; the stale etag of the item is refused too.
    with pytest.raises(VersionConflict):
        backend.update("basic-1", item.evolve(title="Mine"), item.etag)
    assert backend.path.read_bytes() == edited
    # And a write based on the fresh read goes through, keeping the other edit.
    backend.create(new_item(), "key-after")
    assert b"Edited elsewhere" in backend.path.read_bytes()


def test_failed_write_leaves_the_file_untouched(tmp_path, monkeypatch):
    backend = backend_for(tmp_path, "basic.ics")
    before = backend.path.read_bytes()

    def boom(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(BackendError, match="disk full"):
        backend.create(new_item(), "key-2")
    monkeypatch.undo()
    assert backend.path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["basic.ics"]  # no temp file left
    assert backend.find("key-2") == ()


def test_occurrence_update_and_delete_become_override_and_exdate(tmp_path):
    backend = backend_for(tmp_path, "recurrence.ics")
    occurrence = backend.get("series-1#20261201T073000Z")
    assert occurrence is not None
    assert occurrence.series_id == "series-1"
    moved = backend.update(occurrence.id, occurrence.evolve(title="Special"), occurrence.etag)
    assert moved.title == "Special"
    assert moved.id == occurrence.id
    victim = backend.get("series-1#20261205T073000Z")
    assert victim is not None
    backend.delete(victim.id, victim.etag)
    items = listing(backend)
    assert victim.id not in items
    assert items[occurrence.id].title == "Special"
    assert items["series-1#20261206T073000Z"].title == "Daily stand-up"
    text = backend.path.read_text()
    assert "EXDATE:20261205T073000Z" in text
    assert "RECURRENCE-ID:20261201T073000Z" in text


def test_apply_batch_writes_once_and_reports_per_op(tmp_path):
    from severa_ext.backends.base import CreateOp, DeleteOp, UpdateOp

    backend = backend_for(tmp_path, "basic.ics")
    basic = backend.get("basic-1")
    assert basic is not None
    results = backend.apply_batch(
        [
            CreateOp(new_item("One"), "k1"),
            CreateOp(new_item("Two", 11), "k2"),
            UpdateOp("basic-1", basic.evolve(title="Batch"), basic.etag),
            DeleteOp("no-such-id", None),
        ]
    )
    assert [r.ok for r in results] == [True, True, True, False]
    assert isinstance(results[3].error, NotFound)
    assert {i.title for i in listing(backend).values()} == {"One", "Two", "Batch"}


def test_written_file_is_valid_and_carries_the_sync_key(tmp_path):
    backend = backend_for(tmp_path, "basic.ics")
    backend.create(new_item(), "key-3")
    calendar = Calendar.from_ical(backend.path.read_bytes())
    event = next(e for e in calendar.walk("VEVENT") if e.get(ICS_SYNC_KEY_PROPERTY) == "key-3")
    assert event["CLASS"] == "PRIVATE"
    assert any(tz["TZID"] == "Europe/Helsinki" for tz in calendar.walk("VTIMEZONE"))


def test_updating_an_existing_override_rewrites_it_in_place(tmp_path):
    backend = backend_for(tmp_path, "recurrence.ics")
    moved = backend.get("series-1#20261203T073000Z")
    assert moved is not None
    assert moved.title == "Stand-up moved"
    updated = backend.update(moved.id, moved.evolve(location="Room 2"), moved.etag)
    assert (updated.title, updated.location) == ("Stand-up moved", "Room 2")
    text = backend.path.read_text()
    assert text.count("RECURRENCE-ID") == 2  # the moved and the cancelled one, no new one
    assert "LOCATION:Room 2" in text


def test_cancelled_occurrence_and_broken_ids_are_not_items(tmp_path):
    backend = backend_for(tmp_path, "recurrence.ics")
    assert backend.get("series-1#20261204T073000Z") is None  # cancelled override
    assert backend.get("series-1#20261202T073000Z") is None  # EXDATE
    assert backend.get("no-such-uid") is None


def test_a_series_with_a_broken_master_is_withheld_not_deleted(tmp_path):
    """Occurrences of a series whose master is unreadable never look deleted."""
    path = tmp_path / "broken_master.ics"
    text = (DATA / "recurrence.ics").read_text()
    path.write_text(
        text.replace("DTSTART;TZID=Europe/Helsinki:20261130T093000", "DTSTART:garbage", 1)
    )
    backend = IcsBackend(path, zone="Europe/Helsinki")
    assert listing(backend) == {}
    assert any("series-1" in p.item_ref for p in backend.problems)
    with pytest.raises(BadItem):
        backend.get("series-1#20261201T073000Z")


def test_a_series_in_a_custom_zone_follows_its_daylight_rules(tmp_path):
    """Outlook's "Customized Time Zone" with DST rules: 10:00 local on both sides of it."""
    items = listing(backend_for(tmp_path, "custom_zone_dst_series.ics"))
    offsets = [item.start.utcoffset() for item in sorted(items.values(), key=lambda i: i.start)]
    assert offsets == [timedelta(hours=2)] * 2 + [timedelta(hours=3)] * 2
    assert all(item.start.hour == 10 for item in items.values())


def test_a_one_line_path_is_content_never_a_file_to_open(tmp_path):
    """icalendar reads a one-line *string* as a path; we only ever hand it bytes."""
    shutil.copyfile(DATA / "basic.ics", tmp_path / "basic.ics")
    decoy = tmp_path / "decoy.ics"
    decoy.write_text(str(tmp_path / "basic.ics"))
    with pytest.raises(BackendError, match="not an iCalendar file"):
        IcsBackend(decoy).changes(None, WINDOW)


def test_a_rule_that_never_matches_is_cut_off_in_bounded_time(tmp_path):
    """FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30 makes dateutil search to year 9999 without
    yielding once; the expansion budget stops it and only that series is skipped."""
    backend = backend_for(tmp_path, "impossible_rule.ics", expansion_budget=0.5)
    assert set(listing(backend)) == {"ok"}
    (problem,) = backend.problems
    assert "took more than" in problem.reason
