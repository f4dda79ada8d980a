"""The contact's view of one shared project: only what the share grants (X5, X7, X11).

:func:`project_view` projects a :class:`~severa_ext.domain.Project` through a share's
rights into a :class:`ProjectView`. A section that is not granted is ``None`` in the
view: never an empty placeholder, and no value from it appears anywhere else in the
view (property-tested). A granted section is a value (a possibly empty tuple).

What each right reveals:

=====================  ==========================================================
always (live share)    project id, name, customer id, summary, summary comments
``VIEW_BILLING``       ``invoices``
``VIEW_BILLABLE``      ``billable`` (project total) and, in ``work_hours``, each
                       entry's ``billable_status`` and ``billable_amount``
``VIEW_GANTT``         ``gantt``: phase bars with start dates and deadlines
``VIEW_TREE``          ``tree``: the phase hierarchy
``VIEW_HOURS``         ``work_hours``: hour entries (without clock times)
``VIEW_HOUR_TIMES``    each entry's ``start_time``/``end_time`` (``None`` without it)
``VIEW_ESTIMATES``     ``estimates``: estimated hours per phase
``VIEW_STATUS``        ``status`` (``StatusView.can_change`` with ``CHANGE_STATUS``)
``VIEW_FILES``         ``files`` and ``links``, and the comments on them
any Phases view right  phase ids and names, and the comments on phases
=====================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, time
from decimal import Decimal

import attrs

from severa_ext.domain import (
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
from severa_ext.extranet.access import PHASE_VIEW_RIGHTS, Action, requirement
from severa_ext.extranet.approvals import ApprovalStatus, entry_approval
from severa_ext.extranet.rights import Right
from severa_ext.extranet.shares import Share

__all__ = [
    "BillableView",
    "GanttBar",
    "HourEntryView",
    "PhaseEstimate",
    "PhaseNode",
    "ProjectView",
    "StatusView",
    "allowed_actions",
    "comment_visible",
    "project_view",
    "target_visible",
]


@attrs.frozen
class BillableView:
    """The project's billable total (``VIEW_BILLABLE``)."""

    amount: Decimal | None
    currency: str


@attrs.frozen
class GanttBar:
    """One phase on the Gantt chart (``VIEW_GANTT``)."""

    phase_id: str
    name: str
    start_date: date | None
    deadline: date | None


@attrs.frozen
class PhaseNode:
    """One phase in the tree view (``VIEW_TREE``), with its child phases."""

    phase_id: str
    name: str
    children: tuple[PhaseNode, ...] = ()


@attrs.frozen
class PhaseEstimate:
    """The estimated hours of one phase (``VIEW_ESTIMATES``)."""

    phase_id: str
    name: str
    estimated_hours: Decimal | None


@attrs.frozen
class HourEntryView:
    """One hour entry as the contact sees it (``VIEW_HOURS``).

    Attributes:
        start_time: ``None`` unless ``VIEW_HOUR_TIMES`` is granted (or no time recorded).
        end_time: as ``start_time``.
        billable_status: ``None`` unless ``VIEW_BILLABLE`` is granted.
        billable_amount: ``None`` unless ``VIEW_BILLABLE`` is granted (or no amount).
        customer_approved: whether a customer approval that still holds covers the
            entry (``approval is ApprovalStatus.VALID``).
        approval: the approval's real state: ``None`` (not approved), ``VALID``, or
            ``VOID`` (the entry was edited after it was approved, X4).
    """

    id: str
    phase_id: str
    phase_name: str
    user_name: str
    event_date: date
    quantity: Decimal
    description: str
    customer_approved: bool
    approval: ApprovalStatus | None = None
    start_time: time | None = None
    end_time: time | None = None
    billable_status: BillableStatus | None = None
    billable_amount: Decimal | None = None


@attrs.frozen
class StatusView:
    """The project's status (``VIEW_STATUS``); ``current`` is ``None`` if it has none."""

    current: ProjectStatus | None
    can_change: bool


@attrs.frozen
class ProjectView:
    """What one contact sees of one project under its current share.

    Every section attribute is ``None`` when its right is not granted; a granted section
    is a value, possibly an empty tuple. See the module docstring for which right shows
    which section.

    Attributes:
        project_id: the project.
        name: its name.
        customer_id: its customer.
        summary: its summary text.
        rights: the share's rights the view was made with.
        share_version: the share's version (sessions re-check it per request, X7).
        actions: the contact actions the share allows right now.
        comments: the comments on things this view shows.
    """

    project_id: str
    name: str
    customer_id: str
    summary: str
    rights: Right
    share_version: int
    actions: frozenset[Action]
    comments: tuple[Comment, ...]
    invoices: tuple[Invoice, ...] | None = None
    billable: BillableView | None = None
    gantt: tuple[GanttBar, ...] | None = None
    tree: tuple[PhaseNode, ...] | None = None
    work_hours: tuple[HourEntryView, ...] | None = None
    estimates: tuple[PhaseEstimate, ...] | None = None
    status: StatusView | None = None
    files: tuple[ProjectFile, ...] | None = None
    links: tuple[ProjectLink, ...] | None = None


