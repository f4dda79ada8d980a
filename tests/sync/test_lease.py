"""The pair's lease: renewed while a run works, fenced in every durable step, taken
over at once from a dead process of this host (issue 12; S6 journals it)."""

from __future__ import annotations

import multiprocessing
import os
import socket
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from severa_ext.backends.memory import Fault, MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.errors import LeaseHeld
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem, Capabilities
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.sqlite import SQLiteStateStore
from severa_ext.sync.state import Lease, MemoryStateStore, StateChange

NOW = datetime(2026, 5, 4, 8, tzinfo=UTC)
POLICY = SyncPolicy(outgoing_types={"meeting"}, default_type="other")
TTL = timedelta(minutes=1)


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    if request.param == "memory":
        yield MemoryStateStore()
        return
    with SQLiteStateStore(tmp_path / "state.db") as sqlite_store:
        yield sqlite_store


def _engine(a, b, store, clock, holder, step_writes=0):
    return SyncEngine(
        a, b, store, pair_id="p", policy=POLICY, clock=clock, holder=holder,
        lease_ttl=TTL, sleep=lambda _: None, step_writes=step_writes,
    )  # fmt: skip


@pytest.mark.parametrize("step_writes", [0, 10])  # fenced by each step / by the renewal
def test_a_run_that_lost_its_lease_stops_and_nothing_is_duplicated(store, step_writes):
    """TTL shorter than the run; a second run starts mid-way and takes the expired
    lease over. The first run stops before its next write (its lease renewal is
    refused); no duplicates, no loss."""
    clock = FixedClock(NOW)
    caps = Capabilities(delta=True, batch_size=1)
    a = MemoryBackend("severa", capabilities=caps, clock=clock)
    b = MemoryBackend("calendar", capabilities=caps, clock=clock)
    for n in range(10):
        start = NOW + timedelta(days=1, hours=n)
        a.user_create(CalendarItem(f"entry {n}", start, start, activity_type="meeting"))
    first = _engine(a, b, store, clock, "first", step_writes)
    second = _engine(a, b, store, clock, "second")
    reports = []

    def progress(done: int, total: int, phase: str) -> None:
        # After the third write, the first run stalls past its TTL (a call may not
        # outlast the TTL: backends bound each call by a deadline) and a second run
        # takes the expired lease over and syncs.
        if phase == "write" and done == 3 and not reports:
            clock.advance(TTL * 2)
            reports.append(second.run())

    lost = first.run(progress=progress)
    assert not lost.ok
    assert "lease" in [e.operation for e in lost.errors]
    assert not lost.cursors_advanced
    (taken,) = reports
    assert taken.ok
    titles = Counter(item.title for item in b.all_items())
    assert set(titles.values()) == {1}, titles  # no duplicates
    assert len(titles) == 10  # no loss
    final = _engine(a, b, store, clock, "third").run()
    assert final.ok
    assert final.total_writes == 0


def test_a_fenced_step_is_refused_and_leaves_nothing(store):
    lease = store.acquire("p", "me", now=NOW, ttl=TTL)
    store.acquire("p", "other", now=NOW + TTL * 2, ttl=TTL)  # expired: taken over
    with pytest.raises(LeaseHeld) as caught:
        store.apply("p", StateChange(cursors={"a": "c1"}, lease=lease))
    assert caught.value.holder == "other"
    assert store.cursor("p", "a") is None
    with pytest.raises(LeaseHeld):
        store.renew(lease, now=NOW + TTL * 2, ttl=TTL)


