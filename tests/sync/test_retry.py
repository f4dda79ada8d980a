"""The engine's one retry policy (severa_ext.sync.retry) and the durable step's flush."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from severa_ext.backends.memory import Fault, MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.errors import BackendUnavailable, Throttled, ValidationError
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem
from severa_ext.sync.links import Intent
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.retry import RetryPolicy, Waiter
from severa_ext.sync.state import MemoryStateStore

NOW = datetime(2026, 5, 4, 8, tzinfo=UTC)
POLICY = SyncPolicy(outgoing_types={"meeting"}, default_type="other")


def test_backoff_doubles_and_honours_a_longer_retry_after():
    waiter = Waiter(RetryPolicy(backoff=1, max_backoff=3, max_wait=100), lambda _: None)
    assert [waiter.delay(n, BackendUnavailable("x")) for n in range(4)] == [1, 2, 3, 3]
    assert waiter.delay(0, Throttled(retry_after=9)) == 9
    assert waiter.delay(4, BackendUnavailable("x")) is None  # the fifth attempt was the last


def test_a_retry_after_beyond_the_limit_is_not_waited_for():
    waiter = Waiter(RetryPolicy(max_retry_after=10), lambda _: None)
    assert waiter.delay(0, Throttled(retry_after=11)) is None


def test_one_budget_per_run_caps_every_wait_together():
    slept: list[float] = []
    waiter = Waiter(
        RetryPolicy(max_attempts=10, backoff=4, max_backoff=4, max_wait=10), slept.append
    )
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        raise BackendUnavailable("down")

    with pytest.raises(BackendUnavailable):
        waiter.call("read", flaky)
    assert slept == [4, 4]  # a third wait would pass the budget of 10 s
    assert calls == 3
    with pytest.raises(BackendUnavailable):
        waiter.call("another read", flaky)  # the budget is the run's, not the call's
    assert slept == [4, 4]


def test_bad_policies_are_refused():
    with pytest.raises(ValidationError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValidationError, match="max_wait"):
        RetryPolicy(max_wait=-1)


class _Recording(MemoryBackend):
    """A memory backend that notes when it is flushed, relative to the store."""

    def __init__(self, name: str, store: MemoryStateStore, log: list[str], **kw: object) -> None:
        super().__init__(name, **kw)  # type: ignore[arg-type]
        self._state = store
        self._flushes = log
        self.fail_flush = False

    def flush(self) -> None:
        self._flushes.append(f"flush {self.name} with {self._state.count('p')} links stored")
        if self.fail_flush:
            raise BackendUnavailable("disk full")


def _engine(a, b, store, **options):
    clock = FixedClock(NOW)
    return SyncEngine(
        a, b, store, pair_id="p", policy=POLICY, clock=clock, sleep=lambda _: None, **options
    )


def _activity(backend: MemoryBackend, title: str) -> None:
    start = NOW + timedelta(days=1)
    backend.user_create(
        CalendarItem(title, start, start + timedelta(hours=1), activity_type="meeting")
    )


def test_a_written_backend_is_flushed_before_the_step_commits():
    store = MemoryStateStore()
    log: list[str] = []
    a = MemoryBackend("severa")
    b = _Recording("calendar", store, log)
    _activity(a, "One")
    _activity(a, "Two")
    report = _engine(a, b, store).run()
    assert report.created["b"] == 2
    # Flushed once, before the step that stores the two links committed.
    assert log == ["flush calendar with 2 links stored"]  # the intents of the step
    assert store.count("p") == 2
    log.clear()
    assert _engine(a, b, store).run().total_writes == 0
    assert log == []  # nothing written: nothing to flush


def test_a_failed_flush_commits_nothing_of_its_step_and_the_next_run_repairs():
    store = MemoryStateStore()
    log: list[str] = []
    a = MemoryBackend("severa")
    b = _Recording("calendar", store, log)
    _activity(a, "One")
    b.fail_flush = True
    report = _engine(a, b, store, max_attempts=1).run()
    assert not report.ok
    assert [e.operation for e in report.errors] == ["flush"]
    assert not report.cursors_advanced
    assert [(type(e), e.side) for e in store.links("p")] == [(Intent, "b")]  # only the intent
    b.fail_flush = False
    again = _engine(a, b, store).run()
    assert again.ok
    assert again.created["b"] == 0  # the intent found its item: nothing created twice
    assert len(b.all_items()) == 1
    assert _engine(a, b, store).run().total_writes == 0


def test_throttled_writes_share_the_run_budget():
    store = MemoryStateStore()
    a, b = MemoryBackend("severa"), MemoryBackend("calendar")
    _activity(a, "Busy")
    b.inject("create", Fault.throttle(retry_after=6), times=5)
    slept: list[float] = []
    engine = SyncEngine(
        a,
        b,
        store,
        pair_id="p",
        policy=POLICY,
        clock=FixedClock(NOW),
        sleep=slept.append,
        max_attempts=10,
        max_wait=15,
    )
    report = engine.run()
    assert slept == [6, 6]
    assert not report.ok
    assert not report.cursors_advanced
    again = engine.run()  # the next run has its own budget
    assert again.ok
    assert len(b.all_items()) == 1
