"""Example tests of the sync engine, one per seed rule and conflict case (S3, S6, S8, S9)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severa_ext.backends.memory import Fault, InjectedCrash, MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.errors import BadItem, LeaseHeld, MassDeletionRefused, ValidationError
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CONTENT_FIELDS, CalendarItem, Capabilities, ShowAs
from severa_ext.sync.links import Link
from severa_ext.sync.planner import Create, Delete, Update
from severa_ext.sync.policy import ConflictRule, SyncPolicy
from severa_ext.sync.report import SyncReport
from severa_ext.sync.state import MemoryStateStore
from support import scaled

NOW = datetime(2026, 5, 4, 8, tzinfo=UTC)
POLICY = SyncPolicy(outgoing_types={"meeting"}, default_type="other", personal_type="personal")


class Pair:
    """Two memory sides, a store and an engine on a fixed clock."""

    def __init__(
        self,
        policy: SyncPolicy = POLICY,
        *,
        a: Capabilities | None = None,
        b: Capabilities | None = None,
        backend_a: MemoryBackend | None = None,
        **engine_options: object,
    ) -> None:
        self.clock = FixedClock(NOW)
        self.a = backend_a or MemoryBackend("severa", capabilities=a, clock=self.clock)
        self.b = MemoryBackend("calendar", capabilities=b, clock=self.clock)
        self.store = MemoryStateStore()
        self.sleeps: list[float] = []
        self.engine = SyncEngine(
            self.a,
            self.b,
            self.store,
            pair_id="alice",
            policy=policy,
            clock=self.clock,
            user_id="alice",
            sleep=self.sleeps.append,
            **engine_options,  # type: ignore[arg-type]
        )

    def tick(self) -> None:
        self.clock.advance(timedelta(minutes=1))

    def activity(self, title: str, *, days: int = 1, **fields: object) -> CalendarItem:
        fields.setdefault("activity_type", "meeting")
        start = NOW + timedelta(days=days)
        self.tick()
        return self.a.user_create(CalendarItem(title, start, start + timedelta(hours=1), **fields))  # type: ignore[arg-type]

    def event(self, title: str, *, days: int = 1, **fields: object) -> CalendarItem:
        start = NOW + timedelta(days=days)
        self.tick()
        return self.b.user_create(CalendarItem(title, start, start + timedelta(hours=1), **fields))  # type: ignore[arg-type]

    def titles(self, side: str) -> list[str]:
        backend = self.a if side == "a" else self.b
        return sorted(item.title for item in backend.all_items())

    def partner(self, item: CalendarItem) -> CalendarItem:
        links = list(self.store.links("alice"))
        for link in links:
            if link.a_id == item.id:
                found = self.b.get(link.b_id or "")
                assert found is not None
                return found
            if link.b_id == item.id:
                found = self.a.get(link.a_id or "")
                assert found is not None
                return found
        raise AssertionError(f"{item.id} is not linked")


@pytest.fixture
def pair() -> Pair:
    return Pair()


def test_s11_items_travel_both_ways_and_a_second_sync_does_nothing(pair: Pair) -> None:
    pair.activity("Planning")
    pair.event("Dentist")
    report = pair.engine.run()
    assert report.ok
    assert report.created == {"a": 1, "b": 1}
    assert pair.titles("a") == pair.titles("b") == ["Dentist", "Planning"]
    again = pair.engine.run()
    assert again.total_writes == 0
    assert len(pair.engine.plan()) == 0


def test_s3_first_sync_links_existing_copies_instead_of_creating(pair: Pair) -> None:
    a = pair.activity("Steering group", body="agenda")
    pair.event("Steering group", body="agenda\r\n")  # another tool made this copy
    report = pair.engine.run()
    assert report.created == {"a": 0, "b": 0}
    assert report.linked == 1
    assert pair.titles("b") == ["Steering group"]
    assert pair.partner(a).title == "Steering group"


def test_s3_copies_differing_in_a_field_are_linked_and_reconciled(pair: Pair) -> None:
    pair.activity("Review", location="Room 1")
    b = pair.event("Review", location="Room 2")  # newer: wins the field
    report = pair.engine.run()
    assert report.created == {"a": 0, "b": 0}
    assert [c.fields for c in report.conflicts] == [("location",)]
    assert pair.partner(b).location == "Room 2"


def test_s3_item_copied_with_our_sync_key_is_quarantined_and_journaled(pair: Pair) -> None:
    pair.activity("Weekly")
    pair.engine.run()
    (copy_source,) = pair.b.all_items()
    pair.b.user_create(copy_source.evolve(id=None, etag=None))  # a phone copied it
    report = pair.engine.run()
    assert report.quarantined == 1
    assert report.total_writes == 0
    assert pair.titles("a") == ["Weekly"]
    notes = [e for e in pair.store.journal(pair_id="alice") if e.operation == "quarantine"]
    assert len(notes) == 1
    assert "duplicate (S3)" in notes[0].message
    assert pair.engine.run().quarantined == 0  # parked, not reported again


def test_s3_two_identical_new_copies_on_one_side_are_not_multiplied(pair: Pair) -> None:
    pair.event("All hands")
    pair.b.user_create(pair.b.all_items()[0].evolve(id=None, etag=None))
    report = pair.engine.run()
    assert report.created == {"a": 1, "b": 0}
    assert report.quarantined == 1
    assert pair.titles("a") == ["All hands"]


def test_s8_only_selected_activity_types_are_sent_and_never_project_tasks(pair: Pair) -> None:
    pair.activity("Customer meeting", activity_type="meeting")
    pair.activity("Travel", activity_type="travel")
    pair.activity("Implementation task", activity_type="meeting", project_task=True)
    pair.engine.run()
    assert pair.titles("b") == ["Customer meeting"]


def test_s9_everything_from_the_calendar_comes_in_with_default_or_personal_type(
    pair: Pair,
) -> None:
    pair.event("Lunch with a friend", private=True)
    pair.event("Workshop")
    pair.engine.run()
    types = {item.title: item.activity_type for item in pair.a.all_items()}
    assert types == {"Lunch with a friend": "personal", "Workshop": "other"}


def test_s9_private_entry_gets_default_type_without_a_personal_type() -> None:
    pair = Pair(SyncPolicy(outgoing_types={"meeting"}, default_type="other"))
    pair.event("Doctor", private=True)
    pair.engine.run()
    assert [i.activity_type for i in pair.a.all_items()] == ["other"]


def test_s9_a_linked_item_keeps_its_type_when_the_calendar_edits_it(pair: Pair) -> None:
    pair.event("Sauna evening")
    pair.engine.run()
    (activity,) = pair.a.all_items()
    pair.a.user_update(activity.id or "", activity_type="meeting")
    pair.engine.run()
    (event,) = pair.b.all_items()
    pair.tick()
    pair.b.user_update(event.id or "", private=True, title="Sauna")
    pair.engine.run()
    (activity,) = pair.a.all_items()
    assert activity.title == "Sauna"
    assert activity.activity_type == "meeting"


def test_conflict_both_edited_same_field_newest_wins(pair: Pair) -> None:
    a = pair.activity("Sprint review")
    pair.engine.run()
    b = pair.partner(a)
    pair.tick()
    pair.a.user_update(a.id or "", title="Sprint review (Severa)")
    pair.tick()
    pair.b.user_update(b.id or "", title="Sprint review (Outlook)")
    report = pair.engine.run()
    assert [(c.fields, c.winner) for c in report.conflicts] == [(("title",), "b")]
    assert pair.titles("a") == pair.titles("b") == ["Sprint review (Outlook)"]
    conflicts = [e for e in pair.store.journal(pair_id="alice") if e.operation == "conflict"]
    assert conflicts[0].level == "info"


def test_conflict_tie_goes_to_the_severa_side(pair: Pair) -> None:
    a = pair.activity("Retro")
    pair.engine.run()
    b = pair.partner(a)
    pair.tick()  # both edits at the same instant
    pair.a.user_update(a.id or "", title="Retro A")
    pair.b.user_update(b.id or "", title="Retro B")
    report = pair.engine.run()
    assert report.conflicts[0].winner == "a"
    assert pair.titles("b") == ["Retro A"]


@pytest.mark.parametrize(
    ("rule", "title"), [(ConflictRule.A_WINS, "A"), (ConflictRule.B_WINS, "B")]
)
def test_conflict_fixed_rules(rule: ConflictRule, title: str) -> None:
    pair = Pair(SyncPolicy(outgoing_types={"meeting"}, default_type="x", conflict_rule=rule))
    a = pair.activity("T")
    pair.engine.run()
    b = pair.partner(a)
    pair.tick()
    pair.b.user_update(b.id or "", title="B")
    pair.tick()
    pair.a.user_update(a.id or "", title="A")
    pair.engine.run()
    assert pair.titles("a") == pair.titles("b") == [title]


def test_conflict_free_merge_keeps_both_sides_edits_of_different_fields(pair: Pair) -> None:
    a = pair.activity("Board")
    pair.engine.run()
    b = pair.partner(a)
    pair.a.user_update(a.id or "", title="Board meeting")
    pair.b.user_update(b.id or "", location="HQ")
    report = pair.engine.run()
    assert report.conflicts == ()
    for item in (*pair.a.all_items(), *pair.b.all_items()):
        assert (item.title, item.location) == ("Board meeting", "HQ")


@pytest.mark.parametrize("deleted_side", ["a", "b"])
def test_edit_beats_delete(pair: Pair, deleted_side: str) -> None:
    a = pair.activity("Kick-off")
    pair.engine.run()
    b = pair.partner(a)
    if deleted_side == "a":
        pair.a.user_delete(a.id or "")
        pair.b.user_update(b.id or "", body="Bring slides")
    else:
        pair.b.user_delete(b.id or "")
        pair.a.user_update(a.id or "", body="Bring slides")
    report = pair.engine.run()
    assert report.deleted == {"a": 0, "b": 0}
    assert report.created[deleted_side] == 1  # type: ignore[index]
    bodies = [i.body for i in (*pair.a.all_items(), *pair.b.all_items())]
    assert bodies == ["Bring slides", "Bring slides"]
    assert pair.engine.run().total_writes == 0


def test_delete_propagates(pair: Pair) -> None:
    a = pair.activity("Obsolete")
    pair.engine.run()
    pair.a.user_delete(a.id or "")
    report = pair.engine.run()
    assert report.deleted == {"a": 0, "b": 1}
    assert pair.b.all_items() == []
    assert pair.store.count("alice") == 0


def test_both_deleted_drops_the_link_and_writes_nothing(pair: Pair) -> None:
    a = pair.activity("Cancelled")
    pair.engine.run()
    b = pair.partner(a)
    pair.a.user_delete(a.id or "")
    pair.b.user_delete(b.id or "")
    report = pair.engine.run()
    assert report.total_writes == 0
    assert report.unlinked == 1
    assert pair.store.count("alice") == 0


def test_leaving_the_window_is_not_a_delete(pair: Pair) -> None:
    a = pair.activity("Offsite", days=3)
    pair.engine.run()
    far = NOW + timedelta(days=500)
    pair.a.user_update(a.id or "", start=far, end=far + timedelta(hours=2))
    report = pair.engine.run()
    assert report.deleted == {"a": 0, "b": 0}
    assert report.updated == {"a": 0, "b": 1}
    assert pair.partner(a).start == far
    # And time passing so that the item drops out of the window deletes nothing.
    pair.clock.advance(timedelta(days=40))
    assert pair.engine.run().total_writes == 0
    assert len(pair.b.all_items()) == 1


def test_leaving_the_policy_is_not_a_delete(pair: Pair) -> None:
    a = pair.activity("Consulting")
    pair.engine.run()
    pair.a.user_update(a.id or "", activity_type="travel")
    report = pair.engine.run()
    assert report.total_writes == 0
    assert pair.titles("b") == ["Consulting"]


def test_mass_deletion_guard_refuses_before_deleting_and_journals(pair: Pair) -> None:
    items = [pair.activity(f"item {i}") for i in range(12)]
    pair.engine.run()
    for item in items[:11]:
        pair.a.user_delete(item.id or "")
    with pytest.raises(MassDeletionRefused) as info:
        pair.engine.run()
    assert (info.value.side, info.value.deletes, info.value.total) == ("b", 11, 12)
    assert len(pair.b.all_items()) == 12
    guard = [e for e in pair.store.journal(pair_id="alice") if e.operation == "guard"]
    assert "refusing to delete 11 of 12" in guard[0].message
    report = pair.engine.run(allow_mass_delete=True)
    assert report.deleted["b"] == 11
    assert len(pair.b.all_items()) == 1


def test_mass_deletion_guard_lets_small_deletions_through(pair: Pair) -> None:
    items = [pair.activity(f"item {i}") for i in range(9)]
    pair.engine.run()
    for item in items:
        pair.a.user_delete(item.id or "")
    assert pair.engine.run().deleted["b"] == 9  # fewer than mass_delete_min


def test_verify_finds_silent_divergence(pair: Pair) -> None:
    a = pair.activity("Audit")
    pair.activity("Fine")
    pair.engine.run()
    assert pair.engine.verify().ok
    b = pair.partner(a)
    # Change B behind the engine's back in a way its delta never reports.
    pair.b.calendar._items[b.id or ""] = b.evolve(location="Somewhere else")
    report = pair.engine.verify()
    assert report.checked == 2
    assert [(d.side, d.item_id, d.fields) for d in report.divergences] == [
        ("b", b.id, ("location",))
    ]
    assert not report.ok
    pair.b.calendar._items.pop(b.id or "")
    assert [d.missing for d in pair.engine.verify().divergences] == [True]


def test_lease_held_refuses_a_second_concurrent_run(pair: Pair) -> None:
    pair.store.acquire("alice", "another-worker", now=NOW, ttl=timedelta(minutes=5))
    with pytest.raises(LeaseHeld, match="another-worker"):
        pair.engine.run()
    pair.clock.advance(timedelta(minutes=6))  # the other run died; its lease expired
    assert pair.engine.run().ok


def test_crash_after_create_is_resolved_by_sync_key_without_duplicate(pair: Pair) -> None:
    pair.activity("Crash test")
    pair.b.inject("create", Fault.crash_after_write())
    with pytest.raises(InjectedCrash):
        pair.engine.run()
    assert len(pair.store.intents("alice")) == 1
    report = pair.engine.run()
    assert report.linked == 1
    assert report.total_writes == 0
    assert pair.titles("b") == ["Crash test"]
    assert pair.store.intents("alice") == []


def test_crash_before_the_create_reached_the_server_creates_it_next_run(pair: Pair) -> None:
    pair.activity("Lost in flight")
    pair.b.inject("apply_batch", Fault.call(lambda: (_ for _ in ()).throw(InjectedCrash())))
    with pytest.raises(InjectedCrash):
        pair.engine.run()
    assert pair.b.all_items() == []
    report = pair.engine.run()
    assert report.created["b"] == 1
    assert pair.titles("b") == ["Lost in flight"]


def test_throttling_is_retried_honouring_retry_after(pair: Pair) -> None:
    pair.activity("Busy server")
    pair.b.inject("create", Fault.throttle(retry_after=7), times=2)
    report = pair.engine.run()
    assert report.ok
    assert report.created["b"] == 1
    assert pair.sleeps == [7, 7]


def test_s6_item_that_keeps_failing_is_journaled_and_the_rest_goes_on() -> None:
    pair = Pair(max_attempts=2)
    pair.b._capabilities = Capabilities(delta=True, batch_size=1)
    pair.activity("Will fail")
    pair.activity("Will pass", days=2)
    pair.b.inject("create", Fault.unavailable(), times=2)
    report = pair.engine.run()
    assert not report.ok
    assert report.created["b"] == 1
    (entry,) = report.errors
    assert entry.operation == "create"
    assert entry.user_id == "alice"
    assert entry.error_type == "BackendUnavailable"
    assert entry.message == "calendar: create failed with 503 (injected)"
    assert not report.cursors_advanced  # the failed item is retried next run
    again = pair.engine.run()
    assert again.ok
    assert pair.titles("b") == ["Will fail", "Will pass"]


def test_s6_journal_redacts_secrets_in_backend_messages(pair: Pair) -> None:
    pair.activity("Secret")
    pair.b.inject(
        "changes",
        Fault.call(lambda: (_ for _ in ()).throw(_auth_error())),
    )
    report = pair.engine.run()
    assert not report.ok
    assert "hunter2" not in report.errors[0].message
    assert "[REDACTED]" in report.errors[0].message


def _auth_error() -> Exception:
    from severa_ext.errors import AuthError

    return AuthError("token refused: access_token=hunter2", backend="calendar")


def test_stale_etag_re_reads_and_re_plans_the_item(pair: Pair) -> None:
    a = pair.activity("Concurrent")
    pair.engine.run()
    b = pair.partner(a)
    pair.a.user_update(a.id or "", title="Concurrent (A)")
    pair.b.inject("update", Fault.call(lambda: pair.b.user_update(b.id or "", body="user")))
    report = pair.engine.run()
    assert report.ok
    for item in (*pair.a.all_items(), *pair.b.all_items()):
        assert (item.title, item.body) == ("Concurrent (A)", "user")


def test_dry_run_and_plan_write_nothing(pair: Pair) -> None:
    pair.activity("Preview")
    plan = pair.engine.plan()
    assert [type(r) for r in plan.writes] == [Create]
    report = pair.engine.run(dry_run=True)
    assert report.dry_run
    assert report.created["b"] == 1
    assert pair.b.all_items() == []
    assert pair.store.count("alice") == 0
    assert pair.b.write_count == 0


def test_progress_callback_reports_phases_and_counts(pair: Pair) -> None:
    for i in range(3):
        pair.activity(f"p{i}")
    seen: list[tuple[int, int, str]] = []
    pair.engine.run(progress=lambda done, total, phase: seen.append((done, total, phase)))
    phases = [phase for _, _, phase in seen]
    assert phases[0] == "list"
    assert "write" in phases
    assert seen[-1] == (3, 3, "done")


def test_writes_are_batched_with_one_durable_step_per_batch() -> None:
    pair = Pair()
    pair.b._capabilities = Capabilities(delta=True, batch_size=10)
    steps: list[int] = []
    original = pair.store.apply

    def counting(pair_id, change):  # type: ignore[no-untyped-def]
        steps.append(len(change.put))
        original(pair_id, change)

    pair.store.apply = counting  # type: ignore[method-assign]
    for i in range(25):
        pair.activity(f"batch {i}")
    pair.engine.run()
    assert pair.b.calls["apply_batch"] == 3
    # intents of batch 1; links of batch 1 + intents of batch 2; ...; last links; cursors
    assert steps == [10, 20, 15, 5, 0]


def test_update_and_delete_records_carry_the_etag_they_expect(pair: Pair) -> None:
    a = pair.activity("Guarded")
    pair.engine.run()
    b = pair.partner(a)
    pair.a.user_update(a.id or "", title="Guarded 2")
    (update,) = pair.engine.plan().writes
    assert isinstance(update, Update)
    assert update.if_match == b.etag
    pair.a.user_delete(a.id or "")
    (delete,) = pair.engine.plan().writes
    assert isinstance(delete, Delete)
    assert delete.if_match == b.etag


def test_engine_refuses_the_same_backend_on_both_sides() -> None:
    side = MemoryBackend()
    with pytest.raises(ValidationError, match="different backends"):
        SyncEngine(side, side, MemoryStateStore(), pair_id="p", policy=POLICY)


@pytest.mark.parametrize("module", ["severa_ext.sync.planner", "severa_ext.sync.policy"])
def test_planner_and_policy_are_pure(module: str) -> None:
    """The planner and policy import no I/O module and never read the clock (STYLE 1)."""
    code = (
        f"import json, sys, importlib; importlib.import_module({module!r}); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(json.loads(out))
    assert not loaded & {"socket", "sqlite3", "requests", "time_machine", "http.client"}


def test_a_failed_listing_is_journaled_and_releases_the_lease(pair: Pair) -> None:
    pair.activity("Unreachable")
    pair.b.inject("changes", Fault.unavailable(), times=5)
    report = pair.engine.run()
    assert not report.ok
    assert report.errors[0].operation == "list"
    assert report.total_writes == 0
    lease = pair.store.acquire("alice", "someone-else", now=NOW, ttl=timedelta(minutes=1))
    pair.store.release(lease)


def test_no_change_sync_reads_deltas_only_and_scans_no_links(pair: Pair) -> None:
    """Cost is proportional to changes, not to N: no full listing, no link scan."""
    for i in range(20):
        pair.activity(f"item {i}")
    pair.engine.run()
    pair.engine.run()  # the echo of the first run's writes
    scans: list[str] = []
    original = pair.store.links

    def scanning(pair_id):  # type: ignore[no-untyped-def]
        scans.append(pair_id)
        return original(pair_id)

    pair.store.links = scanning  # type: ignore[method-assign]
    before = pair.b.calls.copy()
    report = pair.engine.run()
    assert report.total_writes == 0
    assert report.changes == 0
    assert scans == []
    assert pair.b.calls - before == {"changes": 1}


def test_verify_and_sync_work_with_the_sqlite_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from severa_ext.sync.sqlite import SQLiteStateStore

    pair = Pair()
    pair.store = SQLiteStateStore(tmp_path / "state.sqlite")
    pair.engine = SyncEngine(
        pair.a, pair.b, pair.store, pair_id="alice", policy=POLICY, clock=pair.clock
    )
    pair.activity("Persisted", body="Notes")
    pair.event("Private thing", private=True)
    assert pair.engine.run().created == {"a": 1, "b": 1}
    assert pair.engine.run().total_writes == 0
    (event,) = [i for i in pair.b.all_items() if i.title == "Persisted"]
    pair.b.calendar._items[event.id or ""] = event.evolve(body="changed behind our back")
    report = pair.engine.verify()
    assert [(d.side, d.fields) for d in report.divergences] == [("b", ("body",))]
    pair.store.close()


def test_a_retry_after_beyond_the_limit_is_not_waited_for_but_retried_next_run() -> None:
    pair = Pair(max_retry_after=60)
    pair.activity("Patient")
    pair.b.inject("create", Fault.throttle(retry_after=3600))
    report = pair.engine.run()
    assert pair.sleeps == []
    assert report.errors[0].error_type == "Throttled"
    assert not report.cursors_advanced
    assert pair.engine.run().created["b"] == 1


def test_debug_log_has_plan_detail_but_never_bodies(pair: Pair, caplog) -> None:  # type: ignore[no-untyped-def]
    pair.activity("Logged", body="confidential body text")
    with caplog.at_level("DEBUG", logger="severa_ext.sync.engine"):
        pair.engine.run()
    assert any("plan: Create side=b" in m for m in caplog.messages)
    assert any(m.startswith("create on side b") for m in caplog.messages)
    assert not any("confidential" in m for m in caplog.messages)


# -- S3 with activities the policy does not send ------------------------------------

NO_OUTGOING = SyncPolicy(outgoing_types=(), default_type="other", personal_type="personal")


@pytest.mark.parametrize(
    "fields",
    [{"activity_type": "internal"}, {"activity_type": "meeting", "project_task": True}],
    ids=["type-not-outgoing", "project-task"],
)
def test_s3_first_sync_links_a_copy_of_an_activity_the_policy_does_not_send(
    fields: dict[str, object],
) -> None:
    """S3/S9/S8: an entry on both sides is linked, never duplicated on side A, even when
    the policy sends nothing; linking writes nothing to the calendar."""
    pair = Pair(NO_OUTGOING)
    a = pair.activity("Budget review", **fields)
    pair.event("Budget review")
    report = pair.engine.run()
    assert report.ok
    assert report.linked == 1
    assert report.created == {"a": 0, "b": 0}
    assert pair.b.writes["create"] == 0
    assert pair.titles("a") == pair.titles("b") == ["Budget review"]
    assert pair.partner(a).title == "Budget review"
    assert pair.engine.run().total_writes == 0


def test_s3_linked_non_outgoing_activity_syncs_both_ways_like_any_linked_entry() -> None:
    """Documented: once linked, the link governs, not the policy (edits travel both ways)."""
    pair = Pair(NO_OUTGOING)
    a = pair.activity("Budget review", activity_type="internal")
    b = pair.event("Budget review")
    pair.engine.run()
    pair.tick()
    pair.a.user_update(a.id or "", location="Room 5")
    assert pair.engine.run().updated == {"a": 0, "b": 1}
    assert pair.partner(a).location == "Room 5"
    pair.tick()
    pair.b.user_update(b.id or "", title="Budget review (moved)")
    assert pair.engine.run().updated == {"a": 1, "b": 0}
    kept = pair.partner(b)
    assert kept.title == "Budget review (moved)"
    assert kept.activity_type == "internal"  # S9: a linked item keeps its type


def test_s3_unmatched_non_outgoing_activity_is_still_not_sent() -> None:
    """S8: linking is not sending: without a calendar copy nothing goes out."""
    pair = Pair(NO_OUTGOING)
    pair.activity("Internal", activity_type="internal")
    pair.event("Something else")
    report = pair.engine.run()
    assert report.created == {"a": 1, "b": 0}
    assert report.linked == 0
    assert pair.titles("b") == ["Something else"]


# -- fields a side does not keep (Capabilities.content_fields) -----------------------

NO_SHOW_AS = Capabilities(
    delta=True,
    batch_size=50,
    content_fields=frozenset(f for f in CONTENT_FIELDS if f != "show_as"),
)


def test_verify_ignores_fields_a_side_does_not_keep() -> None:
    """An activity has no ``show_as``: verify reports no false divergence for it."""
    pair = Pair(a=NO_SHOW_AS)
    pair.event("Offsite", show_as=ShowAs.FREE)
    assert pair.engine.run().created == {"a": 1, "b": 0}
    (activity,) = pair.a.all_items()
    assert activity.show_as is ShowAs.BUSY  # dropped by side A
    assert pair.engine.verify().ok
    pair.a.user_update(activity.id or "", title="Offsite (changed behind our back)")
    found = pair.engine.verify()
    assert [d.fields for d in found.divergences] == [("title",)]


def test_edits_from_a_side_without_a_field_keep_the_other_sides_value() -> None:
    """No ping-pong and no loss: side A's default never overwrites B's ``show_as``."""
    pair = Pair(a=NO_SHOW_AS)
    b = pair.event("Offsite", show_as=ShowAs.FREE)
    pair.engine.run()
    (activity,) = pair.a.all_items()
    pair.tick()
    pair.a.user_update(activity.id or "", title="Offsite 2")
    report = pair.engine.run()
    assert report.updated == {"a": 0, "b": 1}
    now_b = pair.b.get(b.id or "")
    assert now_b is not None
    assert (now_b.title, now_b.show_as) == ("Offsite 2", ShowAs.FREE)
    # Both edit: merge compares only fields both keep; B's show_as edit survives.
    pair.tick()
    pair.a.user_update(activity.id or "", location="Hall")
    pair.b.user_update(b.id or "", show_as=ShowAs.TENTATIVE)
    report = pair.engine.run()
    assert report.conflicts == ()
    now_b = pair.b.get(b.id or "")
    assert now_b is not None
    assert (now_b.location, now_b.show_as) == ("Hall", ShowAs.TENTATIVE)
    assert len(pair.engine.plan()) == 0
    assert pair.engine.run().total_writes == 0
    assert pair.engine.verify().ok


# -- dry run counts == real run counts ------------------------------------------------


def _counts(report: SyncReport) -> tuple[object, ...]:
    return (
        dict(report.created),
        dict(report.updated),
        dict(report.deleted),
        dict(report.skipped),
        report.linked,
        report.unlinked,
        report.quarantined,
        len(report.conflicts),
        report.changes,
        len(report.problems),
    )


def test_dry_run_counts_links_like_the_real_run(pair: Pair) -> None:
    pair.activity("Steering group")
    pair.event("Steering group", location="Room 1")  # linked and reconciled
    pair.activity("Planning")
    pair.event("Dentist", days=2)
    dry = pair.engine.run(dry_run=True)
    real = pair.engine.run()
    assert dry.linked == real.linked == 1
    assert _counts(dry) == _counts(real)


_ENTRY = st.tuples(
    st.sampled_from(("Standup", "Review", "Lunch")),
    st.integers(min_value=1, max_value=3),
    st.sampled_from(("a", "b", "both")),
    st.sampled_from(("meeting", "internal")),
    st.sampled_from(("", "Room 1")),
)


@settings(max_examples=scaled(40), deadline=None)
@given(
    entries=st.lists(_ENTRY, max_size=8),
    read_only=st.booleans(),
    edits=st.lists(st.integers(min_value=0, max_value=20), max_size=4),
)
def test_dry_run_report_counts_equal_the_real_runs(
    entries: list[tuple[str, int, str, str, str]], read_only: bool, edits: list[int]
) -> None:
    """Whatever both sides hold (copies, duplicates, types, read-only B), a dry run
    reports exactly the counts the real run then reports, first and later syncs."""
    caps = Capabilities(delta=True, batch_size=3, read_only=read_only)
    pair = Pair(NO_OUTGOING if len(entries) % 2 else POLICY, b=caps)
    for title, days, where, activity_type, location in entries:
        if where in ("a", "both"):
            pair.activity(title, days=days, activity_type=activity_type, location=location)
        if where in ("b", "both"):
            pair.event(title, days=days)
    for _ in range(2):
        dry = pair.engine.run(dry_run=True)
        real = pair.engine.run()
        assert _counts(dry) == _counts(real)
        items = pair.a.all_items()
        for index in edits:
            if items:
                pair.tick()
                target = items[index % len(items)]
                if index % 3 == 0:
                    pair.a.user_delete(target.id or "")
                    items.remove(target)
                else:
                    pair.a.user_update(target.id or "", body=f"edit {index}")


# -- read-only side -------------------------------------------------------------------

READ_ONLY = Capabilities(delta=True, batch_size=50, read_only=True)


def test_read_only_side_gets_no_writes_and_no_error_each_run() -> None:
    """An ICS subscription: nothing is sent to it, what is not sent is counted, the
    journal stays clean, and the calendar's entries still come in (S9)."""
    pair = Pair(b=READ_ONLY)
    pair.activity("Customer meeting")
    pair.event("Holiday")
    report = pair.engine.run()
    assert report.ok
    assert report.created == {"a": 1, "b": 0}
    assert report.skipped == {"a": 0, "b": 1}
    assert pair.b.calls["create"] == pair.b.calls["apply_batch"] == 0
    assert pair.store.journal(pair_id="alice") == []
    again = pair.engine.run()
    assert again.ok
    assert again.total_writes == 0
    assert pair.b.calls["apply_batch"] == 0
    assert pair.engine.run(dry_run=True).skipped == again.skipped


