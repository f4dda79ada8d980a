"""Benchmark: initial sync of N items to an empty fake Graph calendar, then a no-change sync.

Side A is the in-memory reference backend holding N items; side B is the real
``GraphBackend`` talking over HTTP on 127.0.0.1 to ``FakeGraphServer`` (msal app-only
token from the fake's token endpoint). The sync is the real ``SyncEngine``.

Expect about N/20 write requests for the initial sync (JSON ``$batch`` of 20) and,
for the no-change syncs a single delta round with no writes: the first reads the
initial sync's own creates back (one page per ``--page-size`` events), the next is one
request.

Run: ``python benchmarks/bench_graph.py [--items N] [--page-size P]``.
"""

from __future__ import annotations

import argparse
import logging
import time
from datetime import UTC, datetime, timedelta

from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.state import MemoryStateStore
from severa_ext.testing.graph_server import FakeGraphServer

MAILBOX = "bench@contoso.com"
NOW = datetime(2026, 5, 4, 8, tzinfo=UTC)


def item(number: int) -> CalendarItem:
    start = NOW - timedelta(days=20) + timedelta(minutes=50 * number)
    return CalendarItem(
        f"Activity {number}",
        start,
        start + timedelta(minutes=45),
        location="Room 1",
        body=f"Notes for activity {number}\nsecond line",
        categories=("Severa",),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    clock = FixedClock(NOW)
    policy = SyncPolicy.calendars(past_days=30, future_days=400)
    with FakeGraphServer() as server:
        server.add_mailbox(MAILBOX)
        side_a = MemoryBackend(name="severa", clock=clock)
        for number in range(args.items):
            side_a.user_create(item(number))
        side_b = server.backend(MAILBOX, page_size=args.page_size, timeout=60)
        engine = SyncEngine(
            side_a, side_b, MemoryStateStore(), pair_id="bench", policy=policy, clock=clock
        )
        print(f"Graph backend vs FakeGraphServer: {args.items} items, delta page {args.page_size}")
        # The first no-change sync reads its own writes back once (Graph reports every
        # create in the next delta round) and recognises them; the second is quiet.
        for name in ("initial sync", "no-change sync", "no-change sync 2"):
            server.reset_stats()
            requests_before, bytes_before = side_b.requests_sent, side_b.bytes_sent
            began = time.perf_counter()
            report = engine.run()
            took = time.perf_counter() - began
            requests = side_b.requests_sent - requests_before
            sent = side_b.bytes_sent - bytes_before
            counts = server.counts()
            writes = counts.get("POST $batch", 0) + sum(
                n
                for kind, n in counts.items()
                if kind.split()[0] in {"POST", "PATCH", "DELETE"} and kind != "POST $batch"
            )
            created = sum(report.created.values())
            # items/s: items created, or for a no-change sync the items it compared.
            rate = (created or args.items) / took if took else float("inf")
            print(
                f"  {name:<16} {took:7.2f} s  {requests:5d} HTTP requests "
                f"({writes} write requests, {server.inner_request_count} batched writes)  "
                f"{created:5d} created  {rate:8.0f} items/s  {sent / 1e6:7.2f} MB sent"
            )
            print(f"  {'':<16} requests by kind: {dict(sorted(counts.items()))}")
            if not report.ok:
                print(f"  {'':<16} errors: {[e.message for e in report.errors[:3]]}")
        print(f"  events in the fake calendar: {len(server.tenant.mailboxes[MAILBOX].events)}")


if __name__ == "__main__":
    main()
