"""Two-way calendar sync: item model, policy, planner (pure), engine, state, activation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from severa_ext.sync.items import (
    CalendarItem,
    Capabilities,
    ChangeSet,
    ShowAs,
    Side,
    Window,
    content_equal,
    copy_print,
    fingerprint,
    new_sync_key,
)
from severa_ext.sync.journal import JournalEntry
from severa_ext.sync.links import Intent, Link, Parked, Stored
from severa_ext.sync.planner import Plan, plan_sync
from severa_ext.sync.policy import ConflictRule, SyncPolicy
from severa_ext.sync.report import Divergence, SyncReport, VerifyReport
from severa_ext.sync.state import Lease, MemoryStateStore, StateChange, StateStore

__all__ = [
    "CalendarItem",
    "Capabilities",
    "ChangeSet",
    "ConflictRule",
    "Divergence",
    "Intent",
    "JournalEntry",
    "Lease",
    "Link",
    "MemoryStateStore",
    "Parked",
    "Plan",
    "ProgressCallback",
    "ShowAs",
    "Side",
    "StateChange",
    "StateStore",
    "Stored",
    "SyncEngine",
    "SyncPolicy",
    "SyncReport",
    "VerifyReport",
    "Window",
    "content_equal",
    "copy_print",
    "fingerprint",
    "new_sync_key",
    "plan_sync",
]

if TYPE_CHECKING:
    from severa_ext.sync.engine import ProgressCallback, SyncEngine


def __getattr__(name: str) -> Any:
    # The engine (and its clock, state and retry machinery) loads on first use, so
    # that importing the item model or the planner stays cheap.
    if name in ("ProgressCallback", "SyncEngine"):
        from severa_ext.sync import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
