"""Our half of ``bench_vs_vdirsyncer.py``: one measurement per process.

Run by the driver with the project's python::

    .venv/bin/python benchmarks/_bench_worker_ours.py --scenario initial --n 10000 \
        --dir /tmp/x [--listing full] [--pause-gc] [--state memory] \
        [--profile initial.prof]

Two ``MemoryCalendar`` sides (the reference backend, without the fault-injection
layer of the tests' ``MemoryBackend``: the peer's memory storage has none either), the
state in a ``SQLiteStateStore`` file on disk, the ``SyncEngine`` with the library's
defaults (``--pause-gc`` sets ``pause_gc=True``).
``--listing delta`` (the default) gives both sides delta cursors, the memory
backend's default; ``--listing full`` announces ``Capabilities(delta=False)`` on
both sides, so every ``changes`` call is a full listing (an ICS file, the Severa REST
API, any store without deltas). Before a ``no-change`` or ``edits`` measurement the
initial sync and one settling sync run untimed (the first sync after an initial one
reads the writes back once). ``--state memory`` keeps the state in a
``MemoryStateStore`` instead (not a row of the table: run by hand, beside the default,
it shows the SQLite store's share of a sync). ``--probe`` prints which engine options
exist.
Prints one JSON line (see ``_bench_measure``).
"""

from __future__ import annotations

import inspect
import json
import sys
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path

from _bench_events import NOW, Event, edited_on_a, edited_on_b, edits, event
from _bench_measure import emit, timed, worker_arguments

from severa_ext.backends.memory import MemoryCalendar
from severa_ext.clock import FixedClock
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem, Capabilities
from severa_ext.sync.policy import ConflictRule, SyncPolicy
from severa_ext.sync.report import SyncReport
from severa_ext.sync.sqlite import SQLiteStateStore
from severa_ext.sync.state import MemoryStateStore, StateStore

__all__ = ["main"]

POLICY = SyncPolicy.calendars(conflict_rule=ConflictRule.A_WINS, past_days=30, future_days=400)
"""Plain calendar <-> calendar sync, side A wins (as vdirsyncer's ``a wins``)."""


def pause_gc_offered() -> bool:
    """Whether this engine still takes ``SyncEngine(pause_gc=...)``."""
    return "pause_gc" in inspect.signature(SyncEngine).parameters


def _item(source: Event) -> CalendarItem:
    return CalendarItem(
        source.title, source.start, source.end, location=source.location, body=source.body
    )


class _Pair:
    """Two memory backends, the state store and the engine of one sync pair."""

    def __init__(self, store: StateStore, *, listing: str, pause_gc: bool) -> None:
        self.clock = FixedClock(NOW)
        caps = Capabilities(delta=listing == "delta", batch_size=50)
        self.a = MemoryCalendar("a", capabilities=caps, clock=self.clock)
        self.b = MemoryCalendar("b", capabilities=caps, clock=self.clock)
        self.store = store
        options = {"pause_gc": True} if pause_gc else {}
        self.engine = SyncEngine(
            self.a, self.b, self.store, pair_id="bench", policy=POLICY, clock=self.clock, **options
        )

    def sync(self) -> SyncReport:
        report = self.engine.run()
        if not report.ok:
            raise SystemExit(f"severa_ext: sync failed: {report.summary()}")
        return report

    def seed(self, n: int) -> None:
        for number in range(n):
            self.a.user_create(_item(event(number)))

    def edit(self, n: int) -> None:
        """The user edits: even events renamed on A, odd events moved on B."""
        self.clock.advance(timedelta(seconds=1))
        on_a = {item.title: item.id for item in self.a.all_items()}
        on_b = {item.title: item.id for item in self.b.all_items()}
        for k in range(edits(n)):
            renamed, moved = edited_on_a((2 * k) % n), edited_on_b((2 * k + 1) % n)
            self.a.user_update(on_a[event((2 * k) % n).title] or "", title=renamed.title)
            self.b.user_update(on_b[moved.title] or "", location=moved.location)

    def check(self, n: int, *, edited: bool) -> None:
        """Both sides hold the same N items (and the edits crossed over)."""
        contents = []
        for backend in (self.a, self.b):
            items = backend.all_items()
            if len(items) != n:
                raise SystemExit(f"severa_ext: {len(items)} items on {backend.name}, expected {n}")
            contents.append({(i.title, i.start, i.location, i.body) for i in items})
        if contents[0] != contents[1]:
            raise SystemExit("severa_ext: the two sides differ after the sync")
        if edited:
            titles = {title for title, _, _, _ in contents[0]}
            places = {location for _, _, location, _ in contents[0]}
            for k in range(edits(n)):
                if edited_on_a((2 * k) % n).title not in titles:
                    raise SystemExit(f"severa_ext: the edit of event {2 * k} did not cross")
                if edited_on_b((2 * k + 1) % n).location not in places:
                    raise SystemExit(f"severa_ext: the edit of event {2 * k + 1} did not cross")


def _store(kind: str, directory: str) -> StateStore:
    """The state store ``--state`` names: an SQLite file in ``directory``, or memory."""
    if kind == "memory":
        return MemoryStateStore()
    return SQLiteStateStore(Path(directory) / "severa-ext-state.sqlite")


def main() -> None:
    """Set the scenario up, time one sync, print the JSON line."""
    parser = worker_arguments(__doc__.splitlines()[0])
    parser.add_argument("--listing", choices=("delta", "full"), default="delta")
    parser.add_argument("--pause-gc", action="store_true", help="SyncEngine(pause_gc=True)")
    parser.add_argument(
        "--state",
        choices=("sqlite", "memory"),
        default="sqlite",
        help="the state store: an SQLite file in --dir (the table's), or in memory",
    )
    if "--probe" in sys.argv[1:]:
        json.dump({"pause_gc": pause_gc_offered()}, sys.stdout)
        return
    args = parser.parse_args()
    store = _store(args.state, args.dir)
    pair = _Pair(store, listing=args.listing, pause_gc=args.pause_gc)
    pair.seed(args.n)
    if args.scenario != "initial":
        pair.sync()  # the initial sync
        pair.sync()  # it reads its own writes back once
    if args.scenario == "edits":
        pair.edit(args.n)
    report, wall, cpu = timed(pair.sync, args.profile)
    pair.check(args.n, edited=args.scenario == "edits")
    expected = {"initial": args.n, "no-change": 0, "edits": 2 * edits(args.n)}[args.scenario]
    if report.total_writes != expected:
        raise SystemExit(f"severa_ext: {report.total_writes} writes, expected {expected}")
    pair.store.close()
    emit("severa_ext", version("severa_ext"), wall, cpu, writes=report.total_writes)


if __name__ == "__main__":
    main()
