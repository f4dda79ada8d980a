"""The vdirsyncer half of ``bench_vs_vdirsyncer.py``: one measurement per process.

Run by the driver with the python of the benchmark's own virtualenv (vdirsyncer
0.21.0 installed there, never a dependency of ``severa_ext``)::

    /tmp/bench-venv/bin/python benchmarks/_bench_worker_peer.py --scenario initial \
        --n 10000 --dir /tmp/x

Two ``vdirsyncer.storage.memory.MemoryStorage`` sides, the status in vdirsyncer's own
``SqliteStatus`` in a file on disk, driven through the ``vdirsyncer.sync.sync``
coroutine with ``conflict_resolution="a wins"`` and ``force_delete=True`` (what
``vdirsyncer sync`` does with ``conflict_resolution = "a wins"``). vdirsyncer has no
delta cursors: every sync lists both sides in full and compares etags. Prints one JSON
line (see ``_bench_measure``).
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from pathlib import Path
from typing import Any

from _bench_events import edited_on_a, edited_on_b, edits, event, ics_text
from _bench_measure import emit, timed, worker_arguments
from vdirsyncer.storage.memory import MemoryStorage
from vdirsyncer.sync import sync
from vdirsyncer.sync.status import SqliteStatus
from vdirsyncer.vobject import Item

__all__ = ["main"]

FILEEXT = ".ics"


class _Pair:
    """Two memory storages and the status file of one sync pair."""

    def __init__(self, directory: str) -> None:
        self.a = MemoryStorage(fileext=FILEEXT, instance_name="a")
        self.b = MemoryStorage(fileext=FILEEXT, instance_name="b")
        self.status = SqliteStatus(str(Path(directory) / "vdirsyncer-status.sqlite"))
        self.loop = asyncio.new_event_loop()

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def sync(self) -> None:
        self.run(sync(self.a, self.b, self.status, conflict_resolution="a wins", force_delete=True))

    async def seed(self, n: int) -> None:
        for number in range(n):
            await self.a.upload(Item(ics_text(event(number))))

    async def edit(self, n: int) -> None:
        """The user edits: even events renamed on A, odd events moved on B."""
        for k in range(edits(n)):
            for storage, number, edited in (
                (self.a, 2 * k, edited_on_a),
                (self.b, 2 * k + 1, edited_on_b),
            ):
                changed = edited(number % n)
                href = changed.uid + FILEEXT
                _, etag = await storage.get(href)
                await storage.update(href, Item(ics_text(changed)), etag)

    async def check(self, n: int, *, edited: bool) -> None:
        """Both sides hold the same N items (and the edits crossed over)."""
        for storage in (self.a, self.b):
            if len(storage.items) != n:
                raise SystemExit(f"vdirsyncer: {len(storage.items)} items, expected {n}")
        if edited:
            for k in range(edits(n)):
                for storage, number, edit in (
                    (self.b, 2 * k, edited_on_a),
                    (self.a, 2 * k + 1, edited_on_b),
                ):
                    item, _ = await storage.get(edit(number % n).uid + FILEEXT)
                    if item.raw != ics_text(edit(number % n)):
                        raise SystemExit(f"vdirsyncer: edit of event {number} did not cross")


def main() -> None:
    """Set the scenario up, time one sync, print the JSON line."""
    args = worker_arguments(__doc__.splitlines()[0]).parse_args()
    pair = _Pair(args.dir)
    pair.run(pair.seed(args.n))
    if args.scenario != "initial":
        pair.sync()  # the initial sync
        pair.sync()  # a settling sync, as ours gets one (see _bench_worker_ours)
    if args.scenario == "edits":
        pair.run(pair.edit(args.n))
    _, wall, cpu = timed(pair.sync, args.profile)
    pair.run(pair.check(args.n, edited=args.scenario == "edits"))
    pair.status.close()
    emit("vdirsyncer", version("vdirsyncer"), wall, cpu)


if __name__ == "__main__":
    main()
