"""Pure domain values, named as in Visma Severa's public REST API.

Frozen, slotted attrs classes with validation at construction; no I/O, no clock.
The rules' "work" is a :class:`Project`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from severa_ext._lazy import lazy_exports

if TYPE_CHECKING:
    from severa_ext.domain._activities import Activity, ActivityCategory, ActivityType, User
    from severa_ext.domain._email import normalize_email
    from severa_ext.domain._people import ContactPerson, Customer
    from severa_ext.domain._projects import (
        BillableStatus,
        Comment,
        CommentTarget,
        Invoice,
        Phase,
        Project,
        ProjectFile,
        ProjectLink,
        ProjectStatus,
        WorkHour,
    )

__all__ = [
    "Activity",
    "ActivityCategory",
    "ActivityType",
    "BillableStatus",
    "Comment",
    "CommentTarget",
    "ContactPerson",
    "Customer",
    "Invoice",
    "Phase",
    "Project",
    "ProjectFile",
    "ProjectLink",
    "ProjectStatus",
    "User",
    "WorkHour",
    "normalize_email",
]

_LAZY: dict[str, str] = {
    "Activity": "severa_ext.domain._activities",
    "ActivityCategory": "severa_ext.domain._activities",
    "ActivityType": "severa_ext.domain._activities",
    "BillableStatus": "severa_ext.domain._projects",
    "Comment": "severa_ext.domain._projects",
    "CommentTarget": "severa_ext.domain._projects",
    "ContactPerson": "severa_ext.domain._people",
    "Customer": "severa_ext.domain._people",
    "Invoice": "severa_ext.domain._projects",
    "Phase": "severa_ext.domain._projects",
    "Project": "severa_ext.domain._projects",
    "ProjectFile": "severa_ext.domain._projects",
    "ProjectLink": "severa_ext.domain._projects",
    "ProjectStatus": "severa_ext.domain._projects",
    "User": "severa_ext.domain._activities",
    "WorkHour": "severa_ext.domain._projects",
    "normalize_email": "severa_ext.domain._email",
}
"""Where each public name is defined; its module is imported on first use (PEP 562)."""


__getattr__, __dir__ = lazy_exports(__name__, __all__, _LAZY)
