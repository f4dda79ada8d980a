"""The customer Extranet: shares, rights, access checks, views, actions and audit.

Deny by default: a contact person sees a project only through a live share of that
(project, contact) pair (X2), and only the sections its rights grant (X5). See the
Extranet guide for a walk-through; the names below are the public API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from severa_ext._lazy import lazy_exports

# Loaded at once: the function shares its module's name, and importing the submodule
# (which anything may do) would otherwise leave the module object in its place.
from severa_ext.extranet.eligibility import eligibility

if TYPE_CHECKING:
    from severa_ext.extranet.access import Action, Decision, Requirement
    from severa_ext.extranet.approvals import (
        Approval,
        ApprovalStatus,
        approval_status,
        changed_hours,
    )
    from severa_ext.extranet.audit import AuditEvent, AuditKind, AuditLog, MemoryAuditLog
    from severa_ext.extranet.directory import ContactDirectory, MemoryContactDirectory
    from severa_ext.extranet.eligibility import Eligibility, eligible_contacts
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

_LAZY: dict[str, str] = {
    "Action": "severa_ext.extranet.access",
    "ActionResult": "severa_ext.extranet.service",
    "Approval": "severa_ext.extranet.approvals",
    "ApprovalStatus": "severa_ext.extranet.approvals",
    "AuditEvent": "severa_ext.extranet.audit",
    "AuditKind": "severa_ext.extranet.audit",
    "AuditLog": "severa_ext.extranet.audit",
    "BillableView": "severa_ext.extranet.views",
    "Branding": "severa_ext.extranet.invites",
    "ContactDirectory": "severa_ext.extranet.directory",
    "DEPENDENCIES": "severa_ext.extranet.rights",
    "Decision": "severa_ext.extranet.access",
    "Eligibility": "severa_ext.extranet.eligibility",
    "ExtranetService": "severa_ext.extranet.service",
    "GanttBar": "severa_ext.extranet.views",
    "HourEntryView": "severa_ext.extranet.views",
    "Invite": "severa_ext.extranet.invites",
    "InviteAuditKind": "severa_ext.extranet.invites",
    "InviteIssuer": "severa_ext.extranet.invites",
    "InviteRecord": "severa_ext.extranet.invites",
    "InviteState": "severa_ext.extranet.invites",
    "InviteStore": "severa_ext.extranet.invites",
    "Inviter": "severa_ext.extranet.invites",
    "MemoryAuditLog": "severa_ext.extranet.audit",
    "MemoryContactDirectory": "severa_ext.extranet.directory",
    "MemoryInviteStore": "severa_ext.extranet.invites",
    "MemoryShareStore": "severa_ext.extranet.shares",
    "OneTimePassword": "severa_ext.extranet.invites",
    "PhaseEstimate": "severa_ext.extranet.views",
    "PhaseNode": "severa_ext.extranet.views",
    "ProjectView": "severa_ext.extranet.views",
    "Requirement": "severa_ext.extranet.access",
    "RevokeReason": "severa_ext.extranet.invites",
    "Right": "severa_ext.extranet.rights",
    "ScryptKdf": "severa_ext.extranet.invites",
    "Share": "severa_ext.extranet.shares",
    "ShareResult": "severa_ext.extranet.service",
    "ShareStore": "severa_ext.extranet.shares",
    "StatusView": "severa_ext.extranet.views",
    "UNCHANGED": "severa_ext.extranet.service",
    "approval_status": "severa_ext.extranet.approvals",
    "changed_hours": "severa_ext.extranet.approvals",
    "eligibility": "severa_ext.extranet.eligibility",
    "eligible_contacts": "severa_ext.extranet.eligibility",
    "register_rights_hooks": "severa_ext.extranet.rights",
    "rights_from_names": "severa_ext.extranet.rights",
    "rights_to_names": "severa_ext.extranet.rights",
    "validate_rights": "severa_ext.extranet.rights",
    "with_dependencies": "severa_ext.extranet.rights",
}
"""Where each public name is defined; its module is imported on first use (PEP 562),
so importing one submodule (``severa_ext.extranet.rights``) does not import the rest."""


__getattr__, __dir__ = lazy_exports(__name__, __all__, _LAZY)
