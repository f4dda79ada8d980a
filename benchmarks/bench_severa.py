"""Benchmark: Severa (the real ``SeveraBackend`` over HTTP against ``FakeSeveraServer``)
on side A, the in-memory calendar on side B, the real ``SyncEngine``.

For each N it measures, in requests to the fake and wall time:

* the initial sync of N activities (a full, paged listing: N/100 pages);
* a no-change sync without a delete check (one ``changedSince`` request, whatever N);
* 1% of the activities edited in Severa, then a sync (pages of the changed ones);
* the delete check (a full listing again) after one activity was deleted in Severa.

The fake's clock is fixed and moved by hand, so the runs are repeatable.

Run: ``python benchmarks/bench_severa.py [--items 2000 20000]``.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import requests

from severa_ext.backends.memory import MemoryBackend
from severa_ext.backends.severa import SeveraBackend, SeveraCredentials
from severa_ext.clock import FixedClock
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import Capabilities
from severa_ext.sync.report import SyncReport
from severa_ext.sync.state import MemoryStateStore
from severa_ext.testing.severa_server import FakeSeveraServer

START = datetime(2026, 5, 4, 8, tzinfo=UTC)
EMAIL = "bench@example.com"


def _fill(server: FakeSeveraServer, user: str, type_guid: str, count: int) -> list[str]:
    guids = []
    for n in range(count):
        begins = START + timedelta(days=n % 300, hours=8 + n % 9)
        guids.append(
            server.add_activity(
                user, f"Activity {n}", begins, begins + timedelta(hours=1), type_guid=type_guid
            ).guid
        )
    return guids


def _measure(
    server: FakeSeveraServer,
    label: str,
    run: Callable[[], SyncReport],
    check: Callable[[SyncReport], bool],
) -> None:
    server.reset_stats()
    began = time.perf_counter()
    report = run()
    seconds = time.perf_counter() - began
    ok = "ok" if check(report) and not report.errors else f"UNEXPECTED: {report}"
    print(f"  {label:<34} {server.request_count:>6} requests {seconds:>8.2f} s   {ok}")


def bench(count: int) -> None:
    clock = FixedClock(START)
    with FakeSeveraServer(clock=clock) as server:
        user = server.add_user(EMAIL)
        meeting = server.add_type("Meeting", is_default=True)
        guids = _fill(server, user.guid, meeting.guid, count)
        clock.advance(timedelta(hours=1))  # the activities were made before the first sync
        session = requests.Session()
        severa = SeveraBackend(
            SeveraCredentials(server.client_id, server.client_secret),
            user_email=EMAIL,
            base_url=server.base_url,
            session=session,
            clock=clock,
            delete_check_interval=timedelta(hours=6),
        )
        calendar = MemoryBackend("calendar", capabilities=Capabilities(delta=True), clock=clock)
        engine = SyncEngine(
            severa,
            calendar,
            MemoryStateStore(),
            pair_id="bench",
            policy=severa.settings_policy(["Meeting"]),
            clock=clock,
            sleep=lambda _: None,
        )
        print(f"N = {count:,} activities")
        _measure(server, "initial sync", engine.run, lambda r: r.created["b"] == count)
        clock.advance(timedelta(minutes=10))
        _measure(server, "no-change sync", engine.run, lambda r: sum(r.created.values()) == 0)
        edited = guids[::100]
        for guid in edited:
            server.edit_activity(guid, location="Moved to room 2")
        clock.advance(timedelta(minutes=10))
        _measure(
            server,
            f"1% edited ({len(edited)})",
            engine.run,
            lambda r: r.updated["b"] == len(edited),
        )
        server.delete_activity(guids[1])
        clock.advance(timedelta(hours=6))
        _measure(server, "delete check (one deleted)", engine.run, lambda r: r.deleted["b"] == 1)
        severa.close()
        session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, nargs="+", default=[2000, 20000])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for count in args.items:
        bench(count)


if __name__ == "__main__":
    main()
