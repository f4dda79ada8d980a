"""The report's counts: one function over the plan's entries and their outcomes.

A real run and a dry run count the same way: :meth:`Tally.entry` once per entry
when nothing more happens to it, over its writes that succeeded (a dry run assumes
every write succeeds: :func:`tally_plan`) and, when the entry completed, its state
records (skipped writes, a parked copy, a conflict, an unlink, a link of existing
copies or a relink).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from severa_ext.sync.items import Side
from severa_ext.sync.journal import JournalEntry
from severa_ext.sync.planner import Conflict, Create, SetLink, Unlink, Update
from severa_ext.sync.report import SyncReport

if TYPE_CHECKING:
    from severa_ext.sync.engine._entries import Entry

__all__ = ["Tally", "tally_plan"]


def _per_side() -> dict[Side, int]:
    return {"a": 0, "b": 0}


@attrs.define
class Tally:
    """What a :class:`~severa_ext.sync.report.SyncReport` counts, as a run goes."""

    created: dict[Side, int] = attrs.field(factory=_per_side)
    updated: dict[Side, int] = attrs.field(factory=_per_side)
    deleted: dict[Side, int] = attrs.field(factory=_per_side)
    skipped: dict[Side, int] = attrs.field(factory=_per_side)
    linked: int = 0
    unlinked: int = 0
    quarantined: int = 0
    conflicts: list[Conflict] = attrs.field(factory=list)
    errors: list[JournalEntry] = attrs.field(factory=list)
    problems: list[JournalEntry] = attrs.field(factory=list)
    changes: int = 0

    def entry(self, entry: Entry) -> bool:
        """Count one entry once nothing more happens to it: the writes that
        succeeded (``entry.results``) and, if it completed, its state records.

        Returns:
            Whether the entry completed (every write succeeded).
        """
        for write in entry.writes:
            if write.side not in entry.results:
                continue
            if isinstance(write, Create):
                self.created[write.side] += 1
            elif isinstance(write, Update):
                self.updated[write.side] += 1
            else:
                self.deleted[write.side] += 1
        if not entry.complete():
            return False
        for skipped in entry.skipped:
            self.skipped[skipped.side] += 1
        if entry.quarantine is not None:
            self.quarantined += 1
        if entry.conflict is not None:
            self.conflicts.append(entry.conflict)
        if isinstance(entry.final, Unlink):
            self.unlinked += 1
        elif isinstance(entry.final, SetLink) and entry.joined is not None:
            self.linked += 1
        return True

    def recovered(self, *, linked: int) -> None:
        """Count what resolving a crashed run's intents linked (a further item with an
        intent's key is parked by the plan, and counted with it)."""
        self.linked += linked

    def report(
        self, pair_id: str, started: datetime, duration: float, *, dry_run: bool, advanced: bool
    ) -> SyncReport:
        """The run's report."""
        return SyncReport(
            pair_id=pair_id,
            started=started,
            duration=duration,
            dry_run=dry_run,
            created=dict(self.created),
            updated=dict(self.updated),
            deleted=dict(self.deleted),
            skipped=dict(self.skipped),
            linked=self.linked,
            unlinked=self.unlinked,
            quarantined=self.quarantined,
            conflicts=tuple(self.conflicts),
            errors=tuple(self.errors),
            problems=tuple(self.problems),
            changes=self.changes,
            cursors_advanced=advanced,
        )


def tally_plan(tally: Tally, entries: Iterable[Entry]) -> None:
    """A dry run's counts: :meth:`Tally.entry` as if every write succeeded."""
    for entry in entries:
        entry.results = {write.side: None for write in entry.writes}
        tally.entry(entry)
