"""Durable steps: what a run stores, fenced by its lease, after flushing its writes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from severa_ext.errors import BackendError, LeaseHeld
from severa_ext.sync.engine._calls import Calls
from severa_ext.sync.engine._journal import RunJournal
from severa_ext.sync.engine._lease import LeaseKeeper
from severa_ext.sync.engine._stops import RunStopped
from severa_ext.sync.items import Side
from severa_ext.sync.links import Intent, Stored
from severa_ext.sync.state import StateChange, StateStore

__all__ = ["Pending", "Steps", "state_change"]

logger = logging.getLogger(__name__)

_SIDES: tuple[Side, Side] = ("a", "b")


def state_change(put: Sequence[Stored], drop: Sequence[str]) -> StateChange:
    """A step that stores ``put`` and deletes the keys ``drop``."""
    # StateChange's converter=tuple is opaque to mypy: hand it Anys.
    links: Any = tuple(put)
    keys: Any = tuple(drop)
    return StateChange(put=links, delete=keys)


class Pending:
    """What the next durable step stores (``put``) and deletes (``drop``)."""

    __slots__ = ("drop", "put")

    def __init__(self) -> None:
        self.put: list[Stored] = []
        self.drop: list[str] = []

    def __len__(self) -> int:
        return len(self.put) + len(self.drop)


class Steps:
    """The durable steps of one run."""

    def __init__(
        self,
        store: StateStore,
        pair_id: str,
        calls: Calls,
        lease: LeaseKeeper,
        journal: RunJournal,
    ) -> None:
        self._store = store
        self._pair_id = pair_id
        self._calls = calls
        self._lease = lease
        self._journal = journal

    def apply(self, pending: Pending, intents: Sequence[Intent] = ()) -> None:
        """Commit ``pending`` and ``intents`` as one step (if any), then empty
        ``pending``."""
        if not pending and not intents:
            return
        self.commit(state_change([*pending.put, *intents], pending.drop))
        pending.put.clear()
        pending.drop.clear()

    def commit(self, change: StateChange) -> None:
        """End a durable step: flush the backends written since the last step
        (``Backend.flush``), then commit ``change``, fenced by the run's lease.

        Raises:
            RunStopped: a flush failed (nothing of the step is committed), or the
                lease is another run's (the store refused the step).
        """
        self._lease.keep()
        self._flush()
        try:
            self._store.apply(self._pair_id, self._lease.fence(change))
        except LeaseHeld as lost:
            raise RunStopped(self._lease.lost(lost)) from lost

    def _flush(self) -> None:
        calls = self._calls
        for side in _SIDES:
            if side not in calls.unflushed:
                continue
            try:
                calls.read(side, "flush", calls.sides[side].flush)
            except BackendError as exc:
                raise RunStopped(self._journal.failure("flush", exc, side=side)) from exc
            calls.unflushed.discard(side)

    def advance(self, cursors: dict[Side, str | None], *, hold: bool) -> bool:
        """Move the cursors past the run's changes, unless ``hold``; return whether
        they moved (a step also flushes what is still unflushed)."""
        if hold:
            logger.info("pair %s: cursors held back (items will be retried)", self._pair_id)
            return False
        moved = {
            side: cursor
            for side, cursor in cursors.items()
            if cursor != self._store.cursor(self._pair_id, side)
        }
        if moved or self._calls.unflushed:
            self.commit(StateChange(cursors=moved))
        return True
