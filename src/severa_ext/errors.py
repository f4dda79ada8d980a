"""The one exception hierarchy of ``severa_ext``.

Every error the package raises derives from :class:`SeveraExtError`; no third-party
exception (requests, msal, sqlite3, icalendar, XML parsers) escapes a public call.
Errors that describe bad input also derive from :class:`ValueError`, lookups that find
nothing from :class:`LookupError`, refusals from :class:`PermissionError`, so callers
that already catch the builtins keep working.

Structured facts live on attributes (``retry_after``, ``item_ref``, ``reason``,
``missing``...) so that hosts never parse messages::

    SeveraExtError
    ├── ValidationError (ValueError)           bad values handed to the SDK
    │   ├── RightsError                        unknown right / missing dependent right
    │   └── EmailAddressError                  an address that is not valid (X3)
    ├── ConfigError (ValueError)               bad configuration (files, settings)
    ├── StoreError                             a store's database failed or has a foreign schema
    ├── ExtranetError
    │   ├── ShareRefused (PermissionError)     X3: not the customer's contact / no valid email
    │   ├── ShareNotFound (LookupError)
    │   ├── ShareExists
    │   ├── ShareConflict                      the share changed under a concurrent writer
    │   ├── ConfirmationRequired               X8: stop() without confirm=True
    │   ├── ApprovalRefused                    X4: hours already approved (reason, hour_ids)
    │   └── AccessDenied (PermissionError)     carries the Decision that refused
    ├── InviteError                            one base, so hosts can show one message
    │   ├── InviteExpired
    │   ├── InviteUsed
    │   ├── InviteLocked
    │   ├── InviteRevoked                      superseded, share stopped, email changed
    │   ├── InviteNotFound (LookupError)       no invite with that id
    │   ├── WrongPassword                      attempts_left; record (failed count + 1)
    │   ├── LoginFailed                        login by address: one message, reason for the host
    │   └── InviteConflict                     the record changed under a concurrent writer
    ├── SyncError
    │   ├── ActivationError (PermissionError)  S1, S2, S4, S5, S10 with a reason code
    │   ├── LeaseHeld                          another run holds this pair
    │   ├── MassDeletionRefused                the mass-deletion guard stopped a run
    │   └── StateError (StoreError)            the state store is unusable or corrupt
    └── BackendError                           anything a calendar / activity backend says
        ├── Throttled                          retry_after seconds
        ├── VersionConflict                    stale etag / ChangeKey (412)
        ├── NotFound (LookupError)
        ├── AuthError (PermissionError)        bad credentials, missing consent or role
        ├── BackendUnavailable                 network, 5xx, timeouts, EWS switched off
        ├── BadItem (ValueError)               one item the backend cannot take or parse
        ├── ReadOnlyBackend                    a write to a read-only source
        └── MalformedResponse                  a server answered something unparseable
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = [
    "AccessDenied",
    "ActivationError",
    "ApprovalRefused",
    "AuthError",
    "BackendError",
    "BackendUnavailable",
    "BadItem",
    "ConfigError",
    "ConfirmationRequired",
    "EmailAddressError",
    "ExtranetError",
    "InviteConflict",
    "InviteError",
    "InviteExpired",
    "InviteLocked",
    "InviteNotFound",
    "InviteRevoked",
    "InviteUsed",
    "LeaseHeld",
    "LoginFailed",
    "MalformedResponse",
    "MassDeletionRefused",
    "NotFound",
    "ReadOnlyBackend",
    "RightsError",
    "SeveraExtError",
    "ShareConflict",
    "ShareExists",
    "ShareNotFound",
    "ShareRefused",
    "StateError",
    "StoreError",
    "SyncError",
    "Throttled",
    "ValidationError",
    "VersionConflict",
    "WrongPassword",
]


class SeveraExtError(Exception):
    """Root of every error raised by ``severa_ext``."""


# --- input and configuration -------------------------------------------------


class ValidationError(SeveraExtError, ValueError):
    """A value handed to the SDK is not acceptable."""


class RightsError(ValidationError):
    """A set of Extranet rights is inconsistent or names an unknown right.

    Attributes:
        missing: names of rights that another granted right needs (empty if none).
        unknown: names that are not rights at all (empty if none).
    """

    def __init__(
        self,
        message: str,
        *,
        missing: tuple[str, ...] = (),
        unknown: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.missing = missing
        self.unknown = unknown


class EmailAddressError(ValidationError):
    """An email address is missing or not syntactically valid."""

    def __init__(self, address: str | None, reason: str) -> None:
        super().__init__(f"invalid email address {address!r}: {reason}")
        self.address = address
        self.reason = reason


class ConfigError(SeveraExtError, ValueError):
    """Configuration (a file, a setting, a backend address) is wrong."""


# --- Extranet ------------------------------------------------------------------


class ExtranetError(SeveraExtError):
    """Base of errors of the Extranet (shares, access, actions)."""


class ShareRefused(ExtranetError, PermissionError):
    """A share cannot be made (X3).

    Attributes:
        reason: a stable code, e.g. ``"not-customer-contact"``, ``"missing-email"``,
            ``"invalid-email"``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ShareNotFound(ExtranetError, LookupError):
    """No share exists for the (project, contact) pair."""

    def __init__(self, project_id: str, contact_id: str) -> None:
        super().__init__(f"no share of project {project_id!r} with contact {contact_id!r}")
        self.project_id = project_id
        self.contact_id = contact_id


