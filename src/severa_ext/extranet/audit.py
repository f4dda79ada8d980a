"""The Extranet audit trail: every share change and every contact action is an event.

Events are immutable values stamped with the service's injected clock. An
:class:`AuditLog` stores them and reads them back per project and per contact; the
in-memory :class:`MemoryAuditLog` ships, a host persists events its own way (they
serialize through :data:`severa_ext.extranet.codec.converter`). Events never carry
secrets: no passwords, no email addresses, no comment or file contents beyond ids.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from severa_ext.domain._validators import aware, non_blank
from severa_ext.extranet.rights import Right

__all__ = ["AuditEvent", "AuditKind", "AuditLog", "MemoryAuditLog"]


class AuditKind(enum.StrEnum):
    """The kinds of events the Extranet records.

    ``AuditEvent.kind`` is a plain string so that extensions (invitations) can record
    their own kinds; these are the ones the share service emits.
    """

    SHARE = "share"
    UPDATE = "update"
    STOP = "stop"
    APPROVE = "approve"
    COMMENT = "comment"
    ADD_FILE = "add_file"
    ADD_LINK = "add_link"
    CHANGE_STATUS = "change_status"
    CONTACT_CHANGED = "contact_changed"


@attrs.frozen
class AuditEvent:
    """One thing that happened in the Extranet.

    Attributes:
        actor: who did it: a host user id for share changes, the contact id for
            contact actions.
        at: when, from the service's injected clock.
        project_id: the project concerned (``None`` only for events about a person).
        contact_id: the contact person concerned.
        kind: what happened (an :class:`AuditKind` value or an extension's own string;
            stored as a plain ``str``, which compares equal to the ``AuditKind``).
        before_rights: the share's rights before the event (``None``: no live share).
        after_rights: the share's rights after it (``None``: no live share).
        share_version: the share's version after the event (``None`` if not known).
        detail: short words or ids (never secrets).
    """

    actor: str = attrs.field(validator=non_blank)
    at: datetime = attrs.field(validator=aware)
    project_id: str | None
    contact_id: str
    kind: str = attrs.field(converter=str, validator=non_blank)
    before_rights: Right | None = None
    after_rights: Right | None = None
    share_version: int | None = None
    detail: str = ""


@runtime_checkable
class AuditLog(Protocol):
    """Where audit events are appended and read back."""

    def append(self, event: AuditEvent) -> None:
        """Record one event."""
        ...

    def for_project(self, project_id: str) -> Iterable[AuditEvent]:
        """Events of one project, oldest first."""
        ...

    def for_contact(self, contact_id: str) -> Iterable[AuditEvent]:
        """Events of one contact person, oldest first."""
        ...


class MemoryAuditLog:
    """The in-memory :class:`AuditLog`: an append-only, thread-safe list."""

    def __init__(self) -> None:
        """Create an empty log."""
        self._lock = threading.Lock()
        self._events: list[AuditEvent] = []

    def append(self, event: AuditEvent) -> None:
        """Record one event."""
        with self._lock:
            self._events.append(event)

    def events(self) -> tuple[AuditEvent, ...]:
        """Every event, oldest first."""
        with self._lock:
            return tuple(self._events)

    def for_project(self, project_id: str) -> tuple[AuditEvent, ...]:
        """Events of one project, oldest first."""
        return tuple(e for e in self.events() if e.project_id == project_id)

    def for_contact(self, contact_id: str) -> tuple[AuditEvent, ...]:
        """Events of one contact person, oldest first."""
        return tuple(e for e in self.events() if e.contact_id == contact_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def __repr__(self) -> str:
        return f"MemoryAuditLog({len(self)} events)"
