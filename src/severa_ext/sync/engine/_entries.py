"""A plan grouped by entry, and the mutable bookkeeping of one run."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import attrs

from severa_ext.sync.engine._report import Tally
from severa_ext.sync.items import CalendarItem, Side
from severa_ext.sync.links import Stored
from severa_ext.sync.planner import (
    Conflict,
    Create,
    Delete,
    LinkExisting,
    Park,
    PlanRecord,
    Relink,
    SetLink,
    Skipped,
    Unlink,
    Update,
    WriteRecord,
)

__all__ = ["Entry", "Run", "group", "live", "log_records"]

logger = logging.getLogger(__name__)

_WRITES = (Create, Update, Delete)  # tuples: isinstance is faster than with a union
_FINALS = (SetLink, Unlink)


@attrs.define
class Entry:
    """The records of one sync key, and how far their execution got.

    Attributes:
        results: per side written successfully, the item written (``None`` for a
            delete): the entry's outcomes.
        stopped: ``"replan"`` (a stale etag) or ``"failed"`` (journaled).
    """

    key: str
    writes: tuple[WriteRecord, ...] = ()  # one or two: a tuple, no list per entry
    final: SetLink | Unlink | None = None
    joined: LinkExisting | Relink | None = None  # links existing copies / relinks (S3)
    conflict: Conflict | None = None
    quarantine: Park | None = None
    skipped: tuple[Skipped, ...] = ()  # rare: no list per entry
    results: dict[Side, CalendarItem | None] = attrs.field(factory=dict)
    stopped: str | None = None

    def complete(self) -> bool:
        """Every write succeeded: the entry's final state may be stored."""
        return self.stopped is None and len(self.results) == len(self.writes)


def group(records: Iterable[PlanRecord]) -> list[Entry]:
    """The plan's records, one :class:`Entry` per run of records of one key."""
    entries: list[Entry] = []
    current: Entry | None = None
    for record in records:
        if isinstance(record, Park):
            entries.append(Entry(record.sync_key, quarantine=record))
            current = None
            continue
        if current is None or current.key != record.sync_key:
            current = Entry(record.sync_key)
            entries.append(current)
        # The common records first: a write, then the entry's final state.
        if isinstance(record, _WRITES):
            current.writes = (*current.writes, record)
        elif isinstance(record, _FINALS):
            current.final = record
        elif isinstance(record, Skipped):
            current.skipped = (*current.skipped, record)
        elif isinstance(record, Conflict):
            current.conflict = record
        else:
            assert isinstance(record, LinkExisting | Relink)
            current.joined = record
    return entries


def log_records(records: Iterable[PlanRecord]) -> None:
    """Log each record at debug level: its kind, side and key, never its content."""
    if not logger.isEnabledFor(logging.DEBUG):
        return
    for record in records:
        logger.debug(
            "plan: %s side=%s key=%s",
            type(record).__name__,
            getattr(record, "side", "-"),
            record.sync_key,
        )


def live(entry: Entry | None) -> bool:
    """True for a write slot still to do (not done, its entry not stopped)."""
    return entry is not None and entry.stopped is None


@attrs.define
class Run:
    """Mutable bookkeeping of one run.

    Attributes:
        tally: what the report counts.
        hold_cursors: something is retried next run: the cursors stay.
        links: the stored links the plan was made from, by key.
        done, total: writes done and planned (for ``progress``).
    """

    tally: Tally = attrs.field(factory=Tally)
    hold_cursors: bool = False
    links: dict[str, Stored] = attrs.field(factory=dict)
    done: int = 0
    total: int = 0
