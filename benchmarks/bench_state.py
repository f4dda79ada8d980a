"""Benchmark of the sync state stores (issue 14): SQLite against PostgreSQL, one run.

1. The same sync on each store, side by side: the initial sync of N items (default
   100,000, all on side A: N creates on side B), the echo pass (the next sync reads
   back what the initial one wrote), and the no-change sync (best of 5), with the
   PostgreSQL / SQLite ratio of each. The no-change sync is measured twice on
   PostgreSQL: right after the initial sync, and once the table is vacuumed and
   analysed (``VACUUM ANALYZE``, what autovacuum does within a minute or so): until
   then the N intents the initial sync settled are dead index entries, and the
   planner's statistics still describe an empty table.
2. Throughput of the no-change syncs of P pairs (default 100, M items each) sharing
   one PostgreSQL: every pair once in a row, then the same driven by
   ``PostgresStateStore.claim_due_pairs`` (claim 10 due pairs, sync them under the
   claimed leases), as a worker of an organisation runner would.

Backends are in memory (``MemoryBackend``), so the figures are the engine and the
store. The SQLite file is on local disk (WAL, ``synchronous=NORMAL``). PostgreSQL is a
throw-away cluster on a Unix socket started with its default durability (``fsync``
and ``synchronous_commit`` on), or the server ``--dsn`` names (its tables go in the
connection's ``search_path`` schema; use an empty one).

Run ``python benchmarks/bench_state.py`` (``--quick``: N = 10,000 and P = 20;
``--items``, ``--pairs``, ``--pair-items`` to choose; ``--dsn`` for your server).
Wall and CPU (``time.process_time``, this process only: the PostgreSQL server's own
CPU is not in it) seconds are printed.
"""

from __future__ import annotations

import argparse
import gc
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_sync import memory_pair

from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.postgres import PostgresStateStore
from severa_ext.sync.report import SyncReport
from severa_ext.sync.sqlite import SQLiteStateStore
from severa_ext.sync.state import StateStore

NOW = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
POLICY = SyncPolicy(outgoing_types={"meeting"}, default_type="internal", personal_type="personal")
STEP_WRITES = 1000
CLAIM_BATCH = 10


def _engine(
    a: MemoryBackend, b: MemoryBackend, store: StateStore, pair: str, clock: FixedClock, **kw: str
) -> SyncEngine:
    return SyncEngine(
        a,
        b,
        store,
        pair_id=pair,
        policy=POLICY,
        clock=clock,
        step_writes=STEP_WRITES,
        pause_gc=True,
        **kw,  # type: ignore[arg-type]
    )


def _timed(action: Callable[[], SyncReport]) -> tuple[SyncReport, float, float]:
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    report = action()
    return report, time.perf_counter() - t0, time.process_time() - c0


def _best_no_change(engine: SyncEngine) -> tuple[float, float]:
    """Wall and CPU seconds of the fastest of 5 no-change syncs (checked: no writes)."""
    samples = [_timed(engine.run) for _ in range(5)]
    assert all(r.total_writes == 0 for r, _, _ in samples)
    _, wall, cpu = min(samples, key=lambda sample: sample[1])
    return wall, cpu


def _side_by_side(
    n: int, stores: dict[str, Callable[[], StateStore]], settle: Callable[[], None]
) -> dict[str, list[float]]:
    """Wall seconds of initial, echo, no-change and no-change once the tables are
    vacuumed and analysed (``settle``; SQLite needs nothing) per store."""
    figures: dict[str, list[float]] = {}
    for name, open_store in stores.items():
        clock = FixedClock(NOW)
        a, b = memory_pair(n, clock, f"-{name}")
        gc.collect()
        gc.freeze()
        store = open_store()
        engine = _engine(a, b, store, "bench", clock)
        report, initial, cpu = _timed(engine.run)
        assert report.writes["b"] == n, report.summary()
        _print_row(name, "initial", n, initial, cpu)
        report, echo, cpu = _timed(engine.run)
        assert report.total_writes == 0, report.summary()
        _print_row(name, "echo pass", n, echo, cpu)
        wall, cpu = _best_no_change(engine)
        _print_row(name, "no-change", n, wall, cpu)
        if name == "PostgreSQL":
            settle()
        settled, cpu = _best_no_change(engine)
        _print_row(name, "no-change, vacuumed", n, settled, cpu)
        figures[name] = [initial, echo, wall, settled]
        store.close()
        del engine, a, b
        gc.unfreeze()
    return figures


