"""The sync engine with EWS on side B, scenario by scenario (S3, S5, S11).

Side A is a memory calendar, side B ``EwsBackend`` over HTTP against ``FakeEwsServer``.
These pin down what the state machine explores at random: a lost SyncState, a user's
recurring series, and a copy with our sync key made by another tool.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from severa_ext.backends.ews import EwsBackend
from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem, Capabilities, content_equal
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.state import MemoryStateStore
from severa_ext.testing.ews_server import FakeEwsServer

pytestmark = pytest.mark.slow

ALICE = "alice@contoso.com"
NOW = datetime(2026, 5, 4, 8, tzinfo=UTC)


def entry(title: str, days: int) -> CalendarItem:
    start = NOW + timedelta(days=days)
    return CalendarItem(title, start, start + timedelta(hours=1))


@pytest.fixture
def pair():
    clock = FixedClock(NOW)
    with FakeEwsServer(clock=clock) as server:
        server.add_mailbox(ALICE)
        severa = MemoryBackend("severa", capabilities=Capabilities(delta=True), clock=clock)
        ews = EwsBackend(server.url, ALICE, allow_loopback_http=True, auth=server.auth())
        engine = SyncEngine(
            severa,
            ews,
            MemoryStateStore(),
            pair_id="alice",
            policy=SyncPolicy.calendars(),
            clock=clock,
            sleep=WAITS.append,
        )
        WAITS.clear()
        yield severa, server, engine
        ews.close()


WAITS: list[float] = []  # what the engine waited for (the backend never waits)


def converged(severa: MemoryBackend, server: FakeEwsServer) -> None:
    mine = sorted(severa.all_items(), key=lambda i: i.title)
    theirs = sorted(server.calendar_items(ALICE), key=lambda i: i.title)
    assert [i.title for i in mine] == [i.title for i in theirs]
    for a, b in zip(mine, theirs, strict=True):
        assert content_equal(a, b), (a, b)


def test_two_way_sync_then_idempotent_s11(pair):
    severa, server, engine = pair
    severa.user_create(entry("From Severa", 1))
    server.create_item(ALICE, entry("From Outlook", 2))
    first = engine.run()
    assert first.ok, first.errors
    assert (first.created["a"], first.created["b"]) == (1, 1)
    converged(severa, server)
    again = engine.run()
    assert sum(again.created.values()) + sum(again.updated.values()) == 0


def test_invalid_sync_state_resyncs_without_duplicates_s3(pair):
    severa, server, engine = pair
    server.create_item(ALICE, entry("Standing", 1))
    severa.user_create(entry("Review", 2))
    assert engine.run().ok
    server.invalidate_sync_states(ALICE)  # e.g. the mailbox moved to another database
    server.create_item(ALICE, entry("New after the move", 3))
    report = engine.run()
    assert report.ok, report.errors
    converged(severa, server)
    titles = Counter(i.title for i in server.calendar_items(ALICE))
    assert max(titles.values()) == 1, titles


def test_user_series_and_moved_occurrence_come_across(pair):
    severa, server, engine = pair
    server.create_series(ALICE, entry("Stand-up", 1), count=3)
    assert engine.run().ok
    assert sorted(i.title for i in severa.all_items()) == ["Stand-up"] * 3
    occurrence = server.calendar_items(ALICE)[1]
    later = occurrence.start + timedelta(hours=3)
    server.update_item(
        ALICE, occurrence.id, occurrence.evolve(start=later, end=later + timedelta(hours=1))
    )
    assert engine.run().ok
    converged(severa, server)


def test_a_copy_with_our_sync_key_is_not_multiplied_s3(pair):
    severa, server, engine = pair
    severa.user_create(entry("Planning", 1))
    assert engine.run().ok
    (ours,) = server.calendar_items(ALICE)
    server.create_item(ALICE, ours.evolve(id=None, etag=None))  # another tool's copy
    report = engine.run()
    assert report.ok, report.errors
    assert engine.run().ok
    assert [i.title for i in severa.all_items()] == ["Planning"]
    assert len(server.calendar_items(ALICE)) == 2  # parked, never copied back to Severa


def test_server_busy_is_waited_for_by_the_engine_not_the_backend(pair):
    """One retry policy (issue 11): EWS raises Throttled with BackOffMilliseconds and
    the engine waits that long and tries again; the run still converges."""
    severa, server, engine = pair
    severa.user_create(entry("Busy day", 1))
    server.fail_next("ErrorServerBusy", times=2, back_off_ms=1500)
    report = engine.run()
    assert report.ok, report.errors
    assert WAITS == [1.5, 1.5]
    converged(severa, server)
