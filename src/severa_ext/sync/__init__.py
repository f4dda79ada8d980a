"""Two-way calendar sync: item model, policy, planner (pure), engine, state, activation."""

from __future__ import annotations

from severa_ext.sync.items import (
    CalendarItem,
    Capabilities,
    ChangeSet,
    ShowAs,
    Side,
    Window,
    content_equal,
    fingerprint,
    new_sync_key,
)
from severa_ext.sync.journal import JournalEntry
from severa_ext.sync.state import Lease, Link, MemoryStateStore, StateChange, StateStore

__all__ = [
    "CalendarItem",
    "Capabilities",
    "ChangeSet",
    "JournalEntry",
    "Lease",
    "Link",
    "MemoryStateStore",
    "ShowAs",
    "Side",
    "StateChange",
    "StateStore",
    "Window",
    "content_equal",
    "fingerprint",
    "new_sync_key",
]