def _print_row(store: str, what: str, n: int, wall: float, cpu: float) -> None:
    rate = n / wall if wall > 0 else float("inf")
    print(
        f"{store:<11} {what:<20} {n:>8,} items {wall * 1000:>10.1f} ms wall "
        f"{cpu * 1000:>10.1f} ms CPU {rate:>12,.0f} items/s"
    )


def _pairs_throughput(dsn: str, pairs: int, items: int) -> None:
    """No-change syncs of ``pairs`` pairs on one PostgreSQL: in a row, then claimed."""
    clock = FixedClock(NOW)
    with PostgresStateStore(dsn, max_size=2) as store:
        sides = {f"user-{p:03}": memory_pair(items, clock, f"-u{p}") for p in range(pairs)}
        t0 = time.perf_counter()
        for pair, (a, b) in sides.items():
            _engine(a, b, store, pair, clock).run()  # initial
            _engine(a, b, store, pair, clock).run()  # echo pass
        setup = time.perf_counter() - t0
        print(f"setup: {pairs} pairs x {items:,} items synced (initial + echo) in {setup:.1f} s")
        with _measured(f"{pairs} pairs' no-change syncs in a row", pairs):
            for pair, (a, b) in sides.items():
                assert _engine(a, b, store, pair, clock).run().total_writes == 0
        for pair in sides:
            store.schedule(pair, NOW)
        with _measured(f"{pairs} pairs claimed by {CLAIM_BATCH}s and synced", pairs):
            done = _claim_and_sync(store, sides, clock)
        assert done == pairs, done


def _claim_and_sync(
    store: PostgresStateStore,
    sides: dict[str, tuple[MemoryBackend, MemoryBackend]],
    clock: FixedClock,
) -> int:
    done = 0
    ttl, every = timedelta(minutes=5), timedelta(minutes=15)
    while batch := store.claim_due_pairs(
        "worker-1", now=clock.now(), ttl=ttl, every=every, limit=CLAIM_BATCH
    ):
        for lease in batch:
            a, b = sides[lease.pair_id]
            engine = _engine(a, b, store, lease.pair_id, clock, holder=lease.holder)
            assert engine.run().total_writes == 0
            done += 1
    return done


@contextmanager
def _measured(what: str, pairs: int) -> Iterator[None]:
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    yield
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"{what}: {wall * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU; "
        f"{pairs / wall:,.0f} pairs/s, {wall / pairs * 1000:.2f} ms per pair"
    )


def _vacuum(dsn: str) -> None:
    """What autovacuum does within a minute of a large sync: ``VACUUM ANALYZE``."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE severa_ext_state_links")


@contextmanager
def _postgres(dsn: str | None) -> Iterator[str]:
    if dsn:
        yield dsn
        return
    from severa_ext.testing.postgres_server import PostgresServer

    server = PostgresServer.start(durable=True)
    try:
        print(f"PostgreSQL: {server.version}, throw-away cluster, fsync on, Unix socket")
        yield server.create_schema("bench").dsn
    finally:
        server.stop()


def main() -> None:
    """Parse the options and run both parts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 10,000 and P = 20")
    parser.add_argument("--items", type=int, default=0, help="N (default 100,000)")
    parser.add_argument("--pairs", type=int, default=0, help="P (default 100)")
    parser.add_argument("--pair-items", type=int, default=200, help="M (default 200)")
    parser.add_argument("--dsn", default="", help="a PostgreSQL to use (default: throw-away)")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    n = args.items or (10_000 if args.quick else 100_000)
    pairs = args.pairs or (20 if args.quick else 100)
    with tempfile.TemporaryDirectory() as tmp, _postgres(args.dsn or None) as dsn:
        stores: dict[str, Callable[[], StateStore]] = {
            "SQLite": lambda: SQLiteStateStore(Path(tmp) / "state.sqlite"),
            "PostgreSQL": lambda: PostgresStateStore(dsn, max_size=2),
        }
        figures = _side_by_side(n, stores, lambda: _vacuum(dsn))
        whats = ("initial", "echo pass", "no-change", "no-change, vacuumed")
        for index, what in enumerate(whats):
            ratio = figures["PostgreSQL"][index] / figures["SQLite"][index]
            print(f"ratio PostgreSQL / SQLite, {what}: {ratio:.2f}x")
        _pairs_throughput(dsn, pairs, args.pair_items)


if __name__ == "__main__":
    main()
