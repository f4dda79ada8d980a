"""The runner on Celery, with Redis (``pip install severa-ext[celery]``).

* :func:`install` registers ``sync_pair`` (one pair per task, safe to deliver twice)
  and ``fan_out`` (the beat's periodic task: due pairs of active users, jittered, one
  queued job per pair) on the host's Celery app; :class:`CeleryRunner` is what it
  returns;
* :class:`RedisGate` enforces Graph's per-mailbox limits (4 concurrent requests,
  10,000 per 10 minutes) on every request across all workers, and caps a tenant's
  concurrent syncs;
* :class:`RedisScheduleStore` keeps the schedule where every worker sees it.

See the guide "Running sync for an organisation".
"""

from __future__ import annotations

from severa_ext.contrib.celery._redis_gate import RedisGate
from severa_ext.contrib.celery._redis_schedule import RedisScheduleStore
from severa_ext.contrib.celery._tasks import CeleryRunner, install

__all__ = ["CeleryRunner", "RedisGate", "RedisScheduleStore", "install"]
