"""Access decisions: may this contact do this on this project, right now, and why.

Pure functions over a share and an instant; :class:`~severa_ext.extranet.service.\
ExtranetService` feeds them the *current* share from its store on every call, so no
cached grant can outlive a change (X7) or a stop (X8).

Reason codes of a :class:`Decision` (stable, for hosts to branch on):

``granted``
    the current share grants what was asked.
``no-share``
    the project was never shared with the contact (deny by default).
``stopped``
    sharing was stopped (X8).
``expired``
    the share's ``valid_until`` has passed.
``not-customer-contact``, ``missing-email``, ``invalid-email``, ``unknown-contact``
    the contact no longer meets X3 on its current card (moved to another customer,
    address removed or invalid, card deleted; ``unknown-project`` when the host's
    directory does not know the project): see :mod:`severa_ext.extranet.eligibility`.
    Re-checked on every decision.
``version-changed``
    the caller's ``expected_version`` is not the share's current version: the rights
    changed since the session last looked (re-read them).
``missing-right``
    the share lacks a right; ``Decision.missing`` says which.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

import attrs

from severa_ext.errors import ValidationError
from severa_ext.extranet.eligibility import ELIGIBILITY_REASONS, Eligibility
from severa_ext.extranet.rights import NO_RIGHTS, Right, rights_to_names
from severa_ext.extranet.shares import Share

__all__ = [
    "PHASE_VIEW_RIGHTS",
    "REASONS",
    "Action",
    "Decision",
    "Requirement",
    "decide",
    "decide_right",
    "requirement",
]

PHASE_VIEW_RIGHTS = Right.VIEW_GANTT | Right.VIEW_TREE | Right.VIEW_HOURS | Right.VIEW_ESTIMATES
"""Any one of these shows the project's phases (ids and names) to a contact."""

REASONS = frozenset(
    {"granted", "no-share", "stopped", "expired", "version-changed", "missing-right"}
    | (ELIGIBILITY_REASONS - {"eligible"})
)
"""Every reason code a :class:`Decision` can carry."""


class Action(enum.Enum):
    """What a contact may try on a shared project.

    ``OPEN`` is reaching the project at all (the X11 menu and the view's always-shown
    part: name, summary, comments on the summary). Each ``VIEW_*`` action is seeing one
    section; the others are the contact actions of X4 and X5.
    """

    OPEN = "open"
    VIEW_BILLING = "view_billing"
    VIEW_BILLABLE = "view_billable"
    VIEW_GANTT = "view_gantt"
    VIEW_TREE = "view_tree"
    VIEW_HOURS = "view_hours"
    VIEW_HOUR_TIMES = "view_hour_times"
    VIEW_ESTIMATES = "view_estimates"
    VIEW_STATUS = "view_status"
    VIEW_FILES = "view_files"
    APPROVE_HOURS = "approve_hours"
    COMMENT_SUMMARY = "comment_summary"
    COMMENT_PHASE = "comment_phase"
    COMMENT_FILE = "comment_file"
    COMMENT_LINK = "comment_link"
    ADD_FILE = "add_file"
    ADD_LINK = "add_link"
    CHANGE_STATUS = "change_status"


@attrs.frozen
class Requirement:
    """The rights an action needs: all of ``all_of`` and, if set, one of ``any_of``."""

    all_of: Right = NO_RIGHTS
    any_of: Right = NO_RIGHTS

    def missing(self, rights: Right) -> Right:
        """Return what ``rights`` lack for this requirement (``Right(0)``: nothing)."""
        lacking = self.all_of & ~rights
        if self.any_of and not (self.any_of & rights):
            lacking |= self.any_of
        return lacking

    def describe(self) -> str:
        """Say the requirement in words, e.g. ``"COMMENT and one of VIEW_GANTT, ..."``."""
        parts = []
        if self.all_of:
            parts.append(" and ".join(rights_to_names(self.all_of)))
        if self.any_of:
            parts.append("one of " + ", ".join(rights_to_names(self.any_of)))
        return " and ".join(parts) or "a live share"


_REQUIREMENTS: Mapping[Action, Requirement] = MappingProxyType(
    {
        Action.OPEN: Requirement(),
        Action.VIEW_BILLING: Requirement(Right.VIEW_BILLING),
        Action.VIEW_BILLABLE: Requirement(Right.VIEW_BILLABLE),
        Action.VIEW_GANTT: Requirement(Right.VIEW_GANTT),
        Action.VIEW_TREE: Requirement(Right.VIEW_TREE),
        Action.VIEW_HOURS: Requirement(Right.VIEW_HOURS),
        Action.VIEW_HOUR_TIMES: Requirement(Right.VIEW_HOURS | Right.VIEW_HOUR_TIMES),
        Action.VIEW_ESTIMATES: Requirement(Right.VIEW_ESTIMATES),
        Action.VIEW_STATUS: Requirement(Right.VIEW_STATUS),
        Action.VIEW_FILES: Requirement(Right.VIEW_FILES),
        Action.APPROVE_HOURS: Requirement(Right.APPROVE_HOURS | Right.VIEW_HOURS),
        Action.COMMENT_SUMMARY: Requirement(Right.COMMENT),
        Action.COMMENT_PHASE: Requirement(Right.COMMENT, PHASE_VIEW_RIGHTS),
        Action.COMMENT_FILE: Requirement(Right.COMMENT | Right.VIEW_FILES),
        Action.COMMENT_LINK: Requirement(Right.COMMENT | Right.VIEW_FILES),
        Action.ADD_FILE: Requirement(Right.ADD_FILE | Right.VIEW_FILES),
        Action.ADD_LINK: Requirement(Right.ADD_FILE | Right.VIEW_FILES),
        Action.CHANGE_STATUS: Requirement(Right.CHANGE_STATUS | Right.VIEW_STATUS),
    }
)