class ShareExists(ExtranetError):
    """A share already exists for the (project, contact) pair; use ``update``."""

    def __init__(self, project_id: str, contact_id: str) -> None:
        super().__init__(
            f"project {project_id!r} is already shared with contact {contact_id!r}; "
            "use update() to change its rights"
        )
        self.project_id = project_id
        self.contact_id = contact_id


class ShareConflict(ExtranetError):
    """Another writer changed the share first (optimistic locking); re-read and retry.

    A store raises it from what it has at hand: the pair and the version it was told
    to expect. ``actual_version`` is optional because an ``UPDATE ... WHERE version = ?``
    that matched no row does not know what it would have found.

    Attributes:
        project_id, contact_id: the pair.
        expected_version: the version the writer read (``None``: it saw no share).
        actual_version: the version found in the store, when the store knows it
            (``None``: not known, or no share).
    """

    def __init__(
        self,
        project_id: str,
        contact_id: str,
        *,
        expected_version: int | None,
        actual_version: int | None = None,
    ) -> None:
        found = "" if actual_version is None else f", found version {actual_version}"
        super().__init__(
            f"the share of project {project_id!r} with contact {contact_id!r} changed "
            f"concurrently (expected version {expected_version}{found}); "
            "re-read it and retry"
        )
        self.project_id = project_id
        self.contact_id = contact_id
        self.expected_version = expected_version
        self.actual_version = actual_version


class ConfirmationRequired(ExtranetError):
    """A destructive call (stopping a share, X8) was made without ``confirm=True``."""


class ApprovalRefused(ExtranetError):
    """An approval of hour entries cannot be recorded (X4); nothing was written.

    Attributes:
        reason: a stable code: ``"already-approved"`` (an approval that still holds
            covers the entries; a voided one may be approved again).
        hour_ids: the entries concerned, sorted.
    """

    def __init__(self, message: str, *, reason: str, hour_ids: tuple[str, ...]) -> None:
        super().__init__(message)
        self.reason = reason
        self.hour_ids = hour_ids


class AccessDenied(ExtranetError, PermissionError):
    """A contact tried something its current share does not grant.

    Attributes:
        decision: the refusing ``Decision`` (its ``reason`` explains why).
    """

    def __init__(self, message: str, *, decision: Any = None) -> None:
        super().__init__(message)
        self.decision = decision


# --- invites -------------------------------------------------------------------


class InviteError(SeveraExtError):
    """A one-time password was refused. Hosts show users one generic message for all.

    Attributes:
        record: the invite's record as it must now be stored (an ``InviteRecord``; a
            wrong attempt counts one failure), or ``None`` when there is no record.
    """

    def __init__(self, message: str, *, record: Any = None) -> None:
        super().__init__(message)
        self.record = record


class InviteExpired(InviteError):
    """The invite's one-time password is past its expiry."""


class InviteUsed(InviteError):
    """The one-time password was already used; it never verifies again."""


class InviteLocked(InviteError):
    """Too many wrong attempts: the invite is locked."""


class InviteRevoked(InviteError):
    """The invite was superseded, its share stopped, or the contact's email changed."""


class InviteNotFound(InviteError, LookupError):
    """No invite is stored under the given id."""

    def __init__(self, invite_id: str) -> None:
        super().__init__(f"no invite with id {invite_id!r}")
        self.invite_id = invite_id


class WrongPassword(InviteError):
    """The candidate password does not match; ``record`` counts the failure."""

    def __init__(self, message: str, *, attempts_left: int, record: Any = None) -> None:
        super().__init__(message, record=record)
        self.attempts_left = attempts_left


class LoginFailed(InviteError):
    """A login with an email address and a one-time password was refused (X9).

    ``str()`` is the same for every cause (``LoginFailed.MESSAGE``), so what a user is shown
    never tells whether the address has an invitation; ``reason`` tells the host.

    Attributes:
        reason: ``"wrong-password"`` (the address has open invitations, the password
            matches none; each counted one failure), ``"no-open-invite"`` (no open
            invitation for the address: unknown, used, expired, revoked or locked) or
            ``"invalid-address"`` (not an email address at all).
        record: the newest invitation tried (``None`` when none was).
    """

    MESSAGE = "the email address or the one-time password is not valid"

    def __init__(self, *, reason: str, record: Any = None) -> None:
        super().__init__(self.MESSAGE, record=record)
        self.reason = reason


