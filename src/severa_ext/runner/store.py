"""Where the schedule lives: :class:`ScheduleStore` and :class:`MemoryScheduleStore`.

The schedule is small and shared by every worker of the organisation: the Celery
integration keeps it in Redis (:class:`severa_ext.contrib.celery.RedisScheduleStore`);
the memory store is the reference (one process, tests, the benchmark).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from severa_ext.runner.schedule import PairSchedule

__all__ = ["MemoryScheduleStore", "ScheduleStore"]


class ScheduleStore(Protocol):
    """When each pair is due."""

    def get(self, pair_id: str) -> PairSchedule | None:
        """The pair's schedule (``None``: never run, so due now)."""
        ...

    def put(self, schedule: PairSchedule) -> None:
        """Store the pair's schedule after a run."""
        ...

    def due(self, pair_ids: Iterable[str], now: datetime) -> list[str]:
        """Which of ``pair_ids`` are due at ``now`` (a pair never run is due), in order."""
        ...

    def hasten(self, pair_id: str, now: datetime) -> None:
        """Make the pair due at ``now`` (a change notification), within its back-off."""
        ...


class MemoryScheduleStore:
    """An in-memory, thread-safe :class:`ScheduleStore`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, PairSchedule] = {}

    def __repr__(self) -> str:
        return f"MemoryScheduleStore(pairs={len(self._items)})"

    def get(self, pair_id: str) -> PairSchedule | None:
        """The pair's schedule."""
        with self._lock:
            return self._items.get(pair_id)

    def put(self, schedule: PairSchedule) -> None:
        """Store the pair's schedule."""
        with self._lock:
            self._items[schedule.pair_id] = schedule

    def due(self, pair_ids: Iterable[str], now: datetime) -> list[str]:
        """Which of ``pair_ids`` are due at ``now``."""
        with self._lock:
            found = [(p, self._items.get(p)) for p in pair_ids]
        return [p for p, entry in found if entry is None or entry.due <= now]

    def hasten(self, pair_id: str, now: datetime) -> None:
        """Make the pair due at ``now`` (not before its ``not_before``)."""
        with self._lock:
            entry = self._items.get(pair_id)
            if entry is not None:
                self._items[pair_id] = entry.hastened(now)
