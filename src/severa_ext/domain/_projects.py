"""Projects (the rules' "works") and what an Extranet share can show of them."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal

import attrs

from severa_ext.domain._validators import aware, non_blank
from severa_ext.errors import ValidationError

__all__ = [
    "BillableStatus",
    "Comment",
    "CommentTarget",
    "Invoice",
    "Phase",
    "Project",
    "ProjectFile",
    "ProjectLink",
    "ProjectStatus",
    "WorkHour",
]


class BillableStatus(enum.Enum):
    """Severa's billable status of an hour entry. Customer approval never changes it (X4)."""

    BILLABLE = "billable"
    NON_BILLABLE = "non-billable"
    BILLED = "billed"


@attrs.frozen
class ProjectStatus:
    """A project status (Severa ``ProjectStatusType``): a name and whether it is closed."""

    id: str = attrs.field(validator=non_blank)
    name: str = attrs.field(validator=non_blank)
    is_closed: bool = False


@attrs.frozen
class Phase:
    """A phase of a project; phases form a tree through ``parent_phase_id``.

    ``start_date``/``deadline`` feed the Gantt chart, ``estimated_hours`` the estimates.
    """

    id: str = attrs.field(validator=non_blank)
    name: str = attrs.field(validator=non_blank)
    parent_phase_id: str | None = None
    start_date: date | None = None
    deadline: date | None = None
    estimated_hours: Decimal | None = None


@attrs.frozen
class WorkHour:
    """An hour entry (Severa ``WorkHour``).

    ``start_time``/``end_time`` are optional clock times; an Extranet contact sees them
    only with the VIEW_HOUR_TIMES right (X5). ``customer_approval_id`` names the
    customer's ``Approval`` record that covers the entry (``None``: not approved by the
    customer) and ``customer_approval_fingerprint`` is the entry's fingerprint at that
    approval, so an edit made afterwards shows as a void approval; both are separate
    from ``billable_status`` because customer approval never affects invoicing (X4).
    """

    id: str = attrs.field(validator=non_blank)
    phase_id: str = attrs.field(validator=non_blank)
    user_name: str
    event_date: date
    quantity: Decimal = attrs.field(converter=Decimal)
    description: str = ""
    start_time: time | None = None
    end_time: time | None = None
    billable_status: BillableStatus = BillableStatus.BILLABLE
    billable_amount: Decimal | None = None
    customer_approval_id: str | None = None
    customer_approval_fingerprint: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.quantity < 0:
            raise ValidationError(f"WorkHour {self.id!r}: quantity must not be negative")
        if self.customer_approval_fingerprint is not None and self.customer_approval_id is None:
            raise ValidationError(
                f"WorkHour {self.id!r}: customer_approval_fingerprint needs customer_approval_id"
            )


@attrs.frozen
class Invoice:
    """An invoice of the project (finance section, VIEW_BILLING)."""

    id: str = attrs.field(validator=non_blank)
    number: str
    date: date
    total: Decimal = attrs.field(converter=Decimal)
    currency: str = "EUR"
    status: str = ""


@attrs.frozen
class ProjectFile:
    """A file attached to a project."""

    id: str = attrs.field(validator=non_blank)
    name: str = attrs.field(validator=non_blank)
    size: int = 0
    content_type: str = "application/octet-stream"
    added_by: str = ""
    added_at: datetime | None = attrs.field(default=None, validator=aware)


@attrs.frozen
class ProjectLink:
    """A link attached to a project."""

    id: str = attrs.field(validator=non_blank)
    title: str
    url: str = attrs.field(validator=non_blank)
    added_by: str = ""
    added_at: datetime | None = attrs.field(default=None, validator=aware)


class CommentTarget(enum.Enum):
    """What a comment is about (X4: summary, phases, files & links)."""

    SUMMARY = "summary"
    PHASE = "phase"
    FILE = "file"
    LINK = "link"


@attrs.frozen
class Comment:
    """A comment on the summary, a phase, a file or a link."""

    id: str = attrs.field(validator=non_blank)
    target: CommentTarget
    target_id: str | None
    author: str
    text: str
    created_at: datetime = attrs.field(validator=aware)


def _phases(value: Iterable[Phase]) -> tuple[Phase, ...]:
    return tuple(value)


def _work_hours(value: Iterable[WorkHour]) -> tuple[WorkHour, ...]:
    return tuple(value)


def _invoices(value: Iterable[Invoice]) -> tuple[Invoice, ...]:
    return tuple(value)


def _files(value: Iterable[ProjectFile]) -> tuple[ProjectFile, ...]:
    return tuple(value)


def _links(value: Iterable[ProjectLink]) -> tuple[ProjectLink, ...]:
    return tuple(value)


def _comments(value: Iterable[Comment]) -> tuple[Comment, ...]:
    return tuple(value)


@attrs.frozen
class Project:
    """A project (the seeds' "work") with everything an Extranet share can reveal."""

    id: str = attrs.field(validator=non_blank)
    name: str = attrs.field(validator=non_blank)
    customer_id: str = attrs.field(validator=non_blank)
    summary: str = ""
    status: ProjectStatus | None = None
    phases: tuple[Phase, ...] = attrs.field(default=(), converter=_phases)
    work_hours: tuple[WorkHour, ...] = attrs.field(default=(), converter=_work_hours)
    invoices: tuple[Invoice, ...] = attrs.field(default=(), converter=_invoices)
    billable_amount: Decimal | None = None
    currency: str = "EUR"
    files: tuple[ProjectFile, ...] = attrs.field(default=(), converter=_files)
    links: tuple[ProjectLink, ...] = attrs.field(default=(), converter=_links)
    comments: tuple[Comment, ...] = attrs.field(default=(), converter=_comments)
