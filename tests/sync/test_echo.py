"""The echo of a run's own writes: the next delta lists them, and the run leaves them
out by their etags without loading their links (``StateStore.etags_by_ids``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem, Capabilities, Side
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.state import Link, MemoryStateStore

NOW = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
POLICY = SyncPolicy(outgoing_types={"meeting"}, default_type="internal")


class CountingStore(MemoryStateStore):
    """Counts the links a run loads by id."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded = 0

    def links_by_ids(self, pair_id: str, side: Side, ids: Iterable[str]) -> dict[str, Link]:
        found = super().links_by_ids(pair_id, side, ids)
        self.loaded += len(found)
        return found


def _pair(n: int) -> tuple[MemoryBackend, MemoryBackend, CountingStore, SyncEngine]:
    clock = FixedClock(NOW)
    caps = Capabilities(delta=True, batch_size=10)
    a = MemoryBackend("severa", capabilities=caps, clock=clock)
    b = MemoryBackend("calendar", capabilities=caps, clock=clock)
    for i in range(n):
        start = NOW + timedelta(days=1, hours=i)
        a.user_create(
            CalendarItem(f"entry {i}", start, start + timedelta(hours=1), activity_type="meeting")
        )
    store = CountingStore()
    engine = SyncEngine(a, b, store, pair_id="p", policy=POLICY, clock=clock)
    return a, b, store, engine


def test_the_echo_of_a_runs_own_writes_loads_no_links() -> None:
    _a, _b, store, engine = _pair(30)
    assert engine.run().created["b"] == 30
    store.loaded = 0
    echo = engine.run()  # the delta of side B lists the 30 items the first run made
    assert echo.total_writes == 0
    assert store.loaded == 0
    assert echo.changes == 0


def test_an_item_edited_after_the_write_is_not_taken_for_an_echo() -> None:
    a, b, _store, engine = _pair(5)
    engine.run()
    target = b.all_items()[2]
    assert target.id is not None
    b.user_update(target.id, location="Room 7")  # a new etag: a real change
    report = engine.run()
    assert report.updated["a"] == 1
    (activity,) = [i for i in a.all_items() if i.title == target.title]
    assert activity.location == "Room 7"
    assert engine.run().total_writes == 0
