"""Customer approval of hour entries (X4): an immutable record, voided by later edits.

An :class:`Approval` says who approved which hour entries when, with a fingerprint of
the entries' content at that moment. Approval is the customer's statement only: it
never changes an entry's billable status, and billing never voids an approval (X4).
If any approved entry is edited or removed afterwards, :func:`approval_status` says the
approval is ``ApprovalStatus.VOID`` and :func:`changed_hours` says which entries.

The fingerprint covers the fields a customer approves: id, phase, person, date,
quantity (numerically: ``1.0`` equals ``1.00``), description and clock times. It leaves
out the billable status and amount and the approval marker itself.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable
from datetime import datetime

import attrs

from severa_ext.domain import Project, WorkHour
from severa_ext.domain._validators import aware, non_blank
from severa_ext.errors import ValidationError

__all__ = [
    "Approval",
    "ApprovalStatus",
    "approval_status",
    "changed_hours",
    "entry_approval",
    "hour_fingerprint",
    "hours_fingerprint",
]


class ApprovalStatus(enum.Enum):
    """Whether an approval still covers the hours as they are now."""

    VALID = "valid"
    VOID = "void"


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _hour_ids(value: Iterable[str]) -> tuple[str, ...]:
    ids = tuple(sorted(set(value)))
    if not ids:
        raise ValidationError("an approval needs at least one hour entry id")
    return ids


@attrs.frozen
class Approval:
    """The customer's approval of some hour entries of one project (X4).

    Attributes:
        id: the record's id.
        project_id: the project.
        contact_id: the contact person who approved.
        approved_at: when, from the service's clock.
        hour_ids: the approved entries' ids, sorted, without repeats.
        fingerprints: each approved entry's fingerprint at approval time, in
            ``hour_ids`` order.
        fingerprint: one fingerprint of all approved entries together.
        share_version: the version of the share that allowed it.
    """

    id: str = attrs.field(validator=non_blank)
    project_id: str = attrs.field(validator=non_blank)
    contact_id: str = attrs.field(validator=non_blank)
    approved_at: datetime = attrs.field(validator=aware)
    hour_ids: tuple[str, ...] = attrs.field(converter=_hour_ids)
    fingerprints: tuple[str, ...] = attrs.field(converter=_strings)
    fingerprint: str = attrs.field(validator=non_blank)
    share_version: int = 1

    def __attrs_post_init__(self) -> None:
        if len(self.fingerprints) != len(self.hour_ids):
            raise ValidationError(
                f"Approval {self.id!r}: {len(self.hour_ids)} hour ids but "
                f"{len(self.fingerprints)} fingerprints"
            )


def _canonical(hour: WorkHour) -> dict[str, str | None]:
    return {
        "id": hour.id,
        "phase_id": hour.phase_id,
        "user_name": hour.user_name,
        "event_date": hour.event_date.isoformat(),
        "quantity": format(hour.quantity.normalize(), "f"),
        "description": hour.description,
        "start_time": None if hour.start_time is None else hour.start_time.isoformat(),
        "end_time": None if hour.end_time is None else hour.end_time.isoformat(),
    }


def hour_fingerprint(hour: WorkHour) -> str:
    """Return the SHA-256 fingerprint of the approvable content of one hour entry.

    Args:
        hour: the entry.

    Returns:
        A hex digest; equal for entries that differ only in billing or approval fields.
    """
    text = json.dumps(_canonical(hour), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_approval(hour: WorkHour) -> ApprovalStatus | None:
    """The state of the customer approval an hour entry carries (X4).

    Args:
        hour: the entry as it is now.

    Returns:
        ``None`` when no approval covers it; ``VALID`` when its fingerprint is still
        the one recorded at approval; ``VOID`` when it was edited since (or carries an
        approval without a fingerprint, which cannot be shown as approved).
    """
    if hour.customer_approval_id is None:
        return None
    if hour.customer_approval_fingerprint == hour_fingerprint(hour):
        return ApprovalStatus.VALID
    return ApprovalStatus.VOID


def hours_fingerprint(fingerprints: Iterable[str]) -> str:
    """Combine per-entry fingerprints (in order) into one.

    Args:
        fingerprints: the entries' fingerprints, ordered by hour id.

    Returns:
        A hex digest.
    """
    return hashlib.sha256("\n".join(fingerprints).encode("ascii")).hexdigest()


def changed_hours(approval: Approval, project: Project) -> tuple[str, ...]:
    """Return the ids of approved entries that were edited or removed since approval.

    Args:
        approval: the approval record.
        project: the project as it is now.

    Returns:
        The ids, sorted; empty when the approval still holds.

    Raises:
        ValidationError: ``project`` is not the approval's project.
    """
    if project.id != approval.project_id:
        raise ValidationError(
            f"approval {approval.id!r} is for project {approval.project_id!r}, not {project.id!r}"
        )
    now = {h.id: h for h in project.work_hours}
    return tuple(
        hour_id
        for hour_id, printed in zip(approval.hour_ids, approval.fingerprints, strict=True)
        if hour_id not in now or hour_fingerprint(now[hour_id]) != printed
    )


def approval_status(approval: Approval, project: Project) -> ApprovalStatus:
    """Say whether ``approval`` still covers the hours of ``project`` as they are now.

    Args:
        approval: the approval record.
        project: the project as it is now.

    Returns:
        ``ApprovalStatus.VOID`` if any approved entry was edited or removed since.

    Raises:
        ValidationError: ``project`` is not the approval's project.
    """
    return ApprovalStatus.VOID if changed_hours(approval, project) else ApprovalStatus.VALID