def test_renewal_extends_only_a_lease_still_held(store):
    lease = store.acquire("p", "me", now=NOW, ttl=TTL)
    renewed = store.renew(lease, now=NOW + TTL / 2, ttl=TTL)
    assert renewed.expires == NOW + TTL * 1.5
    with pytest.raises(LeaseHeld) as caught:  # still held at NOW + TTL thanks to it
        store.acquire("p", "other", now=NOW + TTL, ttl=TTL)
    assert caught.value.expires == NOW + TTL * 1.5
    assert "until 2026-05-04T08:01:30" in str(caught.value)
    store.release(renewed)
    with pytest.raises(LeaseHeld):
        store.renew(renewed, now=NOW, ttl=TTL)  # released: a renewal cannot revive it
    store.apply("p", StateChange(cursors={"a": "c"}, lease=None))  # unfenced: fine


def _dead_pid() -> int:
    process = multiprocessing.get_context("spawn").Process(target=int)
    process.start()
    process.join()
    return int(process.pid or 0)


def test_a_dead_holders_lease_is_taken_over_at_once_and_journaled(store):
    dead = f"{socket.gethostname()}:{_dead_pid()}:abc"
    store.acquire("p", dead, now=NOW, ttl=timedelta(hours=1))
    a, b = MemoryBackend("severa"), MemoryBackend("calendar")
    engine = SyncEngine(a, b, store, pair_id="p", policy=POLICY, clock=FixedClock(NOW))
    assert engine.run().ok
    (note,) = [e for e in store.journal(pair_id="p") if e.operation == "lease"]
    assert dead in note.message


def test_a_live_or_foreign_holder_is_not_taken_over(store):
    alive = f"{socket.gethostname()}:{os.getppid()}:abc"
    foreign = "elsewhere.example:1:abc"
    for holder in (alive, foreign):
        store.acquire("p", holder, now=NOW, ttl=timedelta(hours=1))
        engine = SyncEngine(
            MemoryBackend("severa"), MemoryBackend("calendar"), store, pair_id="p",
            policy=POLICY, clock=FixedClock(NOW),
        )  # fmt: skip
        with pytest.raises(LeaseHeld) as caught:
            engine.run()
        assert caught.value.holder == holder
        assert caught.value.expires == NOW + timedelta(hours=1)
        store.release(Lease("p", holder, NOW))
    refusals = [e.message for e in store.journal(pair_id="p") if e.operation == "lease"]
    assert len(refusals) == 2  # each refusal is journaled, naming the holder
    assert {alive, foreign} == {h for h in (alive, foreign) for m in refusals if h in m}


def _ten_entries(clock, batch_size=1):
    caps = Capabilities(delta=True, batch_size=batch_size)
    a = MemoryBackend("severa", capabilities=caps, clock=clock)
    b = MemoryBackend("calendar", capabilities=caps, clock=clock)
    for n in range(10):
        start = NOW + timedelta(days=1, hours=n)
        a.user_create(CalendarItem(f"entry {n}", start, start, activity_type="meeting"))
    return a, b


def test_a_long_run_renews_its_lease_so_no_other_run_takes_it(store):
    """A run that lasts four TTLs keeps its lease by renewing it as it works: a
    second run started at any point of it is refused, and the first one ends well."""
    clock = FixedClock(NOW)
    a, b = _ten_entries(clock)
    first = _engine(a, b, store, clock, "first")
    second = _engine(a, b, store, clock, "second")
    refused = []

    def progress(done: int, total: int, phase: str) -> None:
        if phase != "write" or done == 0:  # after each batch (0: the bar's start)
            return
        clock.advance(TTL * 0.4)  # each batch takes 40% of the TTL: 4 TTLs in all
        with pytest.raises(LeaseHeld) as caught:
            second.run()
        refused.append(caught.value.holder)

    report = first.run(progress=progress)
    assert report.ok, report.errors
    assert report.created["b"] == 10
    assert refused == ["first"] * 10
    lease_entries = [e.message for e in store.journal(pair_id="p") if e.operation == "lease"]
    assert all(m.startswith("run refused") for m in lease_entries)  # none lost, none taken
    assert len(b.all_items()) == 10


