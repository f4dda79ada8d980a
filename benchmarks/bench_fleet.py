"""Benchmark: an organisation's fleet of mailboxes synced by the runner with N workers.

M mailboxes (10,000 by default) live on one ``FakeGraphServer`` with Graph's
per-mailbox throttling switched on (``limit_mailboxes``: 4 concurrent requests and
10,000 requests per 10 minutes per app and mailbox; past them, 429). Each user has
sync on (an activation) and one event in their calendar. The runner
(``severa_ext.runner.Runner``) with SQLite state syncs every due pair; W worker
threads take pairs from a queue, as W Celery worker slots would take ``sync_pair``
jobs, and every request goes through the runner's per-mailbox gate (``MemoryGate``,
or ``RedisGate`` with ``--gate redis``: the one the Celery workers share).

Printed per cycle and worker count: wall time, Graph API requests per mailbox (by
kind), 429s received, and the most concurrent requests and the most requests in one
window any mailbox saw (the fake's own count: the limits are never passed when these
stay at or under 4 and 10,000 and no 429 was answered).

Model assumptions: the workers are threads of one process (a Celery worker slot does
the same work in its own process; the GIL and the 2 shared cores of the machine make
the wall times an upper bound for real workers); the fake answers every request at
once (no network latency; Graph's own latency would dominate a real cycle, so W
scales much further on real Graph than here); one application token is shared by
all pairs of a worker; the Severa side is an in-memory backend (no requests counted);
a pair syncs under its lease, so one mailbox has one sync at a time; the schedule
makes every pair due once per cycle (the runner's interval).

Run: ``python benchmarks/bench_fleet.py [--mailboxes 10000] [--workers 1,4,16]
[--gate memory|redis]``.
"""

from __future__ import annotations

import argparse
import logging
import queue
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import SystemClock
from severa_ext.runner import (
    GRAPH_OUTLOOK_LIMITS,
    MemoryGate,
    MemoryScheduleStore,
    OpenPair,
    Runner,
    SchedulePolicy,
    gated_session,
)
from severa_ext.sync.activation import (
    Activation,
    MemoryActivationStore,
    OrganisationSettings,
    ServerKind,
)
from severa_ext.sync.items import CalendarItem
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.sqlite import SQLiteStateStore
from severa_ext.testing.graph_server import FakeGraphServer


class _Clock(SystemClock):
    """The wall clock, moved on by whole cycles so every pair is due again."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


class FleetPairs:
    """Side A in memory, side B the mailbox on the fake Graph, one token for all."""

    def __init__(self, server: FakeGraphServer) -> None:
        self.server = server
        self.tokens = server.token_provider()
        self.severa: dict[str, MemoryBackend] = {}
        self.throttled = 0
        self._lock = threading.Lock()

    def open(self, pair: Any, gate: Any) -> OpenPair:
        with self._lock:
            a = self.severa.setdefault(pair.user_id, MemoryBackend(f"severa-{pair.user_id}"))
        session = gated_session(gate, pair.mailbox)
        b = self.server.backend(pair.mailbox, session=session, tokens=self.tokens)
        return OpenPair(a, b, [session.close])


def _organisation() -> OrganisationSettings:
    return OrganisationSettings(
        addon_active=True,
        server_kind=ServerKind.GRAPH,
        credentials_ref="graph",
        policy=SyncPolicy(outgoing_types={"meeting"}, default_type="meeting"),
    )


def _gate(kind: str) -> tuple[Any, Any]:
    if kind == "memory":
        return MemoryGate(GRAPH_OUTLOOK_LIMITS), None
    import redis

    from severa_ext.contrib.celery import RedisGate
    from severa_ext.testing.redis_server import RedisServer

    server = RedisServer.start()
    client = redis.Redis.from_url(server.url())
    return RedisGate(client, GRAPH_OUTLOOK_LIMITS, prefix="bench"), server


def _cycle(runner: Runner, workers: int) -> tuple[float, Counter[str]]:
    due = runner.due_pairs()
    jobs: queue.Queue[str] = queue.Queue()
    for pair in due:
        jobs.put(pair.pair_id)
    statuses: Counter[str] = Counter()
    lock = threading.Lock()

    def work() -> None:
        while True:
            try:
                pair_id = jobs.get_nowait()
            except queue.Empty:
                return
            status = runner.run_pair(pair_id).status
            with lock:
                statuses[status.value] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, statuses


def _report(name: str, seconds: float, statuses: Counter[str], server: FakeGraphServer,
            mailboxes: int) -> None:  # fmt: skip
    counts = server.counts()
    limits = server.mailbox_limits.report() if server.mailbox_limits else {}
    throttled = limits.get("refused", 0)
    per_box = {k: round(v / mailboxes, 3) for k, v in sorted(counts.items())}
    print(
        f"  {name:<28} {seconds:8.1f} s  {mailboxes / seconds:7.0f} mailboxes/s  "
        f"requests/mailbox {server.request_count / mailboxes:.3f} {per_box}  "
        f"429s {throttled}  peak in flight/mailbox {limits.get('peak_in_flight', 0)}  "
        f"peak per window/mailbox {limits.get('peak_window', 0)}  runs {dict(statuses)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mailboxes", type=int, default=10_000)
    parser.add_argument("--workers", default="1,4,16")
    parser.add_argument("--gate", choices=("memory", "redis"), default="memory")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    worker_counts = [int(w) for w in args.workers.split(",")]
    clock = _Clock()
    gate, redis_server = _gate(args.gate)
    with tempfile.TemporaryDirectory() as folder, FakeGraphServer() as server:
        server.limit_mailboxes()
        activations = MemoryActivationStore()
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
        t0 = time.perf_counter()
        for n in range(args.mailboxes):
            mailbox = f"user{n:05d}@contoso.com"
            server.add_mailbox(mailbox)
            server.user_create(
                mailbox, CalendarItem(f"Meeting {n}", start, start + timedelta(hours=1))
            )
            activations.put(Activation(f"u{n:05d}", mailbox, ServerKind.GRAPH, clock.now()))
        took = time.perf_counter() - t0
        print(f"fleet: {args.mailboxes} mailboxes set up in {took:.1f} s; gate {args.gate}; "
              "Graph limits 4 concurrent, 10,000 / 10 min per mailbox")  # fmt: skip
        state = SQLiteStateStore(Path(folder) / "state.db")
        policy = SchedulePolicy(interval=timedelta(minutes=15))
        runner = Runner(
            _organisation(), activations, state, FleetPairs(server), MemoryScheduleStore(),
            policy=policy, gate=gate, clock=clock, engine_options={"sleep": time.sleep},
        )  # fmt: skip
        try:
            server.reset_stats()
            seconds, statuses = _cycle(runner, max(worker_counts))
            _report(f"initial cycle, {max(worker_counts)} workers", seconds, statuses, server,
                    args.mailboxes)  # fmt: skip
            for workers in worker_counts:
                clock.offset += policy.interval
                server.reset_stats()
                seconds, statuses = _cycle(runner, workers)
                _report(f"no-change cycle, {workers} workers", seconds, statuses, server,
                        args.mailboxes)  # fmt: skip
            failed = sum(1 for e in state.journal() if e.level == "error")
            print(f"  journal errors: {failed}; gate waits: {getattr(gate, 'waited', 'n/a')}")
        finally:
            state.close()
            if redis_server is not None:
                redis_server.stop()


if __name__ == "__main__":
    main()