def allowed_actions(rights: Right) -> frozenset[Action]:
    """Return every action whose rights ``rights`` hold (share liveness aside).

    Args:
        rights: the rights of a live share.

    Returns:
        The allowed actions.
    """
    return frozenset(a for a in Action if not requirement(a).missing(rights))


def comment_visible(project: Project, rights: Right, comment: Comment) -> bool:
    """Whether a contact with ``rights`` may see (and so comment on) a comment's target.

    Args:
        project: the project the comment belongs to.
        rights: the contact's current rights.
        comment: the comment.

    Returns:
        ``True`` for a summary comment; for a phase, file or link, when the matching view right
        is granted and the target exists in ``project``.
    """
    return target_visible(project, rights, comment.target, comment.target_id)


def target_visible(
    project: Project, rights: Right, target: CommentTarget, target_id: str | None
) -> bool:
    """Whether a comment target exists in ``project`` and ``rights`` show it.

    Args:
        project: the project.
        rights: the contact's current rights.
        target: what kind of thing.
        target_id: its id (``None`` for the summary).

    Returns:
        ``True`` when the contact may see the target (and so comment on it, X4).
    """
    if target is CommentTarget.SUMMARY:
        return target_id is None
    if target is CommentTarget.PHASE:
        pool: Iterable[Phase | ProjectFile | ProjectLink] = project.phases
        needed = PHASE_VIEW_RIGHTS
    elif target is CommentTarget.FILE:
        pool, needed = project.files, Right.VIEW_FILES
    else:
        pool, needed = project.links, Right.VIEW_FILES
    return bool(rights & needed) and any(item.id == target_id for item in pool)


def _tree(phases: tuple[Phase, ...]) -> tuple[PhaseNode, ...]:
    ids = {p.id for p in phases}
    kids: dict[str, list[Phase]] = {}
    roots: list[Phase] = []
    for phase in phases:
        parent = phase.parent_phase_id
        if parent is not None and parent in ids and parent != phase.id:
            kids.setdefault(parent, []).append(phase)
        else:
            roots.append(phase)
    placed: set[str] = set()

    def build(phase: Phase) -> PhaseNode:
        placed.add(phase.id)
        below = [build(c) for c in kids.get(phase.id, []) if c.id not in placed]
        return PhaseNode(phase.id, phase.name, tuple(below))

    nodes = [build(r) for r in roots if r.id not in placed]
    # Phases caught in a parent cycle (bad host data) hang from no root: list them on top.
    nodes.extend(build(p) for p in phases if p.id not in placed)
    return tuple(nodes)


def _hour(entry: WorkHour, phase_names: dict[str, str], rights: Right) -> HourEntryView:
    times = Right.VIEW_HOUR_TIMES in rights
    money = Right.VIEW_BILLABLE in rights
    approval = entry_approval(entry)
    return HourEntryView(
        id=entry.id,
        phase_id=entry.phase_id,
        phase_name=phase_names.get(entry.phase_id, ""),
        user_name=entry.user_name,
        event_date=entry.event_date,
        quantity=entry.quantity,
        description=entry.description,
        customer_approved=approval is ApprovalStatus.VALID,
        approval=approval,
        start_time=entry.start_time if times else None,
        end_time=entry.end_time if times else None,
        billable_status=entry.billable_status if money else None,
        billable_amount=entry.billable_amount if money else None,
    )


def project_view(project: Project, share: Share) -> ProjectView:
    """Project ``project`` through ``share``'s rights (the caller checked it is live).

    Use :meth:`~severa_ext.extranet.service.ExtranetService.view`, which reads the
    current share and refuses a missing, stopped or expired one; this function is the
    pure projection underneath.

    Args:
        project: the full project, as the host holds it.
        share: the share of ``project`` with the contact.

    Returns:
        The :class:`ProjectView`.
    """
    rights = share.rights
    phase_names = {p.id: p.name for p in project.phases}
    phases = project.phases
    return ProjectView(
        project_id=project.id,
        name=project.name,
        customer_id=project.customer_id,
        summary=project.summary,
        rights=rights,
        share_version=share.version,
        actions=allowed_actions(rights),
        comments=tuple(c for c in project.comments if comment_visible(project, rights, c)),
        invoices=project.invoices if Right.VIEW_BILLING in rights else None,
        billable=(
            BillableView(project.billable_amount, project.currency)
            if Right.VIEW_BILLABLE in rights
            else None
        ),
        gantt=(
            tuple(GanttBar(p.id, p.name, p.start_date, p.deadline) for p in phases)
            if Right.VIEW_GANTT in rights
            else None
        ),
        tree=_tree(phases) if Right.VIEW_TREE in rights else None,
        work_hours=(
            tuple(_hour(h, phase_names, rights) for h in project.work_hours)
            if Right.VIEW_HOURS in rights
            else None
        ),
        estimates=(
            tuple(PhaseEstimate(p.id, p.name, p.estimated_hours) for p in phases)
            if Right.VIEW_ESTIMATES in rights
            else None
        ),
        status=(
            StatusView(project.status, Right.CHANGE_STATUS in rights)
            if Right.VIEW_STATUS in rights
            else None
        ),
        files=project.files if Right.VIEW_FILES in rights else None,
        links=project.links if Right.VIEW_FILES in rights else None,
    )
