"""The sync engine with Graph on side B: the engine owns every wait (issue 11, point 5).

The Graph backend never sleeps and never retries; throttling inside a ``$batch`` and on
a whole call reaches the engine as ``Throttled`` with the server's ``Retry-After``, and
the engine's one retry policy waits and tries again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem, Capabilities
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.state import MemoryStateStore
from severa_ext.testing.graph_server import FakeGraphServer

pytestmark = pytest.mark.slow

ALICE = "alice@contoso.com"
NOW = datetime(2026, 5, 4, 8, tzinfo=UTC)


def entry(title: str, days: int) -> CalendarItem:
    start = NOW + timedelta(days=days)
    return CalendarItem(title, start, start + timedelta(hours=1))


@pytest.fixture
def pair():
    clock = FixedClock(NOW)
    waits: list[float] = []
    with FakeGraphServer(clock=clock) as server:
        server.add_mailbox(ALICE)
        severa = MemoryBackend("severa", capabilities=Capabilities(delta=True), clock=clock)
        with server.backend(ALICE, timeout=5) as graph:
            engine = SyncEngine(
                severa,
                graph,
                MemoryStateStore(),
                pair_id="alice",
                policy=SyncPolicy.calendars(),
                clock=clock,
                sleep=waits.append,
            )
            yield severa, server, engine, waits


def test_writes_throttled_inside_a_batch_are_retried_by_the_engine(pair):
    severa, server, engine, waits = pair
    for day in range(5):
        severa.user_create(entry(f"Entry {day}", day + 1))
    server.throttle_in_batch(3, retry_after=2)
    report = engine.run()
    assert report.ok, report.errors
    assert 2.0 in waits
    assert sorted(i.title for i in server.events(ALICE)) == [f"Entry {d}" for d in range(5)]


def test_a_throttled_listing_is_waited_for_by_the_engine(pair):
    severa, server, engine, waits = pair
    server.user_create(ALICE, entry("From Outlook", 2))
    server.throttle(1, retry_after=3, kinds=["GET delta"])
    report = engine.run()
    assert report.ok, report.errors
    assert waits == [3.0]
    assert [i.title for i in severa.all_items()] == ["From Outlook"]
