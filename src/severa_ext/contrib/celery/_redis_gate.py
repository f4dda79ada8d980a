"""Graph's per-mailbox limits across every worker: :class:`RedisGate`.

One Lua script grants a permit atomically, for two limits per key:

* **concurrency**: a sorted set of the permits in flight (member: a random token,
  score: when the permit lapses), at most ``concurrent``; a permit of a killed worker
  lapses after ``permit_ttl`` seconds instead of blocking the mailbox forever;
* **rate**: a GCRA token bucket (one key, the "theoretical arrival time") that admits
  at most ``requests`` requests in *any* window of ``window`` seconds: the emission
  interval is ``window / (requests - burst)`` and the burst ``burst``, so a window
  holds at most ``burst + window / interval = requests`` requests.

The same gate caps the concurrent syncs of a tenant (:meth:`RedisGate.slot`).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from typing import Any

from severa_ext.contrib.celery._redis_errors import redis_errors
from severa_ext.errors import BackendUnavailable, Throttled, ValidationError
from severa_ext.runner.limits import GRAPH_OUTLOOK_LIMITS, MailboxLimits

__all__ = ["RedisGate"]

# KEYS: in-flight set, bucket. ARGV: token, concurrent, permit_ttl, interval, burst, cost.
# Returns {1, 0} when granted, else {0, seconds to wait}.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local concurrent = tonumber(ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= concurrent then return {0, '0.05'} end
local interval, burst, cost = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if interval > 0 then
  local tat = tonumber(redis.call('GET', KEYS[2]) or '0')
  if tat < now then tat = now end
  local new_tat = tat + interval * cost
  local over = new_tat - now - interval * burst
  if over > 0 then return {0, tostring(over)} end
  redis.call('SET', KEYS[2], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) * 1000) + 1000)
return {1, '0'}
"""


class RedisGate:
    """A :class:`~severa_ext.runner.RequestGate` shared through Redis.

    Args:
        client: a ``redis.Redis`` client.
        limits: the per-mailbox limits (Graph's by default).
        prefix: the organisation's key prefix.
        burst: requests the bucket admits at once, the rest paced (default: a tenth
            of ``limits.requests``, at most 100).
        permit_ttl: seconds after which a permit of a dead worker lapses (longer than
            any request's timeout).
        sleep: how to wait between tries.
    """

    def __init__(
        self,
        client: Any,
        limits: MailboxLimits = GRAPH_OUTLOOK_LIMITS,
        *,
        prefix: str = "severa-ext",
        burst: int | None = None,
        permit_ttl: float = 300.0,
        sleep: Any = time.sleep,
    ) -> None:
        if burst is None:
            burst = max(1, min(100, limits.requests // 10))
        if not 0 < burst < limits.requests:
            raise ValidationError(
                f"RedisGate: burst must be in (0, {limits.requests}), not {burst}"
            )
        self.limits = limits
        self._redis = client
        self._prefix = prefix
        self._burst = burst
        self._interval = limits.window / (limits.requests - burst)
        self._ttl = permit_ttl
        self._sleep = sleep
        self._acquire = client.register_script(_ACQUIRE)

    def __repr__(self) -> str:
        return f"RedisGate({self.limits!r}, prefix={self._prefix!r})"

    def _take(
        self,
        keys: list[str],
        token: str,
        *,
        concurrent: int,
        ttl: float,
        rate: bool,
        cost: int,
        what: str,
        wait: float,
    ) -> None:
        deadline = time.monotonic() + wait
        while True:
            interval = self._interval if rate else 0.0
            with redis_errors(f"{what}: the request gate", BackendUnavailable):
                granted, delay = self._acquire(
                    keys=keys, args=[token, concurrent, ttl, interval, self._burst, cost]
                )
            if int(granted):
                return
            pause = float(delay)
            left = deadline - time.monotonic()
            if left <= 0:
                raise Throttled(f"{what}: at its limits", retry_after=max(pause, 0.05))
            self._sleep(min(pause, left, 1.0))

    @contextlib.contextmanager
    def permit(self, mailbox: str, cost: int = 1) -> Iterator[None]:
        """Hold a permit for ``cost`` requests to ``mailbox`` (concurrency and rate).

        Raises:
            Throttled: no permit within ``limits.wait``.
            BackendUnavailable: Redis failed (the request is not sent).
        """
        key = f"{self._prefix}:mailbox:{mailbox.lower()}"
        token = secrets.token_hex(8)
        limits = self.limits
        self._take(
            [f"{key}:inflight", f"{key}:bucket"],
            token,
            concurrent=limits.concurrent,
            ttl=self._ttl,
            rate=True,
            cost=cost,
            what=f"mailbox {mailbox}",
            wait=limits.wait,
        )
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # a lost permit lapses after permit_ttl
                self._redis.zrem(f"{key}:inflight", token)

    @contextlib.contextmanager
    def slot(self, name: str, concurrent: int, *, ttl: float, wait: float = 0.0) -> Iterator[None]:
        """Hold one of ``concurrent`` slots of ``name`` (a tenant's concurrent syncs).

        Raises:
            Throttled: every slot is taken (after ``wait`` seconds).
        """
        key = f"{self._prefix}:slots:{name}"
        token = secrets.token_hex(8)
        self._take(
            [key, f"{key}:unused"],
            token,
            concurrent=concurrent,
            ttl=ttl,
            rate=False,
            cost=1,
            what=name,
            wait=wait,
        )
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # a lost slot lapses after ttl
                self._redis.zrem(key, token)
