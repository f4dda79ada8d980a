"""Every backend call of a run, with the run's one retry policy.

Reads go through :meth:`Calls.read`, writes through :meth:`Calls.write` (one
``apply_batch`` per backend batch, the transient failures of a batch retried
together); both wait only through the run's :class:`~severa_ext.sync.retry.Waiter`,
so one budget bounds all the waiting of a run. Before each call the run's lease is
kept (renewed when due), so a long read phase never lets it expire.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from severa_ext.errors import BackendError, SeveraExtError, Throttled, VersionConflict
from severa_ext.sync.items import CalendarItem, Side
from severa_ext.sync.planner import Create, Update, WriteRecord
from severa_ext.sync.protocol import Backend, CreateOp, DeleteOp, UpdateOp, WriteOp
from severa_ext.sync.retry import TRANSIENT, Waiter

__all__ = ["Calls", "Outcome"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

Outcome = tuple[CalendarItem | None, SeveraExtError | None]
"""What one write gave: the item written (``None`` for a delete) or the error."""


def _op(record: WriteRecord) -> WriteOp:
    if isinstance(record, Create):
        return CreateOp(record.item, record.sync_key)
    if isinstance(record, Update):
        return UpdateOp(record.item_id, record.item, record.if_match)
    return DeleteOp(record.item_id, record.if_match)


def _retried(error: SeveraExtError, op: WriteOp) -> bool:
    """A per-item error worth another attempt: transient, or a create's conflict."""
    return isinstance(error, TRANSIENT) or (
        isinstance(error, VersionConflict) and isinstance(op, CreateOp)
    )


class Calls:
    """The backends of a run, called with retries.

    Attributes:
        unflushed: the sides written since their last ``flush`` (a durable step
            flushes them before it commits).
    """

    def __init__(
        self, sides: dict[Side, Backend], waiter: Waiter, keep_lease: Callable[[], None]
    ) -> None:
        self.sides = sides
        self.waiter = waiter
        self._keep_lease = keep_lease
        self.unflushed: set[Side] = set()

    def read(self, side: Side, operation: str, call: Callable[..., _T], *args: Any) -> _T:
        """``call(*args)`` on ``side``, retried on transient errors."""
        self._keep_lease()
        return self.waiter.call(f"{operation} on side {side}", lambda: call(*args))

    def get(self, side: Side, item_id: str) -> CalendarItem | None:
        """The item ``item_id`` of ``side`` as it is now (``None``: gone)."""
        return self.read(side, "get", self.sides[side].get, item_id)

    def find(self, side: Side, sync_key: str) -> tuple[CalendarItem, ...]:
        """The items of ``side`` that carry ``sync_key``."""
        return tuple(self.read(side, "find", self.sides[side].find, sync_key))

    def write(self, side: Side, records: list[WriteRecord]) -> list[Outcome]:
        """Send ``records`` to ``side`` as one batch; return one outcome each.

        Transient failures (of the whole batch or of single items) are sent again
        together, within the retry policy; the last error stays in the outcome.
        """
        self._keep_lease()
        ops = [_op(r) for r in records]
        outcome: list[Outcome] = [(None, None) for _ in ops]
        todo = list(range(len(ops)))
        self.unflushed.add(side)
        for attempt in itertools.count():
            todo, last = self._attempt(side, ops, todo, outcome)
            if not todo:
                break
            delay = self.waiter.delay(attempt, last)
            if delay is None:
                break
            logger.info(
                "%d writes on side %s failed transiently; retry in %.1f s", len(todo), side, delay
            )
            self.waiter.wait(delay)
        return outcome

    def _attempt(
        self, side: Side, ops: list[WriteOp], todo: list[int], outcome: list[Outcome]
    ) -> tuple[list[int], SeveraExtError | None]:
        """One ``apply_batch`` of the ops ``todo``; return those to retry and the
        error that sets the wait (a ``Throttled`` one when there is one)."""
        try:
            results = self.sides[side].apply_batch([ops[i] for i in todo])
        except (*TRANSIENT, VersionConflict) as exc:
            for i in todo:
                outcome[i] = (None, exc)
            return todo, exc
        except BackendError as exc:
            for i in todo:
                outcome[i] = (None, exc)
            return [], None
        retry: list[int] = []
        last: SeveraExtError | None = None
        for i, result in zip(todo, results, strict=True):
            error = result.error
            outcome[i] = (result.item, error)
            if error is not None and _retried(error, ops[i]):
                retry.append(i)
                if last is None or isinstance(error, Throttled):
                    last = error
        return retry, last
