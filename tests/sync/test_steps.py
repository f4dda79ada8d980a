"""Durable steps that grow on a side whose flush rewrites its whole store
(``Capabilities.rewrites_on_flush``: an ICS or activities file), and the crash
guarantee they keep: a crash loses at most the step in flight, never an item, and
the rerun duplicates nothing (invariants of DESIGN.md; S3)."""

from __future__ import annotations

import contextlib
import gc
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from severa_ext.backends.ics import IcsBackend
from severa_ext.backends.memory import MemoryCalendar
from severa_ext.clock import FixedClock
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem, Capabilities
from severa_ext.sync.planner import Create
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.state import MemoryStateStore
from severa_ext.testing.faults import InjectedCrash
from severa_ext.testing.machine import CrashingStore

NOW = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
POLICY = SyncPolicy.calendars(past_days=30, future_days=400)
NOW_CLOCK = FixedClock(NOW)


class FlushCounting(MemoryCalendar):
    """A memory calendar that counts its flushes and the writes between them."""

    def __init__(self, capabilities: Capabilities) -> None:
        super().__init__("calendar", capabilities=capabilities, clock=FixedClock(NOW))
        self.steps: list[int] = []
        self._written = 0

    def create(self, item: CalendarItem, sync_key: str) -> CalendarItem:
        self._written += 1
        return super().create(item, sync_key)

    def flush(self) -> None:
        if self._written:
            self.steps.append(self._written)
        self._written = 0


def _source(n: int) -> MemoryCalendar:
    source = MemoryCalendar("severa", clock=FixedClock(NOW))
    for i in range(n):
        start = NOW + timedelta(days=1, minutes=10 * i)
        source.user_create(CalendarItem(f"entry {i}", start, start + timedelta(minutes=5)))
    return source


def _steps_of(n: int, *, rewrites: bool, step_writes: int = 0) -> list[int]:
    caps = Capabilities(batch_size=10, rewrites_on_flush=rewrites)
    target = FlushCounting(caps)
    engine = SyncEngine(
        _source(n),
        target,
        MemoryStateStore(),
        pair_id="p",
        policy=POLICY,
        clock=FixedClock(NOW),
        step_writes=step_writes,
    )
    assert engine.run().created["b"] == n
    return target.steps


def test_a_side_whose_flush_rewrites_it_is_flushed_a_logarithmic_number_of_times() -> None:
    steps = _steps_of(3000, rewrites=True)
    assert sum(steps) == 3000
    assert len(steps) < 20  # one flush per batch would be 300
    done = 0
    for writes in steps[:-1]:  # each step: as many writes as so far (whole batches)
        assert writes == max(10, done // 10 * 10)
        # What a crash loses (the step in flight): at most half of the run's writes.
        assert writes <= max(10, (done + writes) // 2)
        done += writes
    # The bytes the flushes write: a few times the final store, not quadratic.
    assert sum(accumulate(steps)) <= 3 * 3000


def test_other_sides_keep_one_batch_or_step_writes_per_step() -> None:
    assert _steps_of(300, rewrites=False) == [10] * 30
    assert _steps_of(300, rewrites=False, step_writes=100) == [100] * 3
    # step_writes is the floor of a growing step too.
    assert _steps_of(300, rewrites=True, step_writes=100)[:2] == [100, 100]


class CreatesAlive(FlushCounting):
    """A flush-counting calendar that also counts the plan's live ``Create`` records
    at each flush (each step's end)."""

    def __init__(self, capabilities: Capabilities) -> None:
        super().__init__(capabilities)
        self.alive: list[int] = []

    def flush(self) -> None:
        # type(), not isinstance(): a lazy proxy among the objects (Celery's
        # current_app) would evaluate itself on a __class__ lookup.
        self.alive.append(sum(1 for o in gc.get_objects() if type(o) is Create))
        super().flush()


def test_a_first_sync_plans_its_new_entries_a_step_at_a_time() -> None:
    """Issue 17 (peak memory): the creates of a first sync are planned step by step
    as they are written, so a run holds one step of them, not all N."""
    target = CreatesAlive(Capabilities(batch_size=10))
    engine = SyncEngine(
        _source(500), target, MemoryStateStore(), pair_id="p", policy=POLICY, clock=NOW_CLOCK
    )
    before = sum(1 for o in gc.get_objects() if type(o) is Create)
    assert engine.run().created["b"] == 500
    assert target.steps == [10] * 50
    assert max(target.alive) - before <= 10  # the step in flight only (was 500)
    assert engine.run().total_writes == 0  # and the next run has nothing to do


def _ics_engine(path: Path, source: MemoryCalendar, store: Any) -> SyncEngine:
    calendar = IcsBackend(path, create_missing=True, clock=FixedClock(NOW))
    grown = attrs.evolve(calendar.capabilities, batch_size=5, rewrites_on_flush=True)
    return SyncEngine(
        source,
        _Rewriting(calendar, grown),
        store,
        pair_id="p",
        policy=POLICY,
        clock=FixedClock(NOW),
    )


class _Rewriting:
    """An ICS file with a batch of 5 (its own is 500), so a 120-item sync takes
    several grown steps to crash in."""

    def __init__(self, inner: IcsBackend, capabilities: Capabilities) -> None:
        self._inner = inner
        self.capabilities = capabilities

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(skip=st.integers(0, 12), before=st.booleans())
def test_a_crash_inside_a_grown_step_loses_no_item_and_duplicates_none(
    tmp_path_factory: pytest.TempPathFactory, skip: int, before: bool
) -> None:
    """The process dies at any durable step of a 120-item initial sync into an ICS
    file (what the file holds is what the last flush wrote); a fresh process
    reruns: every item is in the file exactly once, no intent is left."""
    path = tmp_path_factory.mktemp("steps") / "calendar.ics"
    source = _source(120)
    store = CrashingStore(MemoryStateStore())
    store.arm(skip, before=before)
    with contextlib.suppress(InjectedCrash):
        _ics_engine(path, source, store).run()
    store.disarm()
    report = _ics_engine(path, source, store).run()  # a new process: the file re-read
    assert report.ok, report.summary()
    listed = IcsBackend(path, clock=FixedClock(NOW)).changes(None, POLICY.window(NOW)).items
    assert Counter(item.title for item in listed) == Counter(f"entry {i}" for i in range(120))
    assert store.inner.intents("p") == []
    assert _ics_engine(path, source, store).run().total_writes == 0
