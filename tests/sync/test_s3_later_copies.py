"""S3: copies that another tool makes in a *later* run are noticed, never multiplied.

An entry already linked (A1 <-> B1) gets a copy B2 on one side, made by another
tool that drops extended properties (no sync key): B2 is quarantined, not copied to
the other side. A copy that *replaces* a linked item deleted in the same run (a tool
that moves items by delete + create, a feed that re-issues UIDs) takes over its link.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severa_ext.backends.memory import Fault, MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem, Capabilities, Window, copy_print
from severa_ext.sync.links import Intent, Parked
from severa_ext.sync.planner import (
    Create,
    Delete,
    Park,
    SetLink,
    SideChanges,
    plan_sync,
    quarantine_key,
)
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.sqlite import SQLiteStateStore
from severa_ext.sync.state import Link, MemoryStateStore, StateChange, StateStore
from support import scaled

NOW = datetime(2026, 5, 4, 8, tzinfo=UTC)
PAIR = "alice"
POLICY = SyncPolicy(outgoing_types={"meeting"}, default_type="other", personal_type="personal")


class SpyStore(MemoryStateStore):
    """A memory store that records the S3 lookups the engine makes."""

    def __init__(self) -> None:
        super().__init__()
        self.print_queries: list[set[str]] = []
        self.counts = 0

    def links_by_prints(self, pair_id: str, prints: Iterable[str]) -> dict[str, list[Link]]:
        asked = set(prints)
        self.print_queries.append(asked)
        return super().links_by_prints(pair_id, asked)

    def count(self, pair_id: str) -> int:
        self.counts += 1
        return super().count(pair_id)


class Pair:
    """Two memory sides, a store and an engine on a fixed clock."""

    def __init__(
        self, store: StateStore | None = None, *, b: Capabilities | None = None, **options: Any
    ) -> None:
        self.clock = FixedClock(NOW)
        self.a = MemoryBackend("severa", clock=self.clock)
        self.b = MemoryBackend("calendar", capabilities=b, clock=self.clock)
        self.store: StateStore = store if store is not None else MemoryStateStore()
        self.engine = SyncEngine(
            self.a,
            self.b,
            self.store,
            pair_id=PAIR,
            policy=POLICY,
            clock=self.clock,
            user_id=PAIR,
            sleep=lambda _: None,
            **options,
        )

    def tick(self) -> None:
        self.clock.advance(timedelta(minutes=1))

    def activity(self, title: str, **fields: Any) -> CalendarItem:
        fields.setdefault("activity_type", "meeting")
        start = NOW + timedelta(days=1)
        self.tick()
        return self.a.user_create(CalendarItem(title, start, start + timedelta(hours=1), **fields))

    def event(self, title: str, **fields: Any) -> CalendarItem:
        start = NOW + timedelta(days=1)
        self.tick()
        return self.b.user_create(CalendarItem(title, start, start + timedelta(hours=1), **fields))

    def copy_without_key(self, backend: MemoryBackend, item: CalendarItem) -> CalendarItem:
        """What a tool that drops extended properties does: same content, no key."""
        self.tick()
        return backend.user_create(item.without_identity())

    def only(self, backend: MemoryBackend) -> CalendarItem:
        (item,) = backend.all_items()
        return item

    def link_of(self, side: str, item_id: str | None) -> Any:
        found = [link for link in self.store.links(PAIR) if link.id_on(side) == item_id]
        assert len(found) == 1, found
        return found[0]

    def notes(self, operation: str) -> list[str]:
        return [e.message for e in self.store.journal(pair_id=PAIR) if e.operation == operation]


def _memory() -> StateStore:
    return MemoryStateStore()


def _sqlite() -> StateStore:
    return SQLiteStateStore(":memory:")


STORES: dict[str, Callable[[], StateStore]] = {"memory": _memory, "sqlite": _sqlite}


@pytest.fixture(params=sorted(STORES))
def pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    made = Pair(STORES[request.param]())
    yield made
    made.store.close()


# -- quarantined copies ----------------------------------------------------------------


def test_s3_later_copy_on_b_is_quarantined_and_journaled_not_created_on_a(pair: Pair) -> None:
    activity = pair.activity("Weekly", body="agenda")
    pair.engine.run()
    b1 = pair.only(pair.b)
    copy = pair.copy_without_key(pair.b, b1)  # a phone copied it without our key
    report = pair.engine.run()
    assert report.ok, report.errors
    assert report.quarantined == 1
    assert report.total_writes == 0
    assert [i.title for i in pair.a.all_items()] == ["Weekly"]
    (note,) = pair.notes("quarantine")
    assert "duplicate (S3)" in note
    assert "'Weekly'" in note
    assert str(b1.id) in note
    assert pair.link_of("a", activity.id).sync_key in note
    assert isinstance(pair.link_of("b", copy.id), Parked)
    again = pair.engine.run()
    assert (again.quarantined, again.total_writes) == (0, 0)  # parked, not reported again


def test_s3_later_copy_on_a_is_quarantined_not_sent_to_the_calendar(pair: Pair) -> None:
    activity = pair.activity("Planning")
    pair.engine.run()
    pair.copy_without_key(pair.a, pair.a.get(activity.id or ""))  # type: ignore[arg-type]
    report = pair.engine.run()
    assert report.quarantined == 1
    assert report.created == {"a": 0, "b": 0}
    assert [i.title for i in pair.b.all_items()] == ["Planning"]
    (note,) = pair.notes("quarantine")
    assert activity.id in note  # type: ignore[operator]


def test_s3_later_copy_of_an_activity_the_policy_does_not_send_is_left_alone(
    pair: Pair,
) -> None:
    """S8: a side-A copy of a type that is not outgoing writes nothing, so nothing
    multiplies: it stays a plain local activity, neither sent nor quarantined."""
    event = pair.event("Dentist")
    pair.engine.run()
    activity = pair.link_of("b", event.id)
    copy = pair.copy_without_key(pair.a, pair.a.get(activity.a_id or ""))  # type: ignore[arg-type]
    assert copy.activity_type == "other"  # S9's default type, not outgoing
    report = pair.engine.run()
    assert (report.quarantined, report.total_writes) == (0, 0)
    assert [i.title for i in pair.b.all_items()] == ["Dentist"]
    assert all(link.a_id != copy.id for link in pair.store.links(PAIR))


def test_s3_several_later_copies_are_all_quarantined(pair: Pair) -> None:
    pair.activity("Standup")
    pair.engine.run()
    b1 = pair.only(pair.b)
    for _ in range(3):
        pair.copy_without_key(pair.b, b1)
    report = pair.engine.run()
    assert report.quarantined == 3
    assert report.total_writes == 0
    assert len(pair.a.all_items()) == 1


def test_s3_copy_of_a_twin_edited_in_the_same_run_in_other_fields_is_quarantined(
    pair: Pair,
) -> None:
    """The twin's body changed this run, its title and times did not: still a copy."""
    pair.activity("Review")
    pair.engine.run()
    b1 = pair.only(pair.b)
    pair.copy_without_key(pair.b, b1)
    pair.tick()
    pair.b.user_update(b1.id or "", body="minutes")
    report = pair.engine.run()
    assert report.quarantined == 1
    assert report.created == {"a": 0, "b": 0}
    assert report.updated == {"a": 1, "b": 0}
    assert pair.only(pair.a).body == "minutes"


