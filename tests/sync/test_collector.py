"""Pausing the cyclic garbage collector around a run (``SyncEngine(pause_gc=True)``)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from severa_ext.backends.memory import Fault, MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.sync._collector import collector_paused
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.state import MemoryStateStore

NOW = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
POLICY = SyncPolicy(outgoing_types={"meeting"}, default_type="internal")


@pytest.fixture(autouse=True)
def collector_enabled() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:  # pragma: no cover - pytest runs with the collector on
        gc.disable()


def test_the_collector_is_paused_inside_and_restored_after() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with collector_paused(active=False):
        assert gc.isenabled()


def test_an_error_inside_still_restores_it() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_the_host_disabled_stays_disabled() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_overlapping_pauses_in_threads_restore_when_the_last_ends() -> None:
    inside = threading.Barrier(2)
    first_done = threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with collector_paused():
            inside.wait()
        first_done.set()

    def second() -> None:
        with collector_paused():
            inside.wait()
            first_done.wait(5)
            seen.append(gc.isenabled())  # the first run ended; this one still runs
        seen.append(gc.isenabled())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == [False, True]


@pytest.mark.parametrize("pause", [True, False])
def test_the_engine_pauses_the_collector_only_when_asked(pause: bool) -> None:
    clock = FixedClock(NOW)
    a = MemoryBackend("severa", clock=clock)
    b = MemoryBackend("calendar", clock=clock)
    a.user_create(
        CalendarItem(
            "Review",
            NOW + timedelta(days=1),
            NOW + timedelta(days=1, hours=1),
            activity_type="meeting",
        )
    )
    during: list[bool] = []
    b.inject("create", Fault.call(lambda: during.append(gc.isenabled())))
    engine = SyncEngine(
        a, b, MemoryStateStore(), pair_id="p", policy=POLICY, clock=clock, pause_gc=pause
    )
    report = engine.run()
    assert report.created["b"] == 1
    assert during == [not pause]
    assert gc.isenabled()
