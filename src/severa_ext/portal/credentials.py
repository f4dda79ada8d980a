"""The contact's own authenticator: the password set after the enrolment login.

The invitation's one-time password is an enrolment code (NIST SP 800-63B-4 treats an
emailed code as a way to bind an authenticator, not as one): the first login with it
leads straight to setting a password, and later logins use that password. A
:class:`Credential` is what the portal keeps per contact: the normalised address it
logs in with and the Argon2id hash. :class:`CredentialStore` is the seam a host fills
with its own table; :class:`MemoryCredentialStore` is the in-memory one.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from severa_ext.domain._validators import aware, non_blank

__all__ = ["Credential", "CredentialStore", "MemoryCredentialStore"]


@attrs.frozen
class Credential:
    """One contact's password.

    Attributes:
        contact_id: the contact person.
        email: the normalised address the contact logs in with.
        password_hash: the PHC string (Argon2id); hidden from ``repr``.
        set_at: when it was set.
    """

    contact_id: str = attrs.field(validator=non_blank)
    email: str = attrs.field(validator=non_blank)
    password_hash: str = attrs.field(repr=False, validator=non_blank)
    set_at: datetime = attrs.field(validator=aware)


@runtime_checkable
class CredentialStore(Protocol):
    """Where credentials live, one per contact."""

    def by_email(self, email: str) -> Credential | None:
        """The credential of the normalised ``email``, or ``None``."""
        ...

    def put(self, credential: Credential) -> None:
        """Store ``credential``, replacing the contact's earlier one (and its address)."""
        ...

    def remove(self, contact_id: str) -> None:
        """Forget the contact's credential (the host removed the contact)."""
        ...


class MemoryCredentialStore:
    """The in-memory :class:`CredentialStore`; thread-safe."""

    def __init__(self) -> None:
        """Create an empty store."""
        self._lock = threading.Lock()
        self._by_contact: dict[str, Credential] = {}

    def by_email(self, email: str) -> Credential | None:
        """The credential of ``email``, or ``None``."""
        with self._lock:
            return next((c for c in self._by_contact.values() if c.email == email), None)

    def put(self, credential: Credential) -> None:
        """Store ``credential`` (one per contact; one contact per address)."""
        with self._lock:
            for other in [c for c in self._by_contact.values() if c.email == credential.email]:
                del self._by_contact[other.contact_id]
            self._by_contact[credential.contact_id] = credential

    def remove(self, contact_id: str) -> None:
        """Forget the contact's credential."""
        with self._lock:
            self._by_contact.pop(contact_id, None)

    def __repr__(self) -> str:
        with self._lock:
            return f"MemoryCredentialStore({len(self._by_contact)} credentials)"