def requirement(action: Action) -> Requirement:
    """Return the rights ``action`` needs.

    Args:
        action: an :class:`Action`.

    Returns:
        Its :class:`Requirement`.
    """
    return _REQUIREMENTS[_action(action)]


def _action(action: object) -> Action:
    try:
        return Action(action)
    except ValueError as exc:
        raise ValidationError(f"unknown Extranet action {action!r}") from exc


@attrs.frozen
class Decision:
    """The answer to "may this contact do this on this project now?".

    Attributes:
        allowed: ``True`` only when ``reason == "granted"``.
        reason: a stable code from :data:`REASONS`.
        message: the reason in words, for logs and support (no secrets).
        project_id: the project asked about.
        contact_id: the contact asked about.
        action: the action asked about (``None`` when a right was asked, by ``explain``).
        required: the rights the action needs (all of them; any-of parts included).
        missing: the rights the share lacks (``Right(0)`` unless ``missing-right``).
        share: the current share consulted (``None`` when there is none); when
            allowed, the share that granted the right.
    """

    allowed: bool
    reason: str
    message: str
    project_id: str
    contact_id: str
    action: Action | None
    required: Right
    missing: Right = NO_RIGHTS
    share: Share | None = None


def _decide(
    share: Share | None,
    need: Requirement,
    subject: str,
    *,
    project_id: str,
    contact_id: str,
    action: Action | None,
    now: datetime,
    standing: Eligibility,
    expected_version: int | None,
) -> Decision:
    def refuse(reason: str, message: str, missing: Right = NO_RIGHTS) -> Decision:
        return Decision(
            allowed=False,
            reason=reason,
            message=message,
            project_id=project_id,
            contact_id=contact_id,
            action=action,
            required=need.all_of | need.any_of,
            missing=missing,
            share=share,
        )

    if standing.contact_id != contact_id:
        raise ValidationError(
            f"the eligibility given is of contact {standing.contact_id!r}, not {contact_id!r}"
        )
    pair = f"project {project_id!r} / contact {contact_id!r}"
    if share is None:
        return refuse("no-share", f"{pair}: the project is not shared with this contact")
    if share.stopped_at is not None:
        return refuse(
            "stopped", f"{pair}: sharing was stopped at {share.stopped_at.isoformat()} (X8)"
        )
    if share.valid_until is not None and now >= share.valid_until:
        return refuse("expired", f"{pair}: the share expired at {share.valid_until.isoformat()}")
    if not standing.eligible:
        return refuse(standing.reason, f"{pair}: {standing.message}")
    if expected_version is not None and expected_version != share.version:
        return refuse(
            "version-changed",
            f"{pair}: the share is at version {share.version}, the session expected "
            f"{expected_version}; re-read the rights (X7)",
        )
    lacking = need.missing(share.rights)
    if lacking:
        return refuse(
            "missing-right",
            f"{pair}: {subject} needs {need.describe()}; the share (version "
            f"{share.version}) lacks {', '.join(rights_to_names(lacking))}",
            lacking,
        )
    return Decision(
        allowed=True,
        reason="granted",
        message=f"{pair}: {subject} is granted by the share at version {share.version}",
        project_id=project_id,
        contact_id=contact_id,
        action=action,
        required=need.all_of | need.any_of,
        share=share,
    )


def decide(
    share: Share | None,
    action: Action,
    *,
    project_id: str,
    contact_id: str,
    now: datetime,
    standing: Eligibility,
    expected_version: int | None = None,
) -> Decision:
    """Decide whether ``share`` lets its contact take ``action`` at ``now``.

    Checks, in order: a share exists, it is not stopped (X8), not expired, the contact
    still meets X3 on its current card (``standing``), the share is at the expected
    version (if given), and holds the rights the action needs (X4, X5, X7).

    Args:
        share: the current share of the pair, or ``None``.
        action: what the contact tries.
        project_id: the project asked about.
        contact_id: the contact asking.
        now: the current instant (from the caller's clock).
        standing: the contact's X3 eligibility for the project's customer, from its
            current card (:func:`~severa_ext.extranet.eligibility.eligibility`).
        expected_version: the share version a host session saw, to re-check per request.

    Returns:
        The :class:`Decision`.
    """
    action = _action(action)
    return _decide(
        share,
        _REQUIREMENTS[action],
        f"action {action.name}",
        project_id=project_id,
        contact_id=contact_id,
        action=action,
        now=now,
        standing=standing,
        expected_version=expected_version,
    )


def decide_right(
    share: Share | None,
    right: Right,
    *,
    project_id: str,
    contact_id: str,
    now: datetime,
    standing: Eligibility,
) -> Decision:
    """Decide whether ``share`` grants ``right`` (every member of a group) at ``now``.

    Args:
        share: the current share of the pair, or ``None``.
        right: a single right or a group such as ``Right.FINANCE``.
        project_id: the project asked about.
        contact_id: the contact asking.
        now: the current instant.
        standing: the contact's X3 eligibility, as for :func:`decide`.

    Returns:
        The :class:`Decision` (``action`` is ``None``).
    """
    names = rights_to_names(right)
    return _decide(
        share,
        Requirement(right),
        "right " + ("|".join(names) or "(none)"),
        project_id=project_id,
        contact_id=contact_id,
        action=None,
        now=now,
        standing=standing,
        expected_version=None,
    )