def test_s3_copy_of_the_new_version_of_a_twin_edited_this_run_is_quarantined(
    pair: Pair,
) -> None:
    """The twin moved this run and the tool copied its new version: the copy's print
    is not the stored base's, yet it copies a linked item."""
    pair.activity("Review")
    pair.engine.run()
    b1 = pair.only(pair.b)
    pair.tick()
    moved = pair.b.user_update(b1.id or "", title="Review (moved)")
    pair.copy_without_key(pair.b, moved)
    report = pair.engine.run()
    assert report.quarantined == 1
    assert report.created == {"a": 0, "b": 0}
    assert [i.title for i in pair.a.all_items()] == ["Review (moved)"]


def test_s3_copy_whose_linked_twin_moved_in_the_same_run_is_not_quarantined(
    pair: Pair,
) -> None:
    """The user copied the entry and moved the original in the same run: the copy is
    no longer a copy of anything on its side, so it syncs as a new entry."""
    pair.activity("Workshop")
    pair.engine.run()
    b1 = pair.only(pair.b)
    pair.copy_without_key(pair.b, b1)
    pair.tick()
    later = b1.start + timedelta(days=7)
    pair.b.user_update(b1.id or "", start=later, end=later + timedelta(hours=1))
    report = pair.engine.run()
    assert report.ok, report.errors
    assert report.quarantined == 0
    assert report.created == {"a": 1, "b": 0}
    assert report.updated == {"a": 1, "b": 0}
    starts = sorted(i.start for i in pair.a.all_items())
    assert starts == [b1.start, later]
    assert pair.engine.run().total_writes == 0


