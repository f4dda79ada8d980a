"""The pair's lease: renewed while a run works, fenced in every durable step, taken
over at once from a dead process of this host (issue 12; S6 journals it)."""

from __future__ import annotations

import multiprocessing
import os
import socket
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from severa_ext.backends.memory import MemoryBackend
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
