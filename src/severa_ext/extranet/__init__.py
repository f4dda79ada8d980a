"""The customer Extranet: shares, rights, access checks, views, actions and audit.

Deny by default: a contact person sees a project only through a live share of that
(project, contact) pair (X2), and only the sections its rights grant (X5). See the
Extranet guide for a walk-through; the names below are the public API.
"""

from __future__ import annotations

from severa_ext.extranet.access import Action, Decision, Requirement
from severa_ext.extranet.approvals import (
    Approval,
    ApprovalStatus,
    approval_status,
    changed_hours,
)
from severa_ext.extranet.audit import AuditEvent, AuditKind, AuditLog, MemoryAuditLog
from severa_ext.extranet.directory import ContactDirectory, MemoryContactDirectory
from severa_ext.extranet.eligibility import Eligibility, eligibility, eligible_contacts
from severa_ext.extranet.invites import (
    Branding,
    Invite,
    InviteAuditKind,
    InviteIssuer,
    Inviter,
    InviteRecord,
    InviteState,
    InviteStore,
    MemoryInviteStore,
    OneTimePassword,
    RevokeReason,
    ScryptKdf,
)
from severa_ext.extranet.rights import (
    DEPENDENCIES,
    Right,
    register_rights_hooks,
    rights_from_names,
    rights_to_names,
    validate_rights,
    with_dependencies,
)
from severa_ext.extranet.service import UNCHANGED, ActionResult, ExtranetService, ShareResult
from severa_ext.extranet.shares import MemoryShareStore, Share, ShareStore
from severa_ext.extranet.views import (
    BillableView,
    GanttBar,
    HourEntryView,
    PhaseEstimate,
    PhaseNode,
    ProjectView,
    StatusView,
)

__all__ = [
    "DEPENDENCIES",
    "UNCHANGED",
    "Action",
    "ActionResult",
    "Approval",
    "ApprovalStatus",
    "AuditEvent",
    "AuditKind",
    "AuditLog",
    "BillableView",
    "Branding",
    "ContactDirectory",
    "Decision",
    "Eligibility",
    "ExtranetService",
    "GanttBar",
    "HourEntryView",
    "Invite",
    "InviteAuditKind",
    "InviteIssuer",
    "InviteRecord",
    "InviteState",
    "InviteStore",
    "Inviter",
    "MemoryAuditLog",
    "MemoryContactDirectory",
    "MemoryInviteStore",
    "MemoryShareStore",
    "OneTimePassword",
    "PhaseEstimate",
    "PhaseNode",
    "ProjectView",
    "Requirement",
    "RevokeReason",
    "Right",
    "ScryptKdf",
    "Share",
    "ShareResult",
    "ShareStore",
    "StatusView",
    "approval_status",
    "changed_hours",
    "eligibility",
    "eligible_contacts",
    "register_rights_hooks",
    "rights_from_names",
    "rights_to_names",
    "validate_rights",
    "with_dependencies",
]
