"""When a pair is due next: back-off after failures, never before a server's
Retry-After, the interval after a clean run; the memory and Redis schedule stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from severa_ext.errors import ValidationError
from severa_ext.runner import (
    MemoryScheduleStore,
    PairSchedule,
    RunStatus,
    SchedulePolicy,
    next_due,
)

NOW = datetime(2026, 5, 4, 8, tzinfo=UTC)
POLICY = SchedulePolicy()


@given(
    statuses=st.lists(st.sampled_from(list(RunStatus)), max_size=40),
    retry_after=st.none() | st.floats(min_value=0, max_value=86_400),
)
def test_next_due_backs_off_and_resets(statuses, retry_after):
    schedule = None
    for status in statuses:
        after = next_due(POLICY, schedule, status, NOW, pair_id="p", retry_after=retry_after)
        assert after.due > NOW
        if status in (RunStatus.FAILED, RunStatus.PARTIAL):
            assert after.failures == (0 if schedule is None else schedule.failures) + 1
            assert after.due - NOW <= max(POLICY.max_backoff, timedelta(seconds=retry_after or 0))
            if retry_after is not None:
                assert after.due >= NOW + timedelta(seconds=retry_after)
                assert after.not_before == NOW + timedelta(seconds=retry_after)
            if schedule is not None and schedule.failures:
                assert after.due - NOW >= min(POLICY.max_backoff, schedule.due - NOW)
        elif status is RunStatus.BUSY:
            assert after.due == NOW + POLICY.busy_delay
        else:
            assert (after.due, after.failures) == (NOW + POLICY.interval, 0)
        schedule = after


def test_hastening_never_cuts_retry_after():
    held = PairSchedule("p", NOW + timedelta(hours=1), 3, not_before=NOW + timedelta(minutes=5))
    assert held.hastened(NOW).due == NOW + timedelta(minutes=5)
    assert PairSchedule("p", NOW + timedelta(hours=1)).hastened(NOW).due == NOW
    assert PairSchedule("p", NOW).hastened(NOW + timedelta(hours=1)).due == NOW  # never later


def test_a_policy_needs_positive_delays():
    with pytest.raises(ValidationError, match="interval"):
        SchedulePolicy(interval=timedelta(0))


@pytest.fixture(params=["memory", "redis"])
def store(request):
    if request.param == "memory":
        yield MemoryScheduleStore()
        return
    redis = pytest.importorskip("redis")
    from severa_ext.contrib.celery import RedisScheduleStore

    server = request.getfixturevalue("redis_server")
    client = redis.Redis.from_url(server.url(6))
    client.flushdb()
    yield RedisScheduleStore(client, prefix="schedule-test")
    client.close()


def test_a_schedule_store_answers_what_is_due(store):
    later = PairSchedule("later", NOW + timedelta(minutes=10), 2, NOW + timedelta(minutes=3))
    store.put(PairSchedule("now", NOW))
    store.put(later)
    assert store.get("later") == later
    assert store.get("never") is None
    assert store.due(["never", "later", "now"], NOW) == ["never", "now"]
    store.hasten("later", NOW)
    assert store.get("later").due == NOW + timedelta(minutes=3)  # its Retry-After holds
    assert store.due(["later"], NOW + timedelta(minutes=3)) == ["later"]
    store.hasten("never", NOW)  # a pair never run is due anyway
    assert store.get("never") is None
    assert store.due([], NOW) == []


def test_redis_failures_are_the_packages_own_errors(tmp_path):
    redis = pytest.importorskip("redis")
    from severa_ext.contrib.celery import RedisScheduleStore
    from severa_ext.errors import StoreError

    client = redis.Redis(unix_socket_path=str(tmp_path / "no-such.sock"))
    store = RedisScheduleStore(client)
    with pytest.raises(StoreError, match=r"RedisScheduleStore.get: Redis failed"):
        store.get("p")
    with pytest.raises(StoreError, match=r"RedisScheduleStore.put"):
        store.put(PairSchedule("p", NOW))
    client.close()
