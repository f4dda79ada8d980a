"""The sync engine on the SQLite store: restarts, crashes and a lease left behind."""

from __future__ import annotations

from datetime import timedelta

import pytest

from severa_ext.backends.memory import Fault, InjectedCrash, MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.errors import LeaseHeld
from severa_ext.sync.items import CalendarItem
from severa_ext.sync.links import Intent, Link
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.sqlite import SQLiteStateStore
from severa_ext.testing import SyncHarness
from severa_ext.testing._fixtures_memory import START


def _harness(a, b, path, clock, holder):
    return SyncHarness(
        a,
        b,
        policy=SyncPolicy.calendars(),
        store=SQLiteStateStore(path),
        clock=clock,
        holder=holder,
    )


def test_state_survives_a_restart_and_the_next_run_writes_nothing(tmp_path):
    clock = FixedClock(START)
    a, b = MemoryBackend("a", clock=clock), MemoryBackend("b", clock=clock)
    for n in range(20):
        start = START + timedelta(days=n % 5, hours=n)
        a.user_create(CalendarItem(f"Item {n}", start, start + timedelta(hours=1)))
    first = _harness(a, b, tmp_path / "state.db", clock, "run-1")
    assert first.sync().created["b"] == 20
    first.store.close()

    clock.advance(timedelta(minutes=5))
    second = _harness(a, b, tmp_path / "state.db", clock, "run-2")
    report = second.sync()
    assert report.ok
    assert sum(report.writes.values()) == 0
    assert second.store.count("pair-1") == 20
    second.store.close()


def test_crash_after_the_remote_write_is_recovered_without_a_duplicate_S3(tmp_path):
    """S3: the intent written before the create is resolved by sync key after a restart.

    A process that really dies never releases its lease (an exception that only
    unwinds the engine does: ``SyncEngine.run`` releases it on the way out). The test
    puts back the lease a dead "run-1" leaves behind; the next run must wait for it to
    expire, then takes it over.
    """
    clock = FixedClock(START)
    a, b = MemoryBackend("a", clock=clock), MemoryBackend("b", clock=clock)
    a.user_create(CalendarItem("Offsite", START, START + timedelta(hours=3)))
    crashed = _harness(a, b, tmp_path / "state.db", clock, "run-1")
    b.inject("create", Fault.crash_after_write())
    with pytest.raises(InjectedCrash):
        crashed.sync()
    assert len(b.all_items()) == 1  # the write happened, the reply was lost
    # What a dead process leaves behind: its lease, still held until it expires.
    crashed.store.acquire("pair-1", "run-1", now=clock.now(), ttl=timedelta(minutes=30))
    crashed.store.close()  # the process is gone

    restarted = _harness(a, b, tmp_path / "state.db", clock, "run-2")
    assert [(type(link), link.side) for link in restarted.links()] == [(Intent, "b")]
    with pytest.raises(LeaseHeld):
        restarted.sync()
    clock.advance(timedelta(hours=1))  # past the default 30-minute lease
    report = restarted.sync()
    assert report.ok
    assert [i.title for i in b.all_items()] == ["Offsite"]
    assert isinstance(restarted.links()[0], Link)
    assert sum(restarted.sync().writes.values()) == 0
    restarted.store.close()
