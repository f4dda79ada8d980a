"""Pure domain values, named as in Visma Severa's public REST API.

Frozen, slotted attrs classes with validation at construction; no I/O, no clock.
The rules' "work" is a :class:`Project`.
"""

from __future__ import annotations

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