def test_s3_deleting_a_quarantined_copy_drops_its_quarantine_link(pair: Pair) -> None:
    pair.activity("Weekly")
    pair.engine.run()
    copy = pair.copy_without_key(pair.b, pair.only(pair.b))
    pair.engine.run()
    assert isinstance(pair.link_of("b", copy.id), Parked)
    pair.b.user_delete(copy.id or "")
    report = pair.engine.run()
    assert report.unlinked == 1
    assert report.total_writes == 0
    assert pair.store.count(PAIR) == 1
    assert [i.title for i in pair.a.all_items()] == ["Weekly"]


def test_s3_dry_run_reports_the_quarantine_like_the_real_run(pair: Pair) -> None:
    pair.activity("Weekly")
    pair.engine.run()
    pair.copy_without_key(pair.b, pair.only(pair.b))
    plan = pair.engine.plan()
    assert [type(r) for r in plan.records] == [Park]
    assert pair.engine.run(dry_run=True).quarantined == 1
    assert pair.engine.run().quarantined == 1


# -- replacements: delete + create -------------------------------------------------------


def test_s3_copy_replacing_a_deleted_linked_item_is_relinked_nothing_deleted(
    pair: Pair,
) -> None:
    """A tool moves the event by delete + create: the activity stays, linked to the
    new event; nothing is deleted and nothing created."""
    activity = pair.activity("Board meeting")
    pair.engine.run()
    b1 = pair.only(pair.b)
    key = pair.link_of("a", activity.id).sync_key
    b2 = pair.copy_without_key(pair.b, b1)
    pair.b.user_delete(b1.id or "")
    report = pair.engine.run()
    assert report.ok, report.errors
    assert report.total_writes == 0
    assert (report.linked, report.quarantined, report.unlinked) == (1, 0, 0)
    link = pair.link_of("a", activity.id)
    assert (link.sync_key, link.b_id, link.b_etag) == (key, b2.id, b2.etag)
    (note,) = pair.notes("link")
    assert "replacement (S3)" in note
    assert str(b1.id) in note
    assert str(b2.id) in note
    assert pair.engine.run().total_writes == 0


def test_s3_replacement_that_differs_in_other_fields_brings_them_as_an_edit(
    pair: Pair,
) -> None:
    activity = pair.activity("Board meeting", location="Room 1")
    pair.engine.run()
    b1 = pair.only(pair.b)
    pair.tick()
    pair.b.user_create(b1.without_identity().evolve(location="Room 2"))
    pair.b.user_delete(b1.id or "")
    report = pair.engine.run()
    assert report.updated == {"a": 1, "b": 0}
    assert (report.created, report.deleted) == ({"a": 0, "b": 0}, {"a": 0, "b": 0})
    assert pair.a.get(activity.id or "").location == "Room 2"  # type: ignore[union-attr]
    assert pair.a.get(activity.id or "").activity_type == "meeting"  # type: ignore[union-attr]
    assert pair.engine.run().total_writes == 0


