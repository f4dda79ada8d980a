"""Two-way calendar sync: item model, policy, planner (pure), engine, state, activation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from severa_ext._lazy import lazy_exports

if TYPE_CHECKING:
    from severa_ext.sync.engine import ProgressCallback, SyncEngine
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

_LAZY: dict[str, str] = {
    "CalendarItem": "severa_ext.sync.items",
    "Capabilities": "severa_ext.sync.items",
    "ChangeSet": "severa_ext.sync.items",
    "ConflictRule": "severa_ext.sync.policy",
    "Divergence": "severa_ext.sync.report",
    "Intent": "severa_ext.sync.links",
    "JournalEntry": "severa_ext.sync.journal",
    "Lease": "severa_ext.sync.state",
    "Link": "severa_ext.sync.links",
    "MemoryStateStore": "severa_ext.sync.state",
    "Parked": "severa_ext.sync.links",
    "Plan": "severa_ext.sync.planner",
    "ProgressCallback": "severa_ext.sync.engine",
    "ShowAs": "severa_ext.sync.items",
    "Side": "severa_ext.sync.items",
    "StateChange": "severa_ext.sync.state",
    "StateStore": "severa_ext.sync.state",
    "Stored": "severa_ext.sync.links",
    "SyncEngine": "severa_ext.sync.engine",
    "SyncPolicy": "severa_ext.sync.policy",
    "SyncReport": "severa_ext.sync.report",
    "VerifyReport": "severa_ext.sync.report",
    "Window": "severa_ext.sync.items",
    "content_equal": "severa_ext.sync.items",
    "copy_print": "severa_ext.sync.items",
    "fingerprint": "severa_ext.sync.items",
    "new_sync_key": "severa_ext.sync.items",
    "plan_sync": "severa_ext.sync.planner",
}
"""Where each public name is defined; its module is imported on first use (PEP 562):
importing the item model does not import the planner, nor anything the engine."""


__getattr__, __dir__ = lazy_exports(__name__, __all__, _LAZY)
