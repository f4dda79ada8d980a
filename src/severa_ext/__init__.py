"""severa_ext: a customer Extranet and duplicate-free two-way calendar sync.

The curated public API is re-exported here. Importing this package never imports a
backend, a network library, a database driver or an ICS/XML parser: backends live in
``severa_ext.backends.<name>`` (``memory``, ``activities``, ``ics``, ``graph``,
``ews``) and the SQLite state store in ``severa_ext.sync.sqlite``; import them where
you use them.
"""

from __future__ import annotations

__version__ = "0.1.0.dev0"

from typing import TYPE_CHECKING, Any

from severa_ext.clock import Clock, FixedClock, SystemClock
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
from severa_ext.errors import SeveraExtError
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

if TYPE_CHECKING:
    from severa_ext.sync.engine import SyncEngine

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


def __getattr__(name: str) -> Any:
    # The engine is loaded on first use (as in ``severa_ext.sync``), keeping
    # ``import severa_ext`` light and free of import cycles with ``backends.base``.
    if name == "SyncEngine":
        from severa_ext.sync.engine import SyncEngine

        return SyncEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
