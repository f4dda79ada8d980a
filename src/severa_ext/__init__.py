"""severa_ext: a customer Extranet and duplicate-free two-way calendar sync.

The curated public API is re-exported here. The names load on first use (PEP 562), so
``import severa_ext`` imports no submodule at all; ``from severa_ext import Activity``
imports what that name needs. Importing a name never imports a backend, a network
library, a database driver or an ICS/XML parser: backends live in
``severa_ext.backends.<name>`` (``memory``, ``activities``, ``ics``, ``graph``,
``ews``) and the SQLite state store in ``severa_ext.sync.sqlite``; import them where
you use them.
"""

from __future__ import annotations

__version__ = "0.1.0.dev0"

from typing import TYPE_CHECKING

from severa_ext._lazy import lazy_exports

if TYPE_CHECKING:
    from severa_ext.clock import (
        Clock,
        FixedClock,
        SystemClock,
    )
    from severa_ext.domain import (
        Activity,
        ActivityCategory,
        ActivityType,
        ContactPerson,
        Customer,
        Phase,
        Project,
        ProjectFile,
        ProjectLink,
        User,
        WorkHour,
    )
    from severa_ext.errors import (
        SeveraExtError,
    )
    from severa_ext.extranet import (
        Action,
        Approval,
        AuditEvent,
        Branding,
        ContactDirectory,
        Decision,
        ExtranetService,
        InviteIssuer,
        Inviter,
        MemoryAuditLog,
        MemoryContactDirectory,
        MemoryInviteStore,
        MemoryShareStore,
        ProjectView,
        Right,
        Share,
        ShareResult,
    )
    from severa_ext.sync import (
        CalendarItem,
        ConflictRule,
        MemoryStateStore,
        ShowAs,
        SyncPolicy,
        SyncReport,
        Window,
    )
    from severa_ext.sync.engine import (
        SyncEngine,
    )

__all__ = [
    "Action",
    "Activity",
    "ActivityCategory",
    "ActivityType",
    "Approval",
    "AuditEvent",
    "Branding",
    "CalendarItem",
    "Clock",
    "ConflictRule",
    "ContactDirectory",
    "ContactPerson",
    "Customer",
    "Decision",
    "ExtranetService",
    "FixedClock",
    "InviteIssuer",
    "Inviter",
    "MemoryAuditLog",
    "MemoryContactDirectory",
    "MemoryInviteStore",
    "MemoryShareStore",
    "MemoryStateStore",
    "Phase",
    "Project",
    "ProjectFile",
    "ProjectLink",
    "ProjectView",
    "Right",
    "SeveraExtError",
    "Share",
    "ShareResult",
    "ShowAs",
    "SyncEngine",
    "SyncPolicy",
    "SyncReport",
    "SystemClock",
    "User",
    "Window",
    "WorkHour",
    "__version__",
]

_EXPORTS = {
    "Action": "severa_ext.extranet",
    "Activity": "severa_ext.domain",
    "ActivityCategory": "severa_ext.domain",
    "ActivityType": "severa_ext.domain",
    "Approval": "severa_ext.extranet",
    "AuditEvent": "severa_ext.extranet",
    "Branding": "severa_ext.extranet",
    "CalendarItem": "severa_ext.sync",
    "Clock": "severa_ext.clock",
    "ConflictRule": "severa_ext.sync",
    "ContactDirectory": "severa_ext.extranet",
    "ContactPerson": "severa_ext.domain",
    "Customer": "severa_ext.domain",
    "Decision": "severa_ext.extranet",
    "ExtranetService": "severa_ext.extranet",
    "FixedClock": "severa_ext.clock",
    "InviteIssuer": "severa_ext.extranet",
    "Inviter": "severa_ext.extranet",
    "MemoryAuditLog": "severa_ext.extranet",
    "MemoryContactDirectory": "severa_ext.extranet",
    "MemoryInviteStore": "severa_ext.extranet",
    "MemoryShareStore": "severa_ext.extranet",
    "MemoryStateStore": "severa_ext.sync",
    "Phase": "severa_ext.domain",
    "Project": "severa_ext.domain",
    "ProjectFile": "severa_ext.domain",
    "ProjectLink": "severa_ext.domain",
    "ProjectView": "severa_ext.extranet",
    "Right": "severa_ext.extranet",
    "SeveraExtError": "severa_ext.errors",
    "Share": "severa_ext.extranet",
    "ShareResult": "severa_ext.extranet",
    "ShowAs": "severa_ext.sync",
    "SyncEngine": "severa_ext.sync.engine",
    "SyncPolicy": "severa_ext.sync",
    "SyncReport": "severa_ext.sync",
    "SystemClock": "severa_ext.clock",
    "User": "severa_ext.domain",
    "Window": "severa_ext.sync",
    "WorkHour": "severa_ext.domain",
}
"""Where each public name is defined (its module is imported on first use)."""


__getattr__, __dir__ = lazy_exports(__name__, __all__, _EXPORTS)