def test_a_second_run_never_writes_while_the_first_holds_the_pair(store):
    """While one run holds the pair, another engine's run is refused before it reads
    or writes anything; a dry run (no lease, no writes) may still look."""
    clock = FixedClock(NOW)
    a, b = _ten_entries(clock)
    first = _engine(a, b, store, clock, "first")
    second = _engine(a, b, store, clock, "second")
    seen = []

    def progress(done: int, total: int, phase: str) -> None:
        if phase == "write" and done == 5:
            writes = (a.write_count, b.write_count)
            with pytest.raises(LeaseHeld):
                second.run()
            dry = second.run(dry_run=True)
            assert (a.write_count, b.write_count) == writes
            seen.append(dry.dry_run)

    assert first.run(progress=progress).ok
    assert seen == [True]
    assert len(b.all_items()) == 10
    assert _engine(a, b, store, clock, "second").run().total_writes == 0


def test_a_run_whose_lease_was_taken_stops_at_its_next_durable_step(store):
    """Fencing: the lease is taken over mid-run without any renewal being due (a
    run on the same host judged the holder dead). The first run's next durable
    step is refused by the store, in the step's own transaction: the run stops
    before writing more, and the step (the last write's link) is not stored."""
    clock = FixedClock(NOW)
    a, b = _ten_entries(clock)
    first = _engine(a, b, store, clock, "first")
    taken = []

    def progress(done: int, total: int, phase: str) -> None:
        if phase == "write" and done == 3 and not taken:
            taken.append(store.acquire("p", "second", now=NOW, ttl=TTL, replacing="first"))

    report = first.run(progress=progress)
    assert not report.ok
    assert [e.operation for e in report.errors] == ["lease"]
    assert b.write_count == 3  # nothing after the take-over
    kinds = Counter(type(link).__name__ for link in store.links("p"))
    assert kinds == {"Link": 2, "Intent": 1}  # the refused step stored nothing
    store.release(taken[0])
    final = _engine(a, b, store, clock, "third").run()
    assert final.ok
    assert final.linked == 1  # the pending intent found its item: no duplicate
    titles = Counter(item.title for item in b.all_items())
    assert set(titles.values()) == {1}
    assert len(titles) == 10


def test_the_fence_reads_the_lease_in_the_steps_transaction(tmp_path):
    """Two store connections on one SQLite file (two processes): a take-over
    committed through one refuses the other's fenced step, which stores nothing."""
    path = tmp_path / "state.db"
    with SQLiteStateStore(path) as mine, SQLiteStateStore(path) as theirs:
        lease = mine.acquire("p", "me", now=NOW, ttl=TTL)
        mine.apply("p", StateChange(cursors={"a": "c1"}, lease=lease))  # still mine
        theirs.acquire("p", "them", now=NOW, ttl=TTL, replacing="me")
        with pytest.raises(LeaseHeld) as caught:
            mine.apply("p", StateChange(cursors={"a": "c2"}, lease=lease))
        assert caught.value.holder == "them"
        assert theirs.cursor("p", "a") == "c1"
        assert mine.cursor("p", "a") == "c1"


def test_a_long_read_phase_renews_the_lease_too(store):
    """Renewal is not only a matter of writes: a run that spends four TTLs asking
    about removed items (``get`` per confirmed delete) keeps its lease, and a run
    started meanwhile is refused."""
    clock = FixedClock(NOW)
    a, b = _ten_entries(clock)
    assert _engine(a, b, store, clock, "first").run().ok
    for item in b.all_items():
        b.user_delete(item.id)
    second = _engine(a, b, store, clock, "second")
    refused = []

    def slow_get() -> None:
        clock.advance(TTL * 0.4)
        with pytest.raises(LeaseHeld) as caught:
            second.run()
        refused.append(caught.value.holder)

    b.inject("get", Fault.call(slow_get), times=10)
    report = _engine(a, b, store, clock, "first").run(allow_mass_delete=True)
    assert report.ok, report.errors
    assert report.deleted["a"] == 10
    assert refused == ["first"] * 10
