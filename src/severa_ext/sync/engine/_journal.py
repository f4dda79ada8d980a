"""What a run writes to the S6 journal: failures, skipped broken items, notes."""

from __future__ import annotations

import logging

from severa_ext.clock import Clock
from severa_ext.errors import BadItem, SeveraExtError
from severa_ext.sync.items import Side
from severa_ext.sync.journal import JournalEntry
from severa_ext.sync.state import StateStore

__all__ = ["RunJournal"]

logger = logging.getLogger(__name__)


class RunJournal:
    """One pair's journal (S6): every entry names the pair, the user and the time."""

    def __init__(self, store: StateStore, clock: Clock, pair_id: str, user_id: str | None):
        self._store = store
        self._clock = clock
        self.pair_id = pair_id
        self.user_id = user_id

    def _entry(
        self,
        operation: str,
        message: str,
        *,
        side: Side | None = None,
        item_ref: str | None = None,
        error_type: str | None = None,
        level: str = "error",
    ) -> JournalEntry:
        return JournalEntry(
            time=self._clock.now(),
            pair_id=self.pair_id,
            operation=operation,
            message=message,
            user_id=self.user_id,
            side=side,
            item_ref=item_ref,
            error_type=error_type,
            level=level,
        )

    def failure(
        self,
        operation: str,
        error: SeveraExtError,
        *,
        side: Side | None = None,
        item_ref: str | None = None,
    ) -> JournalEntry:
        """S6: journal the exact message of a failed call (level ``"error"``)."""
        entry = self._entry(
            operation, str(error), side=side, item_ref=item_ref, error_type=type(error).__name__
        )
        self._store.record(entry)
        logger.warning(
            "pair %s: %s on side %s failed for %s: %s",
            self.pair_id,
            operation,
            side,
            item_ref,
            entry.message,
        )
        return entry

    def problem(self, side: Side, problem: BadItem, *, record: bool) -> JournalEntry:
        """The entry of an item the backend skipped as broken (S6); stored only when
        ``record`` (a dry run stores nothing)."""
        entry = self._entry(
            "list",
            f"skipped: {problem.reason}",
            side=side,
            item_ref=problem.item_ref,
            error_type=type(problem).__name__,
        )
        if record:
            self._store.record(entry)
            logger.warning(
                "pair %s: side %s skipped broken item %s: %s",
                self.pair_id,
                side,
                problem.item_ref,
                entry.message,
            )
        return entry

    def error(self, operation: str, message: str, item_ref: str) -> JournalEntry:
        """An error the engine itself states (a lost lease, an entry given up)."""
        entry = self._entry(operation, message, item_ref=item_ref)
        self._store.record(entry)
        logger.warning("pair %s: %s", self.pair_id, entry.message)
        return entry

    def note(
        self, operation: str, message: str, side: Side | None, item_ref: str | None, level: str
    ) -> None:
        """A warning or an info for the host (a conflict, a quarantine, a relink)."""
        self._store.record(
            self._entry(operation, message, side=side, item_ref=item_ref, level=level)
        )