def test_s3_replacement_merges_with_an_edit_of_the_other_side(pair: Pair) -> None:
    activity = pair.activity("Board meeting")
    pair.engine.run()
    b1 = pair.only(pair.b)
    b2 = pair.copy_without_key(pair.b, b1)
    pair.b.user_delete(b1.id or "")
    pair.tick()
    pair.a.user_update(activity.id or "", body="agenda attached")
    report = pair.engine.run()
    assert report.ok, report.errors
    assert report.updated == {"a": 0, "b": 1}
    assert pair.b.get(b2.id or "").body == "agenda attached"  # type: ignore[union-attr]
    assert pair.link_of("a", activity.id).b_id == b2.id


def test_s3_copy_of_an_entry_deleted_on_both_sides_is_quarantined_the_delete_stands(
    pair: Pair,
) -> None:
    """The user deleted the activity while the calendar moved its copy (delete +
    create) in the same run: the new event is not relinked (its delete would only
    reach an item the user never saw synced) nor brought back as a new activity
    (that would undo the user's delete): it is parked and journaled."""
    activity = pair.activity("Board meeting")
    pair.engine.run()
    b1 = pair.only(pair.b)
    b2 = pair.copy_without_key(pair.b, b1)
    pair.b.user_delete(b1.id or "")
    pair.a.user_delete(activity.id or "")
    report = pair.engine.run()
    assert report.ok, report.errors
    assert report.total_writes == 0
    assert (report.quarantined, report.unlinked) == (1, 1)
    assert pair.a.all_items() == []
    assert isinstance(pair.link_of("b", b2.id), Parked)
    (note,) = pair.notes("quarantine")
    assert "the delete stands" in note
    assert str(b1.id) in note


def test_s3_replacement_seen_in_a_later_run_than_the_delete_is_a_new_entry(
    pair: Pair,
) -> None:
    """Once the delete has propagated there is no link left to take over: the
    re-created event comes in as a new activity (S9)."""
    pair.activity("Board meeting")
    pair.engine.run()
    b1 = pair.only(pair.b)
    pair.b.user_delete(b1.id or "")
    assert pair.engine.run().deleted == {"a": 1, "b": 0}
    pair.copy_without_key(pair.b, b1)
    report = pair.engine.run()
    assert report.created == {"a": 1, "b": 0}
    assert [i.title for i in pair.a.all_items()] == ["Board meeting"]


def test_s3_feed_reissuing_uids_on_a_read_only_side_keeps_the_activity() -> None:
    """A read-only subscription (ICS) that re-issues a UID: the activity is kept
    and linked to the new one; no write goes anywhere."""
    pair = Pair(b=Capabilities(read_only=True))
    event = pair.event("Conference")
    pair.engine.run()
    (activity,) = pair.a.all_items()
    reissued = pair.copy_without_key(pair.b, event)
    pair.b.user_delete(event.id or "")
    report = pair.engine.run()
    assert report.ok, report.errors
    assert report.total_writes == 0
    assert sum(report.skipped.values()) == 0
    assert pair.link_of("a", activity.id).b_id == reissued.id
    assert pair.a.all_items() == [activity]


def test_s3_two_copies_replacing_one_deleted_item_relink_one_quarantine_the_other(
    pair: Pair,
) -> None:
    activity = pair.activity("Retro")
    pair.engine.run()
    b1 = pair.only(pair.b)
    first = pair.copy_without_key(pair.b, b1)
    second = pair.copy_without_key(pair.b, b1)
    pair.b.user_delete(b1.id or "")
    report = pair.engine.run()
    assert (report.linked, report.quarantined, report.total_writes) == (1, 1, 0)
    assert pair.link_of("a", activity.id).b_id == first.id
    assert isinstance(pair.link_of("b", second.id), Parked)
    (note,) = pair.notes("quarantine")
    assert first.id in note  # type: ignore[operator]


