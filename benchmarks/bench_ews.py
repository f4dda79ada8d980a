"""Benchmark of the EWS backend against the local fake server (real HTTP on 127.0.0.1).

Seeds a mailbox with N single items and a few daily series, then times: the first full
listing (SyncFolderItems to the end, CalendarView, GetItem in batches of 100), a
no-change delta, a delta after 50 user edits, and 50 creates one by one and batched.

Run: ``python benchmarks/bench_ews.py [--items N]``. Prints seconds and request counts.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from severa_ext.backends.base import CreateOp
from severa_ext.sync.items import CalendarItem, ChangeSet, Window
from severa_ext.testing.ews_server import FakeEwsServer

MAILBOX = "bench@contoso.com"
START = datetime(2026, 1, 5, 8, tzinfo=UTC)
WINDOW = Window(datetime(2025, 12, 1, tzinfo=UTC), datetime(2027, 6, 1, tzinfo=UTC))


def item(number: int) -> CalendarItem:
    start = START + timedelta(hours=7 * number)
    return CalendarItem(f"Item {number}", start, start + timedelta(minutes=45), body="x" * 200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=2000)
    args = parser.parse_args()
    with FakeEwsServer() as server:
        server.add_mailbox(MAILBOX)
        seeded = [server.create_item(MAILBOX, item(n)) for n in range(args.items)]
        for series in range(5):
            server.create_series(MAILBOX, item(series), count=30)
        with server.backend(MAILBOX) as backend:
            phases: list[tuple[str, float, int, int]] = []

            def phase(name: str, run: Callable[[], Any]) -> Any:
                before = len(server.requests)
                began = time.perf_counter()
                result = run()
                took = time.perf_counter() - began
                count = len(result.items) if isinstance(result, ChangeSet) else len(result)
                phases.append((name, took, len(server.requests) - before, count))
                return result

            full = phase("full listing", lambda: backend.changes(None, WINDOW))
            quiet = phase("no-change delta", lambda: backend.changes(full.cursor, WINDOW))
            for stored in seeded[:50]:
                server.update_item(MAILBOX, stored.id, stored.evolve(title=stored.title + "!"))
            phase("delta after 50 edits", lambda: backend.changes(quiet.cursor, WINDOW))
            phase(
                "50 creates, one by one",
                lambda: [backend.create(item(10_000 + n), f"bench-{n}") for n in range(50)],
            )
            size = backend.capabilities.batch_size
            batched = [CreateOp(item(20_000 + n), f"batch-{n}") for n in range(50)]
            phase(
                f"50 creates, batches of {size}",
                lambda: [
                    result
                    for start in range(0, len(batched), size)
                    for result in backend.apply_batch(batched[start : start + size])
                ],
            )
        kinds = Counter(r.operation for r in server.requests)
    print(f"EWS backend vs FakeEwsServer, {args.items} items + 5 series x 30 occurrences")
    for name, took, requests, count in phases:
        print(f"  {name:<28} {took:7.3f} s  {requests:4d} requests  {count:5d} items")
    print("  requests by operation:", dict(sorted(kinds.items())))


if __name__ == "__main__":
    main()
