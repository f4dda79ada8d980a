"""The Celery tasks: one pair per task, a periodic fan-out, idempotent enqueueing.

:func:`install` registers two tasks on the host's Celery app:

* ``<prefix>.sync_pair(pair_id)``: runs :meth:`~severa_ext.runner.Runner.run_pair`
  under a slot of the tenant's concurrency cap; ``acks_late`` with
  ``reject_on_worker_lost``: a worker killed mid-task leaves the message to be
  delivered again, and the retry duplicates nothing (the pair's lease is taken over
  from the dead process, its stored intents resolve by ``find(sync_key)``);
* ``<prefix>.fan_out()``: enqueues every due pair of an active user (S1, S2) with a
  random countdown (jitter), and only when no job of that pair is queued yet: a
  marker ``<prefix>:queued:<pair>`` is set with ``SET NX`` (it lapses after
  ``queued_ttl``) and removed by the task when it ends.

The beat runs ``fan_out`` every ``fan_out_every`` seconds (:func:`install` adds the
entry to ``app.conf.beat_schedule``).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

import attrs

from severa_ext.backends._graph_receiver import Signal, SignalKind
from severa_ext.contrib.celery._redis_errors import redis_errors
from severa_ext.contrib.celery._redis_gate import RedisGate
from severa_ext.errors import Throttled
from severa_ext.runner.core import Runner

__all__ = ["CeleryRunner", "install"]

logger = logging.getLogger(__name__)

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@attrs.define
class CeleryRunner:
    """What :func:`install` registered: the two tasks and the settings they use.

    Attributes:
        sync_pair: the task that syncs one pair.
        fan_out: the periodic task that enqueues the due pairs.
        runner: this process's runner (made on first use).
    """

    sync_pair: Any
    fan_out: Any
    runner: Callable[[], Runner]
    prefix: str
    redis: Callable[[], Any]
    jitter: float
    queued_ttl: int
    made: dict[str, Runner] = attrs.field(factory=dict)
    """The runner of this process once made (key ``"runner"``), to close its stores."""

    def queued_key(self, pair_id: str) -> str:
        """The marker of a queued job of ``pair_id``."""
        return f"{self.prefix}:queued:{pair_id}"

    def enqueue(self, pair_id: str, *, countdown: float = 0.0) -> str | None:
        """Queue a sync of ``pair_id`` unless one is queued; the task id, or ``None``."""
        from celery.utils import uuid

        task_id = uuid()
        with redis_errors(f"queueing {pair_id}"):
            marked = self.redis().set(
                self.queued_key(pair_id), task_id, nx=True, ex=self.queued_ttl
            )
        if not marked:
            return None
        self.sync_pair.apply_async((pair_id,), task_id=task_id, countdown=countdown)
        return str(task_id)

    def signal(self, signal: Signal) -> None:
        """A :class:`~severa_ext.backends.graph_notifications.NotificationSink`: the
        pair is made due and, for a change, a job is queued at once (unless one is, or
        a server's ``Retry-After`` still holds the pair back).

        Quick enough for the receiver's request: two Redis round trips, no Graph call.
        """
        runner = self.runner()
        runner.signal(signal)
        early = signal.kind in (SignalKind.CHANGED, SignalKind.RESYNC, SignalKind.RECREATE)
        if early and runner.schedule.due([signal.pair], runner.clock.now()):
            self.enqueue(signal.pair)  # not while a server's Retry-After holds it back

    def release(self, pair_id: str, task_id: str) -> None:
        """Remove the queued marker of ``pair_id`` if it is this task's."""
        client = self.redis()
        with redis_errors(f"releasing {pair_id}"):  # else the marker lapses (queued_ttl)
            client.register_script(_RELEASE)(keys=[self.queued_key(pair_id)], args=[task_id])


def install(
    app: Any,
    runner: Callable[[], Runner],
    redis: Callable[[], Any],
    *,
    prefix: str = "severa-ext",
    tenant: str = "default",
    tenant_concurrency: int = 20,
    fan_out_every: float = 60.0,
    jitter: float = 30.0,
    queued_ttl: int = 3600,
    task_time_limit: float = 1800.0,
) -> CeleryRunner:
    """Register the runner's tasks on ``app`` (see the module doc).

    Args:
        app: the host's ``celery.Celery`` application.
        runner: returns this worker process's :class:`~severa_ext.runner.Runner`
            (called once per process, on the first task: open stores there).
        redis: returns a ``redis.Redis`` client (markers, slots, the shared schedule).
        prefix: the organisation's task-name and key prefix.
        tenant: the tenant's name, for its concurrency cap.
        tenant_concurrency: at most this many pairs of the tenant sync at once.
        fan_out_every: seconds between fan-outs (the beat entry).
        jitter: each enqueued job waits a random 0..``jitter`` seconds.
        queued_ttl: seconds after which a queued marker lapses (a lost job).
        task_time_limit: the hard time limit of one pair's task (seconds).
    """
    cached: dict[str, Runner] = {}  # shared with CeleryRunner.made

    def current() -> Runner:
        if "runner" not in cached:
            cached["runner"] = runner()
        return cached["runner"]

    holder: dict[str, CeleryRunner] = {}
    clients: list[Any] = []

    def client() -> Any:  # one Redis client (one connection pool) per process
        if not clients:
            clients.append(redis())
        return clients[0]

    @app.task(  # type: ignore[untyped-decorator]
        name=f"{prefix}.sync_pair",
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        max_retries=None,
        time_limit=task_time_limit,
    )
    def sync_pair(self: Any, pair_id: str) -> dict[str, Any]:
        tasks = holder["tasks"]
        gate = RedisGate(client(), prefix=prefix)
        waiting = False
        try:
            with gate.slot(f"tenant:{tenant}", tenant_concurrency, ttl=task_time_limit):
                result = current().run_pair(pair_id)
        except Throttled as full:  # every slot of the tenant is taken: wait, keep the marker
            waiting = True
            raise self.retry(countdown=full.retry_after + random.uniform(0, jitter)) from None  # noqa: S311
        finally:
            if not waiting:  # done, or failed for good: the next fan-out may queue it again
                tasks.release(pair_id, self.request.id)
        logger.info("pair %s: %s", pair_id, result.status.value)
        report = result.report
        return {
            "pair_id": pair_id,
            "status": result.status.value,
            "due": result.schedule.due.isoformat(),
            "writes": 0 if report is None else sum(report.writes.values()),
            "message": result.message,
        }

    @app.task(name=f"{prefix}.fan_out")  # type: ignore[untyped-decorator]
    def fan_out() -> dict[str, int]:
        tasks = holder["tasks"]
        due = current().due_pairs()
        queued = sum(
            tasks.enqueue(p.pair_id, countdown=random.uniform(0, tasks.jitter)) is not None  # noqa: S311
            for p in due
        )
        return {"due": len(due), "queued": queued}

    tasks = CeleryRunner(sync_pair, fan_out, current, prefix, client, jitter, queued_ttl, cached)
    holder["tasks"] = tasks
    schedule = dict(app.conf.beat_schedule or {})
    schedule[f"{prefix}.fan_out"] = {"task": f"{prefix}.fan_out", "schedule": fan_out_every}
    app.conf.beat_schedule = schedule
    return tasks