def test_s3_relinked_entry_meeting_a_stale_etag_is_re_planned_on_the_new_item(
    pair: Pair,
) -> None:
    """A concurrent edit between listing and writing: the entry is re-read through
    the new item, never through the deleted one (which would delete the activity)."""
    activity = pair.activity("Board meeting", location="Room 1")
    pair.engine.run()
    b1 = pair.only(pair.b)
    pair.tick()
    b2 = pair.b.user_create(b1.without_identity().evolve(location="Room 2"))
    pair.b.user_delete(b1.id or "")
    pair.a.inject("update", Fault.stale_etag())
    report = pair.engine.run()
    assert report.ok, report.errors
    assert report.deleted == {"a": 0, "b": 0}
    assert pair.a.get(activity.id or "").location == "Room 2"  # type: ignore[union-attr]
    assert pair.link_of("a", activity.id).b_id == b2.id
    assert pair.engine.run().total_writes == 0


# -- cost and compatibility ----------------------------------------------------------------


def test_s3_initial_sync_asks_the_store_no_print_lookup() -> None:
    """The first sync (no links yet) pays nothing for S3 later-copy matching: one
    ``count`` per run (not per item), no ``links_by_prints``; copies on both sides are still linked
    and a second identical new copy on one side is still quarantined."""
    spy = SpyStore()
    pair = Pair(spy)
    for n in range(20):
        pair.activity(f"Task {n}")
    pair.activity("Steering group")
    pair.event("Steering group")
    pair.event("All hands")
    pair.event("All hands")
    report = pair.engine.run()
    assert report.ok, report.errors
    assert (report.linked, report.quarantined) == (1, 1)
    assert report.created == {"a": 1, "b": 20}
    assert spy.print_queries == []
    assert spy.counts == 1  # one per run: the S3 check and the mass-deletion guard share it


def test_s3_no_change_sync_asks_nothing_and_a_later_run_asks_only_about_new_items() -> None:
    spy = SpyStore()
    pair = Pair(spy)
    for n in range(5):
        pair.activity(f"Task {n}")
    pair.engine.run()
    pair.engine.run()  # reads back what the first run wrote to the calendar
    spy.counts = 0
    assert pair.engine.run().total_writes == 0
    assert (spy.print_queries, spy.counts) == ([], 1)  # the run's one
    first = pair.a.all_items()[0]
    pair.tick()
    pair.a.user_update(first.id or "", body="edited")  # a linked change: not asked about
    new = pair.event("Dentist")
    spy.counts = 0
    pair.engine.run()
    assert spy.print_queries == [{copy_print(new)}]
    assert spy.counts == 1  # the run's one


def test_s3_plan_sync_without_known_copies_plans_as_before() -> None:
    """Backwards compatible: without ``known_copies`` a later copy is a new entry;
    with them it is quarantined."""
    start = NOW + timedelta(days=1)
    base = CalendarItem("Weekly", start, start + timedelta(hours=1))
    link = Link("k1", a_id="a1", b_id="b1", a_etag="1", b_etag="1", base=base)
    copy = base.evolve(id="b2", etag="1")
    window = Window(NOW - timedelta(days=30), NOW + timedelta(days=365))
    changes = SideChanges(changed=(copy,))
    plain = plan_sync([], SideChanges(), changes, POLICY, window)
    assert [type(r) for r in plain.records] == [Create, SetLink]
    known = {copy_print(copy): [link]}
    plan = plan_sync([], SideChanges(), changes, POLICY, window, known_copies=known)
    (record,) = plan.records
    assert isinstance(record, Park)
    assert (record.side, record.item_id) == ("b", "b2")
    assert "b1" in record.reason
    assert "k1" in record.reason


def test_s3_plan_sync_ignores_quarantined_and_pending_links_as_twins() -> None:
    start = NOW + timedelta(days=1)
    base = CalendarItem("Weekly", start, start + timedelta(hours=1))
    parked = Parked("b", "b0", None, base)
    pending = Intent("k2", "b", a_id="a2", base=base)
    copy = base.evolve(id="b2", etag="1")
    window = Window(NOW - timedelta(days=30), NOW + timedelta(days=365))
    known = {copy_print(copy): [parked, pending]}
    plan = plan_sync(
        [], SideChanges(), SideChanges(changed=(copy,)), POLICY, window, known_copies=known
    )
    assert [type(r) for r in plan.records] == [Create, SetLink]
    assert not plan.count(Delete)


