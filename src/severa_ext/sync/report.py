"""What a sync run and a verify pass report back to the host."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import attrs

from severa_ext.sync.items import Side
from severa_ext.sync.journal import JournalEntry
from severa_ext.sync.planner import Conflict

__all__ = ["Divergence", "SyncReport", "VerifyReport"]


def _per_side() -> dict[Side, int]:
    return {"a": 0, "b": 0}


@attrs.frozen
class SyncReport:
    """The outcome of one :meth:`SyncEngine.run <severa_ext.sync.engine.SyncEngine.run>`.

    Attributes:
        pair_id: the sync pair.
        started: when the run started (from the engine's clock).
        duration: wall time of the run, in seconds.
        dry_run: nothing was written (the counts are what would have happened).
        created, updated, deleted: successful writes per operation, keyed by the side
            written to (for a dry run: planned writes).
        skipped: writes not sent because their side is read-only
            (``Capabilities.read_only``), per side. Not errors, and never deletes.
        linked: existing copies linked instead of created (S3) or recovered intents.
        unlinked: links dropped (both sides deleted, or a delete propagated).
        quarantined: duplicates parked (S3).
        conflicts: fields both sides changed and who won.
        errors: journal entries of this run at level ``"error"`` (S6).
        problems: journal entries of the broken items the backends skipped while
            listing (their ``problems``, S6), once per run; the rest synced.
        changes: how many changed or deleted items the two sides reported.
        cursors_advanced: the delta cursors moved past this run's changes.
    """

    pair_id: str
    started: datetime
    duration: float = 0.0
    dry_run: bool = False
    created: Mapping[Side, int] = attrs.field(factory=_per_side)
    updated: Mapping[Side, int] = attrs.field(factory=_per_side)
    deleted: Mapping[Side, int] = attrs.field(factory=_per_side)
    skipped: Mapping[Side, int] = attrs.field(factory=_per_side)
    linked: int = 0
    unlinked: int = 0
    quarantined: int = 0
    conflicts: tuple[Conflict, ...] = ()
    errors: tuple[JournalEntry, ...] = ()
    problems: tuple[JournalEntry, ...] = ()
    changes: int = 0
    cursors_advanced: bool = False

    @property
    def ok(self) -> bool:
        """True when no item failed."""
        return not self.errors

    @property
    def writes(self) -> dict[Side, int]:
        """Writes per side (creates + updates + deletes)."""
        return {
            side: self.created[side] + self.updated[side] + self.deleted[side]
            for side in ("a", "b")
        }

    @property
    def total_writes(self) -> int:
        """Writes on both sides."""
        return sum(self.writes.values())

    def summary(self) -> str:
        """One line for logs and CLIs."""
        w = self.writes
        return (
            f"{'dry run' if self.dry_run else 'sync'} {self.pair_id}: "
            f"created a={self.created['a']} b={self.created['b']}, "
            f"updated a={self.updated['a']} b={self.updated['b']}, "
            f"deleted a={self.deleted['a']} b={self.deleted['b']}, "
            f"linked {self.linked}, unlinked {self.unlinked}, "
            f"quarantined {self.quarantined}, conflicts {len(self.conflicts)}, "
            f"errors {len(self.errors)}, writes a={w['a']} b={w['b']}, "
            + (
                f"read-only skipped a={self.skipped['a']} b={self.skipped['b']}, "
                if any(self.skipped.values())
                else ""
            )
            + (f"broken items skipped {len(self.problems)}, " if self.problems else "")
            + f"{self.duration:.3f} s"
        )


@attrs.frozen
class Divergence:
    """A linked item whose current content differs from the stored base.

    Attributes:
        sync_key: the link.
        side: where the item differs.
        item_id: the item's id on that side.
        fields: the differing merge fields (empty when the item is missing).
        missing: the item no longer exists.
    """

    sync_key: str
    side: Side
    item_id: str
    fields: tuple[str, ...] = ()
    missing: bool = False


@attrs.frozen
class VerifyReport:
    """The outcome of :meth:`SyncEngine.verify <severa_ext.sync.engine.SyncEngine.verify>`.

    Attributes:
        checked: how many links were checked.
        divergences: the items that differ from their base (silent divergence).
        errors: journal entries for items that could not be read.
    """

    checked: int
    divergences: tuple[Divergence, ...] = ()
    errors: tuple[JournalEntry, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every linked pair matches its base."""
        return not self.divergences and not self.errors