def test_read_only_side_is_never_deleted_from_nor_counted_as_a_loss() -> None:
    pair = Pair(b=READ_ONLY)
    holiday = pair.event("Holiday")
    pair.engine.run()
    (activity,) = pair.a.all_items()
    pair.tick()
    pair.a.user_update(activity.id or "", location="Beach")
    edited = pair.engine.run()
    assert edited.ok
    assert edited.skipped == {"a": 0, "b": 1}
    pair.tick()
    pair.a.user_delete(activity.id or "")
    deleted = pair.engine.run()
    assert deleted.ok
    assert deleted.deleted == {"a": 0, "b": 0}
    assert deleted.skipped == {"a": 0, "b": 1}
    assert deleted.unlinked == 0
    assert pair.b.get(holiday.id or "") is not None
    assert pair.store.journal(pair_id="alice") == []
    assert [link.b_id for link in pair.store.links("alice")] == [holiday.id]


def test_read_only_side_still_sends_its_changes_to_the_writable_side() -> None:
    pair = Pair(b=READ_ONLY)
    holiday = pair.event("Holiday")
    pair.engine.run()
    pair.tick()
    pair.b.user_update(holiday.id or "", title="Public holiday")
    report = pair.engine.run()
    assert report.updated == {"a": 1, "b": 0}
    assert pair.titles("a") == ["Public holiday"]
    pair.b.user_delete(holiday.id or "")
    assert pair.engine.run().deleted == {"a": 1, "b": 0}
    assert pair.titles("a") == []