def test_s3_sqlite_store_keeps_a_relink_across_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    pair = Pair(SQLiteStateStore(path))
    activity = pair.activity("Board meeting")
    pair.engine.run()
    b1 = pair.only(pair.b)
    b2 = pair.copy_without_key(pair.b, b1)
    pair.b.user_delete(b1.id or "")
    pair.engine.run()
    pair.store.close()
    reopened = SQLiteStateStore(path)
    try:
        (link,) = reopened.links(PAIR)
        assert (link.a_id, link.b_id) == (activity.id, b2.id)
        assert list(reopened.links_by_prints(PAIR, [copy_print(b2)])) == [copy_print(b2)]
    finally:
        reopened.close()


def test_s9_activity_sent_to_the_calendar_keeps_its_type_when_the_calendar_edits_it(
    pair: Pair,
) -> None:
    """S9: a linked entry keeps its type. The base stored when an activity is first
    sent carries its type; a later calendar edit must not reset it to the default."""
    activity = pair.activity("Customer call", location="Room 1")
    pair.engine.run()
    pair.tick()
    pair.b.user_update(pair.only(pair.b).id or "", location="Room 2")
    pair.engine.run()
    current = pair.a.get(activity.id or "")
    assert current is not None
    assert (current.location, current.activity_type) == ("Room 2", "meeting")


def test_s3_a_parked_copy_released_by_dropping_its_quarantine_link_syncs_once_renamed(
    pair: Pair,
) -> None:
    """The documented release: drop the parked copy's quarantine link, then give it
    another title; the next run syncs it as an entry of its own."""
    pair.activity("Weekly")
    pair.engine.run()
    copy = pair.copy_without_key(pair.b, pair.only(pair.b))
    pair.engine.run()
    pair.tick()
    pair.b.user_update(copy.id or "", body="for team B")
    assert pair.engine.run().total_writes == 0  # parked: its edits are not synced
    parked: Any = [quarantine_key("b", copy.id or "")]  # StateChange converts to a tuple
    pair.store.apply(PAIR, StateChange(delete=parked))
    pair.tick()
    pair.b.user_update(copy.id or "", title="Weekly (team B)")
    report = pair.engine.run()
    assert report.created == {"a": 1, "b": 0}
    assert sorted(i.title for i in pair.a.all_items()) == ["Weekly", "Weekly (team B)"]
    assert pair.engine.run().total_writes == 0


def test_s3_later_copies_on_both_sides_are_linked_to_each_other_not_quarantined(
    pair: Pair,
) -> None:
    """Linking existing copies writes nothing, so it goes first: a new keyless copy
    on each side of a synced entry are linked together (as on a first sync); only a
    copy left without a partner is quarantined."""
    activity = pair.activity("Planning")
    pair.engine.run()
    a2 = pair.copy_without_key(pair.a, pair.a.get(activity.id or ""))  # type: ignore[arg-type]
    b2 = pair.copy_without_key(pair.b, pair.only(pair.b))
    b3 = pair.copy_without_key(pair.b, b2)
    report = pair.engine.run()
    assert report.ok, report.errors
    assert (report.linked, report.quarantined, report.total_writes) == (1, 1, 0)
    assert pair.link_of("a", a2.id).b_id == b2.id
    assert isinstance(pair.link_of("b", b3.id), Parked)


_TWIN_STATES = ("unchanged", "body edited", "moved", "deleted", "both deleted")


