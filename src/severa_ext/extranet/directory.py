"""The host's directory: the current contact cards and project customers (X3).

The Extranet re-checks X3 on every decision, so the service needs the contact's card
and the project's customer *as they are now*, not as they were when the project was
shared. :class:`ContactDirectory` is that seam: two reads the host answers from its own
records (a SQL query, a call to its API). :class:`MemoryContactDirectory` is the
in-memory implementation for tests and small hosts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from severa_ext.domain import ContactPerson, Project
from severa_ext.errors import ValidationError

__all__ = ["ContactDirectory", "MemoryContactDirectory"]


@runtime_checkable
class ContactDirectory(Protocol):
    """Where the service reads contact cards and project customers, on every decision.

    Answers must be current: a card moved to another customer, an address removed or a
    card deleted must show in the very next answer (no cache may outlive a change).
    """

    def contact(self, contact_id: str) -> ContactPerson | None:
        """The contact person's current card, or ``None`` when there is none."""
        ...

    def project_customer(self, project_id: str) -> str | None:
        """The id of the project's current customer, or ``None`` for an unknown project."""
        ...


class MemoryContactDirectory:
    """The in-memory :class:`ContactDirectory`; thread-safe."""

    def __init__(
        self, *, contacts: Iterable[ContactPerson] = (), projects: Iterable[Project] = ()
    ) -> None:
        """Create the directory, optionally pre-filled with cards and projects."""
        self._lock = threading.Lock()
        self._contacts: dict[str, ContactPerson] = {}
        self._customers: dict[str, str] = {}
        for contact in contacts:
            self.put_contact(contact)
        for project in projects:
            self.put_project(project)

    def contact(self, contact_id: str) -> ContactPerson | None:
        """The card of ``contact_id``, or ``None``."""
        with self._lock:
            return self._contacts.get(contact_id)

    def project_customer(self, project_id: str) -> str | None:
        """The customer id of ``project_id``, or ``None``."""
        with self._lock:
            return self._customers.get(project_id)

    def put_contact(self, contact: ContactPerson) -> None:
        """Add or replace a card (a move or an address change is a new card)."""
        if not isinstance(contact, ContactPerson):
            raise ValidationError(f"put_contact needs a ContactPerson, got {contact!r}")
        with self._lock:
            self._contacts[contact.id] = contact

    def remove_contact(self, contact_id: str) -> None:
        """Forget a card (as when the host deletes it)."""
        with self._lock:
            self._contacts.pop(contact_id, None)

    def put_project(self, project: Project) -> None:
        """Add or replace a project's customer."""
        if not isinstance(project, Project):
            raise ValidationError(f"put_project needs a Project, got {project!r}")
        with self._lock:
            self._customers[project.id] = project.customer_id

    def remove_project(self, project_id: str) -> None:
        """Forget a project."""
        with self._lock:
            self._customers.pop(project_id, None)

    def __repr__(self) -> str:
        with self._lock:
            return (
                f"MemoryContactDirectory({len(self._contacts)} contacts, "
                f"{len(self._customers)} projects)"
            )