# -- S6: broken entries the backends skipped -------------------------------------------


class _BrokenEntries(MemoryBackend):
    """A memory side that, like the ICS reader, skips broken entries and lists them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.problems: list[BadItem] = []


def test_s6_items_a_backend_skipped_are_journaled_once_per_run() -> None:
    backend = _BrokenEntries("severa", clock=FixedClock(NOW))
    pair = Pair(backend_a=backend)
    backend.problems = [BadItem("act-7", "unknown activity type 'x'")]
    pair.activity("Planning")
    dry = pair.engine.run(dry_run=True)
    assert [p.item_ref for p in dry.problems] == ["act-7"]
    assert pair.store.journal(pair_id="alice") == []  # a dry run stores nothing
    report = pair.engine.run()
    assert report.created == {"a": 0, "b": 1}  # the rest syncs
    (entry,) = report.problems
    assert (entry.side, entry.item_ref, entry.level, entry.user_id) == (
        "a",
        "act-7",
        "error",
        "alice",
    )
    assert "unknown activity type 'x'" in entry.message
    assert pair.store.journal(pair_id="alice") == [entry]
    pair.engine.run()
    assert len(pair.store.journal(pair_id="alice")) == 2  # once per run
    backend.problems = []
    assert pair.engine.run().problems == ()
    assert len(pair.store.journal(pair_id="alice")) == 2


def test_s8_edit_beats_delete_never_restores_a_linked_project_task_on_the_calendar() -> None:
    """A project task linked to the user's own calendar copy (S3): when the user deletes
    that copy and edits the task, the task stays (no loss) and nothing is sent (S8)."""
    pair = Pair(NO_OUTGOING)
    task = pair.activity("Design", activity_type="meeting", project_task=True)
    copy = pair.event("Design")
    assert pair.engine.run().linked == 1
    pair.tick()
    pair.b.user_delete(copy.id or "")
    pair.a.user_update(task.id or "", location="Lab")
    report = pair.engine.run()
    assert report.ok
    assert report.created == {"a": 0, "b": 0}
    assert report.unlinked == 1
    assert pair.titles("a") == ["Design"]
    assert pair.titles("b") == []
    assert pair.engine.run().total_writes == 0


def test_invariant4_failed_recreate_is_not_recovered_onto_a_quarantined_copy() -> None:
    """Invariant 4 (no loss), S3: a create refused with a stale etag leaves its intent
    pending; the next run's ``find(sync_key)`` must not take the quarantined copy made
    by another tool for it (that copy has the old content and would overwrite the
    user's edit)."""
    pair = Pair(max_attempts=2)
    a = pair.activity("Old title")
    pair.engine.run()
    (first,) = pair.b.all_items()
    copy = pair.b.user_create(first.evolve(id=None, etag=None))  # another tool, same key
    assert pair.engine.run().quarantined == 1  # parked while its original is there
    pair.b.user_delete(first.id or "")
    pair.tick()
    pair.a.user_update(a.id or "", title="New title")  # edit beats delete: re-created
    pair.b.inject("create", Fault.stale_etag(), times=2)
    failed = pair.engine.run()
    assert not failed.ok
    report = pair.engine.run()
    assert report.ok, report.errors
    assert pair.titles("a") == ["New title"]
    assert sorted(pair.titles("b")) == ["New title", "Old title"]  # the copy stays parked
    assert pair.partner(pair.a.get(a.id or "")).id != copy.id  # type: ignore[arg-type]
    assert pair.engine.run().total_writes == 0


def test_invariant1_refused_recreate_is_retried_under_its_key_not_orphaned() -> None:
    """Invariant 1 (no orphan), S9, S3: a create refused with a stale etag (a create
    has no etag to re-read) keeps its intent; the next run creates it under the same
    key. Re-planning the source as a new item would leave an activity that came from
    the calendar (a type the policy does not send) unlinked, stamped with a key no
    link owns, and the user's edit would never reach the calendar."""
    pair = Pair(max_attempts=2)
    event = pair.event("Dentist")
    pair.engine.run()
    (activity,) = pair.a.all_items()
    assert activity.activity_type == "other"  # S9: not a type side A sends
    key = activity.sync_key
    assert key is not None
    pair.b.user_delete(event.id or "")
    pair.tick()
    pair.a.user_update(activity.id or "", title="Dentist at 9")  # edit beats delete
    pair.b.inject("create", Fault.stale_etag(), times=2)
    failed = pair.engine.run()
    assert not failed.ok
    assert failed.created == {"a": 0, "b": 0}
    report = pair.engine.run()
    assert report.ok, report.errors
    assert report.created == {"a": 0, "b": 1}
    assert pair.titles("b") == ["Dentist at 9"]
    (link,) = pair.store.links("alice")
    assert (type(link), link.sync_key, link.a_id) == (Link, key, activity.id)
    assert pair.partner(activity).sync_key == key
    assert pair.engine.run().total_writes == 0