@settings(max_examples=scaled(150))
@given(
    st.lists(
        st.tuples(st.sampled_from(("a", "b")), st.sampled_from(_TWIN_STATES)),
        min_size=1,
        max_size=6,
    ),
    st.randoms(use_true_random=False),
)
def test_s3_planner_property_each_later_copy_is_parked_relinked_or_new_by_its_twin(
    cases: list[tuple[str, str]], rng: Any
) -> None:
    """Hypothesis over linked entries whose item on one side got a keyless copy while
    that item was left alone, edited, moved or deleted (S3): a copy of an item still
    there with its title and times is quarantined; a replacement of a deleted item is
    relinked (no delete, no create); a copy of a moved item, and only that, is new."""
    start = NOW + timedelta(days=1)
    window = Window(NOW - timedelta(days=30), NOW + timedelta(days=365))
    links: list[Link] = []
    copies: list[CalendarItem] = []
    changed: dict[str, list[CalendarItem]] = {"a": [], "b": []}
    deleted: dict[str, set[str]] = {"a": set(), "b": set()}
    for n, (side, state) in enumerate(cases):
        base = CalendarItem(f"entry {n}", start, start + timedelta(hours=1))
        link = Link(f"k{n}", a_id=f"a{n}", b_id=f"b{n}", a_etag="1", b_etag="1", base=base)
        links.append(link)
        twin_id = f"{side}{n}"
        copy = base.evolve(id=f"{side}-copy{n}", etag="1", activity_type="meeting")
        copies.append(copy)
        changed[side].append(copy)
        if state == "body edited":
            changed[side].append(base.evolve(id=twin_id, etag="2", body="edited"))
        elif state == "moved":
            moved = start + timedelta(days=2)
            changed[side].append(
                base.evolve(id=twin_id, etag="2", start=moved, end=moved + timedelta(hours=1))
            )
        elif state in ("deleted", "both deleted"):
            deleted[side].add(twin_id)
            if state == "both deleted":
                other = "b" if side == "a" else "a"
                deleted[other].add(f"{other}{n}")
    for side in ("a", "b"):
        rng.shuffle(changed[side])
    known: dict[str, list[Link]] = {}
    for link in links:
        assert link.base is not None
        known.setdefault(copy_print(link.base), []).append(link)
    plan = plan_sync(
        links,
        SideChanges(tuple(changed["a"]), frozenset(deleted["a"])),
        SideChanges(tuple(changed["b"]), frozenset(deleted["b"])),
        POLICY,
        window,
        known_copies=known,
    )
    parked = {r.item_id for r in plan.records if isinstance(r, Park)}
    sources = {r.source_id for r in plan.records if isinstance(r, Create)}
    relinked = {
        r.link.id_on(side) for r in plan.records if isinstance(r, SetLink) for side in ("a", "b")
    }
    for (_side, state), copy in zip(cases, copies, strict=True):
        if state in ("unchanged", "body edited", "both deleted"):
            assert copy.id in parked, (state, plan)
        elif state == "moved":
            assert copy.id in sources, (state, plan)
        else:
            assert copy.id in relinked, (state, plan)
            assert copy.id not in parked | sources
    deletes = [r for r in plan.records if isinstance(r, Delete)]
    assert deletes == []  # nothing a copy replaced is deleted on the other side


def test_s3_item_moved_by_delete_and_create_keeping_our_key_is_relinked(pair: Pair) -> None:
    """A tool that moves an event by delete + create and keeps its extended
    properties: the new event carries the entry's sync key, so it takes over the
    link even with another time (the move travels to the activity as an edit)."""
    activity = pair.activity("Board meeting")
    pair.engine.run()
    b1 = pair.only(pair.b)
    later = b1.start + timedelta(days=1)
    pair.tick()
    moved = pair.b.user_create(b1.evolve(id=None, etag=None, start=later, end=later))
    assert moved.sync_key == b1.sync_key
    pair.b.user_delete(b1.id or "")
    report = pair.engine.run()
    assert report.ok, report.errors
    assert (report.linked, report.quarantined) == (1, 0)
    assert report.deleted == {"a": 0, "b": 0}
    assert report.updated == {"a": 1, "b": 0}
    assert pair.a.get(activity.id or "").start == later  # type: ignore[union-attr]
    assert pair.link_of("a", activity.id).b_id == moved.id
    assert pair.engine.run().total_writes == 0


def test_s3_copy_with_our_key_of_an_item_that_is_still_there_stays_quarantined(
    pair: Pair,
) -> None:
    pair.activity("Board meeting")
    pair.engine.run()
    b1 = pair.only(pair.b)
    copy = pair.b.user_create(b1.evolve(id=None, etag=None))
    report = pair.engine.run()
    assert (report.quarantined, report.linked, report.total_writes) == (1, 0, 0)
    assert isinstance(pair.link_of("b", copy.id), Parked)