class InviteConflict(InviteError):
    """Another request changed the invite record first (optimistic locking).

    The convention of :class:`ShareConflict`: a store raises it from the id and the
    version it was told to expect; ``actual_version`` only when it knows it.

    Attributes:
        invite_id: the record's id.
        expected_version: the version the writer read.
        actual_version: the version found in the store, when the store knows it.
    """

    def __init__(
        self, invite_id: str, *, expected_version: int, actual_version: int | None = None
    ) -> None:
        found = "" if actual_version is None else f", found version {actual_version}"
        super().__init__(
            f"invite {invite_id!r} changed concurrently "
            f"(expected version {expected_version}{found}); re-read it and retry"
        )
        self.invite_id = invite_id
        self.expected_version = expected_version
        self.actual_version = actual_version


# --- stores ----------------------------------------------------------------------


class StoreError(SeveraExtError):
    """A store's database failed (connection lost, a statement refused) or holds a
    schema this release cannot use (not created, older or newer); the message names
    the store and what to do."""


# --- sync ----------------------------------------------------------------------


class SyncError(SeveraExtError):
    """Base of errors of the calendar sync (activation, state, guard rails)."""


class ActivationError(SyncError, PermissionError):
    """Sync cannot be turned on (S1, S2, S4, S5, S10).

    Attributes:
        reason: a stable code such as ``"addon-inactive"``, ``"settings-missing"``,
            ``"not-self"``, ``"email-mismatch"``, ``"no-mailbox"``, ``"bookings"``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class LeaseHeld(SyncError):
    """Another run holds the lease of this sync pair; two runs never interleave.

    The command line exits with ``EXIT_BUSY`` (3) and puts :attr:`expires` in its JSON
    document as ``error.expires_at``; the engine journals the refusal (operation
    ``lease``).

    Attributes:
        pair_id: the pair.
        holder: who holds the lease (``host:pid:...`` for the default holder id), if known.
        expires: when the lease runs out if its holder does not renew it (an aware
            ``datetime``), if known.
    """

    def __init__(
        self, pair_id: str, holder: str | None = None, *, expires: datetime | None = None
    ) -> None:
        who = f" by {holder}" if holder else ""
        until = f" until {expires.isoformat()}" if expires is not None else ""
        super().__init__(f"sync pair {pair_id!r} is being synced{who}{until}; try again later")
        self.pair_id = pair_id
        self.holder = holder
        self.expires = expires


class MassDeletionRefused(SyncError):
    """A run would delete too much of one side and stopped before deleting anything."""

    def __init__(self, side: str, deletes: int, total: int, limit: float) -> None:
        super().__init__(
            f"refusing to delete {deletes} of {total} items on side {side!r} "
            f"(more than {limit:.0%}); re-run with the mass-deletion override if intended"
        )
        self.side = side
        self.deletes = deletes
        self.total = total
        self.limit = limit


class StateError(SyncError, StoreError):
    """The sync state store cannot be used (corrupt, newer schema, unreadable)."""


# --- backends ------------------------------------------------------------------


class BackendError(SeveraExtError):
    """Anything a calendar or activity backend reports.

    Attributes:
        backend: short backend name (``"graph"``, ``"ews"``, ``"ics"`` ...), if known.
        code: the server's own error code (e.g. ``"ErrorAccessDenied"``), if any.
    """

    def __init__(
        self, message: str, *, backend: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.backend = backend
        self.code = code


class Throttled(BackendError):
    """The server asked us to slow down; retry after ``retry_after`` seconds."""

    def __init__(
        self,
        message: str = "throttled by the server",
        *,
        retry_after: float = 1.0,
        backend: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(f"{message} (retry after {retry_after:g} s)", backend=backend, code=code)
        self.retry_after = retry_after


class VersionConflict(BackendError):
    """The item changed on the server since we read it (stale etag / ChangeKey)."""


class NotFound(BackendError, LookupError):
    """The item (or mailbox, or file) does not exist."""


class AuthError(BackendError, PermissionError):
    """Credentials are wrong, expired, or lack a right the operation needs."""


class BackendUnavailable(BackendError):
    """The backend cannot be reached or failed transiently (network, 5xx, timeout)."""


class BadItem(BackendError, ValueError):
    """One item cannot be read or written; the rest of the sync goes on.

    Attributes:
        item_ref: the backend's id, UID or line that names the item.
        reason: why, in words.
    """

    def __init__(self, item_ref: str, reason: str, *, backend: str | None = None) -> None:
        super().__init__(f"item {item_ref!r}: {reason}", backend=backend)
        self.item_ref = item_ref
        self.reason = reason


class ReadOnlyBackend(BackendError):
    """A write was attempted on a read-only backend (e.g. an ICS subscription)."""


class MalformedResponse(BackendError):
    """The server answered with something that cannot be parsed safely."""
