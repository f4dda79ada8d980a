"""The schedule in Redis: :class:`RedisScheduleStore` (shared by every worker).

Two keys per organisation (``prefix``): a sorted set ``<prefix>:due`` (pair -> due
time, in seconds since the epoch) that answers "which pairs are due" with one
``ZMSCORE``, and a hash ``<prefix>:schedule`` (pair -> the schedule as JSON, for the
failure count and ``not_before``). :meth:`RedisScheduleStore.hasten` is one Lua script,
so a notification racing a run's ``put`` never loses either.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from severa_ext.contrib.celery._redis_errors import redis_errors
from severa_ext.runner.schedule import PairSchedule

__all__ = ["RedisScheduleStore"]

_HASTEN = """
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return 0 end
local entry = cjson.decode(raw)
local at = tonumber(ARGV[2])
if entry['not_before'] ~= cjson.null and entry['not_before'] > at then at = entry['not_before'] end
if entry['due'] > at then
  entry['due'] = at
  redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(entry))
  redis.call('ZADD', KEYS[1], at, ARGV[1])
end
return 1
"""


def _stamp(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class RedisScheduleStore:
    """A :class:`~severa_ext.runner.ScheduleStore` in Redis.

    Args:
        client: a ``redis.Redis`` client (``decode_responses`` either way).
        prefix: the organisation's key prefix.

    Raises:
        StoreError: from every method, when Redis fails.
    """

    def __init__(self, client: Any, *, prefix: str = "severa-ext") -> None:
        self._redis = client
        self._due = f"{prefix}:due"
        self._entries = f"{prefix}:schedule"
        self._hasten = client.register_script(_HASTEN)

    def __repr__(self) -> str:
        return f"RedisScheduleStore(prefix={self._due[:-4]!r})"

    def get(self, pair_id: str) -> PairSchedule | None:
        """The pair's schedule."""
        with redis_errors("RedisScheduleStore.get"):
            raw = self._redis.hget(self._entries, pair_id)
        if raw is None:
            return None
        data = json.loads(raw)
        due = _time(data["due"])
        assert due is not None
        return PairSchedule(pair_id, due, int(data["failures"]), _time(data["not_before"]))

    def put(self, schedule: PairSchedule) -> None:
        """Store the pair's schedule."""
        due = schedule.due.timestamp()
        data = {
            "due": due,
            "failures": schedule.failures,
            "not_before": _stamp(schedule.not_before),
        }
        with redis_errors("RedisScheduleStore.put"), self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._entries, schedule.pair_id, json.dumps(data))
            pipe.zadd(self._due, {schedule.pair_id: due})
            pipe.execute()

    def due(self, pair_ids: Iterable[str], now: datetime) -> list[str]:
        """Which of ``pair_ids`` are due at ``now`` (never run: due)."""
        ids = list(pair_ids)
        if not ids:
            return []
        with redis_errors("RedisScheduleStore.due"):
            scores = self._redis.zmscore(self._due, ids)
        limit = now.timestamp()
        return [p for p, score in zip(ids, scores, strict=True) if score is None or score <= limit]

    def hasten(self, pair_id: str, now: datetime) -> None:
        """Make the pair due at ``now`` (not before its ``not_before``)."""
        with redis_errors("RedisScheduleStore.hasten"):
            self._hasten(keys=[self._due, self._entries], args=[pair_id, now.timestamp()])
