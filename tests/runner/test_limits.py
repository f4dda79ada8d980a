"""The per-mailbox gates keep Graph's Outlook limits (4 concurrent requests, 10,000 per
10 minutes per app and mailbox), in one process (MemoryGate) and across workers
through Redis (RedisGate); a permit of a killed worker lapses."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from severa_ext.errors import Throttled, ValidationError
from severa_ext.runner import MailboxLimits, MemoryGate, request_cost


def _memory(limits):
    return MemoryGate(limits)


@pytest.fixture
def redis_gate(request):
    """Makes RedisGates on the session's Redis; their clients are closed after the test."""
    redis = pytest.importorskip("redis")
    from severa_ext.contrib.celery import RedisGate

    server = request.getfixturevalue("redis_server")
    clients = []

    def make(limits, **options):
        client = redis.Redis.from_url(server.url(5))
        client.flushdb()
        clients.append(client)
        return RedisGate(client, limits, prefix="limits-test", **options)

    yield make
    for client in clients:
        client.close()


@pytest.fixture(params=["memory", "redis"])
def make_gate(request):
    if request.param == "memory":
        return _memory
    return request.getfixturevalue("redis_gate")


def test_at_most_four_requests_per_mailbox_in_flight(make_gate):
    gate = make_gate(MailboxLimits(concurrent=4, requests=10_000, window=600, wait=10))
    lock = threading.Lock()
    now = {"alice": 0, "bob": 0}
    peak = {"alice": 0, "bob": 0}

    def request(mailbox):
        with gate.permit(mailbox):
            with lock:
                now[mailbox] += 1
                peak[mailbox] = max(peak[mailbox], now[mailbox])
            time.sleep(0.05)
            with lock:
                now[mailbox] -= 1

    threads = [threading.Thread(target=request, args=(m,)) for m in ["alice", "bob"] * 10]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == {"alice": 4, "bob": 4}  # each mailbox on its own, never past 4


def test_never_more_requests_in_a_window_than_the_limit(make_gate):
    limits = MailboxLimits(concurrent=4, requests=40, window=1.0, wait=0.01)
    gate = make_gate(limits)
    granted: list[float] = []
    refused = 0
    waits: list[float] = []
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        try:
            with gate.permit("alice"):
                granted.append(time.monotonic())
        except Throttled as exc:
            refused += 1
            waits.append(exc.retry_after)
    assert refused > 0
    assert min(waits) > 0
    for i, start in enumerate(granted):  # every window of 1 s holds at most 40
        inside = sum(1 for t in granted[i:] if t < start + limits.window - 0.02)
        assert inside <= limits.requests


def test_a_batch_counts_as_each_request_it_carries():
    body = b'{"requests": [{"id": "1"}, {"id": "2"}, {"id": "3"}]}'
    batch = requests.Request("POST", "http://graph/v1.0/$batch", data=body).prepare()
    assert request_cost(batch) == 3
    assert request_cost(requests.Request("GET", "http://graph/v1.0/me").prepare()) == 1


def test_a_killed_workers_permit_lapses(redis_gate):
    gate = redis_gate(MailboxLimits(concurrent=1, requests=1000, window=60, wait=2), permit_ttl=0.3)
    held = gate.permit("alice")
    held.__enter__()  # never released: the worker died holding it
    started = time.monotonic()
    with gate.permit("alice"):
        waited = time.monotonic() - started
    assert 0.2 < waited < 2


def test_a_tenants_slots_cap_its_concurrent_syncs(redis_gate):
    gate = redis_gate(MailboxLimits())
    with (
        gate.slot("tenant:contoso", 1, ttl=60),
        pytest.raises(Throttled, match="contoso"),
        gate.slot("tenant:contoso", 1, ttl=60),
    ):
        pass
    with gate.slot("tenant:contoso", 1, ttl=60):  # freed again
        pass


def test_bad_limits_are_refused():
    with pytest.raises(ValidationError, match="concurrent"):
        MailboxLimits(concurrent=0)
    with pytest.raises(ValidationError, match="window"):
        MailboxLimits(window=0)


def test_a_gate_without_redis_refuses_to_send(tmp_path):
    redis = pytest.importorskip("redis")
    from severa_ext.contrib.celery import RedisGate
    from severa_ext.errors import BackendUnavailable

    client = redis.Redis(unix_socket_path=str(tmp_path / "no-such.sock"))
    gate = RedisGate(client)
    with pytest.raises(BackendUnavailable, match="request gate: Redis failed"), gate.permit("a"):
        pass
    client.close()
