"""One-time-password invitations to the Extranet (X6, X9, X10).

Saving a new share sends the contact an invitation (X6) that holds a one-time password,
the login address and instructions (X9); the login address is the host's configuration
(X10). This module builds all of it without I/O and without reading the clock:

* :class:`InviteIssuer` makes an :class:`Invite`: the :class:`OneTimePassword` (never
  shown by ``repr``/``str``), a storable :class:`InviteRecord` (salted scrypt hash with
  its parameters) and an :class:`email.message.EmailMessage` in Finnish, English or
  Swedish, ready for ``smtplib``.
* :func:`verify` checks a candidate against a record: constant-time, single use,
  expiring, locking after a bounded number of failures. Each refusal is its own
  :class:`~severa_ext.errors.InviteError` subclass and carries the record to store.
* :class:`InviteStore` (protocol) and :class:`MemoryInviteStore` keep records; a new
  invite for the same share supersedes the earlier ones; :func:`verify_stored` loads,
  verifies and saves with compare-and-swap so a password is never accepted twice.
* :class:`Inviter` ties an issuer, a store and an optional audit log together for the
  share service: issuing, use, failures and revocations become audit events, never
  with the password.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import secrets
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import cattrs
from cattrs.v import format_exception

from severa_ext.domain import ContactPerson, normalize_email
from severa_ext.domain._validators import aware, non_blank
from severa_ext.errors import (
    ConfigError,
    EmailAddressError,
    InviteConflict,
    InviteError,
    InviteExpired,
    InviteLocked,
    InviteNotFound,
    InviteRevoked,
    InviteUsed,
    ValidationError,
    WrongPassword,
)
from severa_ext.extranet import _invite_password as _pw
from severa_ext.extranet._invite_templates import LANGUAGES, visible_line
from severa_ext.extranet.audit import AuditEvent, AuditLog
from severa_ext.extranet.shares import check_next_version

if TYPE_CHECKING:
    from email.message import EmailMessage

__all__ = [
    "DEFAULT_KDF",
    "MIN_ENTROPY_BITS",
    "SUPPORTED_LANGUAGES",
    "Branding",
    "Invite",
    "InviteAuditKind",
    "InviteIssuer",
    "InviteRecord",
    "InviteState",
    "InviteStore",
    "Inviter",
    "MemoryInviteStore",
    "OneTimePassword",
    "RevokeReason",
    "ScryptKdf",
    "ShareRef",
    "normalize_password",
    "password_entropy_bits",
    "record_from_dict",
    "record_to_dict",
    "register_invite_hooks",
    "verify",
    "verify_stored",
]

MIN_ENTROPY_BITS = 64
"""The floor of a password's entropy; :class:`InviteIssuer` refuses anything lower."""

SUPPORTED_LANGUAGES = tuple(sorted(LANGUAGES))
"""Invitation languages (``ContactPerson.language``); anything else gets English."""

_MAX_ENTROPY_BITS = 256
_MAX_TTL = timedelta(days=30)
_MAX_ATTEMPTS = 100
_SALT_BYTES = 16
_MAX_VERSION = 2**62


def _is_instance(value: object, kind: type) -> bool:
    """``isinstance`` for values the type checker already believes (hosts may not)."""
    return isinstance(value, kind)


def _require_aware(now: object, where: str) -> None:
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise ValidationError(f"{where} needs an aware datetime for now, got {now!r}")


# --- the password ------------------------------------------------------------------


class OneTimePassword:
    """A one-time password: ``repr``/``str``/``format`` never show it.

    Read it explicitly with :meth:`reveal` (for a host's own delivery channel); the
    issued email already contains it. Equality is constant-time and it is unhashable,
    so it never ends up as a dict key or in a set by accident.
    """

    __slots__ = ("_value",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, value: str) -> None:
        """Wrap ``value`` (grouped or not); it must be made of the password alphabet.

        Raises:
            ValidationError: ``value`` is not a possible one-time password.
        """
        if not isinstance(value, str):
            raise ValidationError(f"OneTimePassword needs a str, got {type(value).__name__}")
        symbols = _pw.canonical(value)
        if symbols is None:
            raise ValidationError("OneTimePassword: the value is not made of the password alphabet")
        self._value = _pw.group(symbols)

    def reveal(self) -> str:
        """The password, grouped for reading aloud (``XXXX-XXXX-XXXX-X``)."""
        return self._value

    def __repr__(self) -> str:
        return "OneTimePassword('********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return format(repr(self), spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OneTimePassword):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __reduce__(self) -> Any:
        raise TypeError("a OneTimePassword cannot be pickled")


def normalize_password(candidate: str) -> str | None:
    """Fold what a person typed into the canonical password (no case, spaces, dashes).

    Args:
        candidate: the typed text; full-width forms, lower case, spaces and any dash
            are accepted.

    Returns:
        The canonical symbols, or ``None`` when the text cannot be a password at all.
    """
    return _pw.canonical(candidate)


def password_entropy_bits(length: int) -> float:
    """Entropy in bits of a password of ``length`` symbols drawn uniformly."""
    return length * _pw.bits_per_symbol()


# --- the KDF -----------------------------------------------------------------------


def _power_of_two(_instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 2 or value & (value - 1):
        raise ValidationError(f"ScryptKdf.{attribute.name} must be a power of two >= 2")
    if value > 2**20:
        raise ValidationError(f"ScryptKdf.{attribute.name} must be at most 2**20, got {value}")


def _int_between(low: int, high: int) -> Any:
    def check(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationError(
                f"{type(instance).__name__}.{attribute.name} must be an int in "
                f"[{low}, {high}], got {value!r}"
            )

    return check


def _is_scrypt(_instance: object, _attribute: attrs.Attribute[str], value: str) -> None:
    if value != "scrypt":
        raise ValidationError(f"unsupported KDF {value!r}; only 'scrypt' is known")


@attrs.frozen
class ScryptKdf:
    """scrypt (RFC 7914, :func:`hashlib.scrypt`) with its cost parameters.

    The parameters are stored in every :class:`InviteRecord`, so a host can raise the
    default later and older records still verify with the cost they were made with.
    Bounds stop a tampered record from asking for gigabytes of memory.

    Attributes:
        n: CPU/memory cost, a power of two (memory is about ``128 * r * n`` bytes).
        r: block size.
        p: parallelism.
        dklen: length of the derived hash in bytes.
        name: always ``"scrypt"`` (recorded so other KDFs can be added).
    """

    n: int = attrs.field(default=2**15, validator=_power_of_two)
    r: int = attrs.field(default=8, validator=_int_between(1, 32))
    p: int = attrs.field(default=1, validator=_int_between(1, 16))
    dklen: int = attrs.field(default=32, validator=_int_between(16, 64))
    name: str = attrs.field(default="scrypt", validator=_is_scrypt)

    def derive(self, secret: bytes, salt: bytes) -> bytes:
        """Derive ``dklen`` bytes from ``secret`` and ``salt``."""
        maxmem = 128 * self.r * (self.n + self.p + 2) + (1 << 20)
        return hashlib.scrypt(
            secret, salt=salt, n=self.n, r=self.r, p=self.p, dklen=self.dklen, maxmem=maxmem
        )


DEFAULT_KDF = ScryptKdf()
"""The default KDF, scrypt n=2**15, r=8, p=1 (32 MiB); one verify takes 50-500 ms here."""


# --- the record ---------------------------------------------------------------------


class InviteState(enum.StrEnum):
    """Where an invite stands at a given instant."""

    OPEN = "open"
    USED = "used"
    REVOKED = "revoked"
    LOCKED = "locked"
    EXPIRED = "expired"


class RevokeReason(enum.StrEnum):
    """Why an invite was made unusable before it was used."""

    SUPERSEDED = "superseded"
    """A newer invite was issued for the same share."""
    SHARE_STOPPED = "share-stopped"
    """Sharing was stopped (X8)."""
    EMAIL_CHANGED = "email-changed"
    """The contact's email address changed; the old address must not log in."""
    HOST = "host"
    """The host revoked it for its own reason."""


def _bytes_of(length: int) -> Any:
    def check(instance: object, attribute: attrs.Attribute[bytes], value: object) -> None:
        if not isinstance(value, bytes) or len(value) < length:
            raise ValidationError(
                f"{type(instance).__name__}.{attribute.name} must be at least {length} bytes"
            )

    return check


def _reason(value: object) -> RevokeReason | None:
    if value is None or isinstance(value, RevokeReason):
        return value
    known = {reason.value: reason for reason in RevokeReason}
    if isinstance(value, str) and value in known:
        return known[value]
    raise ValidationError(
        f"InviteRecord.revoked_reason must be one of {', '.join(known)}; got {value!r}"
    )


@attrs.frozen
class InviteRecord:
    """What a host stores for one invite: a salted hash, never the password.

    Serialize with :func:`record_to_dict` / :func:`record_from_dict` (cattrs). The
    ``repr`` hides ``salt`` and ``hash``.

    Attributes:
        id: random, URL-safe id of the invite.
        project_id: the shared project.
        contact_id: the contact person invited.
        email: the (normalized) address the invite was sent to.
        issued_at: when it was issued (the issuer's ``now``).
        expires_at: the password stops working at this instant.
        kdf: the KDF and the parameters the hash was made with.
        salt: random salt of the hash.
        hash: the KDF output for the canonical password.
        failed_attempts: wrong candidates so far.
        max_attempts: the invite locks when ``failed_attempts`` reaches this.
        used_at: when the password was accepted (single use); ``None`` until then.
        revoked_at: when it was made unusable before use; ``None`` if never.
        revoked_reason: why (a :class:`RevokeReason`), set together with ``revoked_at``.
        version: 1 when issued, one more on every change (use, failure, revocation);
            :meth:`InviteStore.save` compares it (optimistic locking). Records stored
            before versions existed read back as version 1.
    """

    id: str = attrs.field(validator=non_blank)
    project_id: str = attrs.field(validator=non_blank)
    contact_id: str = attrs.field(validator=non_blank)
    email: str = attrs.field(validator=non_blank)
    issued_at: datetime = attrs.field(validator=aware)
    expires_at: datetime = attrs.field(validator=aware)
    kdf: ScryptKdf = attrs.field(validator=attrs.validators.instance_of(ScryptKdf))
    salt: bytes = attrs.field(repr=False, validator=_bytes_of(_SALT_BYTES))
    hash: bytes = attrs.field(repr=False, validator=_bytes_of(16))
    failed_attempts: int = attrs.field(default=0, validator=_int_between(0, _MAX_ATTEMPTS))
    max_attempts: int = attrs.field(default=5, validator=_int_between(1, _MAX_ATTEMPTS))
    used_at: datetime | None = attrs.field(default=None, validator=aware)
    revoked_at: datetime | None = attrs.field(default=None, validator=aware)
    revoked_reason: RevokeReason | None = attrs.field(default=None, converter=_reason)
    version: int = attrs.field(default=1, validator=_int_between(1, _MAX_VERSION))

    def __attrs_post_init__(self) -> None:
        if self.expires_at <= self.issued_at:
            raise ValidationError("InviteRecord.expires_at must be after issued_at")
        if len(self.hash) != self.kdf.dklen:
            raise ValidationError("InviteRecord.hash does not have the KDF's length")
        if self.failed_attempts > self.max_attempts:
            raise ValidationError("InviteRecord.failed_attempts exceeds max_attempts")
        if (self.revoked_at is None) != (self.revoked_reason is None):
            raise ValidationError("InviteRecord.revoked_at and revoked_reason must be set together")

    @property
    def share_key(self) -> tuple[str, str]:
        """The ``(project_id, contact_id)`` pair of the share this invite belongs to."""
        return (self.project_id, self.contact_id)

    @property
    def attempts_left(self) -> int:
        """Wrong attempts still allowed before the invite locks."""
        return self.max_attempts - self.failed_attempts

    def state(self, now: datetime) -> InviteState:
        """The state at ``now``; precedence: revoked, used, locked, expired, open."""
        if self.revoked_at is not None:
            return InviteState.REVOKED
        if self.used_at is not None:
            return InviteState.USED
        if self.failed_attempts >= self.max_attempts:
            return InviteState.LOCKED
        if now >= self.expires_at:
            return InviteState.EXPIRED
        return InviteState.OPEN

    def is_open(self, now: datetime) -> bool:
        """Whether the password can still be accepted at ``now``."""
        return self.state(now) is InviteState.OPEN

    def revoked(self, reason: RevokeReason, now: datetime) -> InviteRecord:
        """The next version, made unusable at ``now`` for ``reason``."""
        return self._next(revoked_at=now, revoked_reason=RevokeReason(reason))

    def _next(self, **changes: Any) -> InviteRecord:
        """The next version of the record with ``changes`` applied."""
        return attrs.evolve(self, version=self.version + 1, **changes)


# --- serialization ------------------------------------------------------------------


def _unstructure_datetime(value: datetime) -> str:
    return value.isoformat()


def _structure_datetime(value: Any, _type: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value)
    else:
        raise ValidationError(f"expected an ISO 8601 date-time string, got {value!r}")
    if parsed.tzinfo is None:
        raise ValidationError(f"date-time {value!r} has no UTC offset")
    return parsed


def _unstructure_bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _structure_bytes(value: Any, _type: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise ValidationError(f"expected base64 text, got {type(value).__name__}")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValidationError("invalid base64 text") from exc


def register_invite_hooks(converter: cattrs.Converter) -> None:
    """Teach ``converter`` how :class:`InviteRecord` fields serialize to JSON types.

    Date-times become ISO 8601 strings with their offset, salt and hash base64 text.
    """
    converter.register_unstructure_hook(datetime, _unstructure_datetime)
    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_unstructure_hook(bytes, _unstructure_bytes)
    converter.register_structure_hook(bytes, _structure_bytes)


_converter = cattrs.Converter(forbid_extra_keys=True)
register_invite_hooks(_converter)


def record_to_dict(record: InviteRecord) -> dict[str, Any]:
    """A JSON-ready dict of ``record`` (salt and hash as base64; store it securely)."""
    data: dict[str, Any] = _converter.unstructure(record)
    return data


def _describe(exc: BaseException, type_: type | None) -> str:
    """Our own validation messages already name the field; keep them as they are."""
    if isinstance(exc, ValidationError):
        return str(exc)
    return format_exception(exc, type_)


def record_from_dict(data: Any) -> InviteRecord:
    """Read back a record written by :func:`record_to_dict`.

    Raises:
        ValidationError: ``data`` is not a valid record; the message names the field.
    """
    if not isinstance(data, Mapping):
        raise ValidationError(
            f"invalid stored invite record: expected a mapping, got {type(data).__name__}"
        )
    try:
        return _converter.structure(data, InviteRecord)
    except ValidationError as exc:
        raise ValidationError(f"invalid stored invite record: {exc}") from exc
    except (cattrs.BaseValidationError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, cattrs.BaseValidationError):
            detail = "; ".join(cattrs.transform_error(exc, format_exception=_describe))
        else:
            detail = str(exc)
        raise ValidationError(f"invalid stored invite record: {detail}") from exc


# --- configuration ------------------------------------------------------------------


def _config_text(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None and attribute.default is None:
        return
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"Branding.{attribute.name} must be a non-blank string")
    if len(value) > 200 or visible_line(value) != value:
        raise ConfigError(
            f"Branding.{attribute.name} must be one line of at most 200 characters, "
            "without control or invisible formatting characters"
        )


def _sender(value: str) -> str:
    try:
        return normalize_email(value)
    except EmailAddressError as exc:
        raise ConfigError(f"Branding.sender_address: {exc}") from exc


def _login_url(_instance: object, _attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or value != value.strip() or not value:
        raise ConfigError("Branding.login_url must be a URL without surrounding spaces")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ConfigError("Branding.login_url must not contain spaces or control characters")
    parts = urlsplit(value)
    local = parts.hostname in {"localhost", "127.0.0.1", "::1"}
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise ConfigError(f"Branding.login_url must be an https:// address, got {value!r}")
    if not parts.hostname or parts.username or parts.password:
        raise ConfigError("Branding.login_url needs a host name and no user or password")


def _time_zone(_instance: object, _attribute: attrs.Attribute[str], value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ConfigError(f"Branding.time_zone: unknown time zone {value!r}") from exc


@attrs.frozen(kw_only=True)
class Branding:
    """The host's branding of invitations: configuration, never request data (X10).

    Attributes:
        product_name: the product as users know it (e.g. ``"Severa"``).
        sender_address: the ``From`` address (validated with email-validator).
        sender_name: the ``From`` display name, and the signature.
        login_url: the Extranet login address (X10); ``https://`` (``http://`` only
            for ``localhost``).
        support_contact: where users get help (an address, a phone number, a URL).
        organisation_name: who shares the work (defaults to ``sender_name``).
        time_zone: IANA zone in which the expiry time is written.
    """

    product_name: str = attrs.field(validator=_config_text)
    sender_address: str = attrs.field(converter=_sender)
    sender_name: str = attrs.field(validator=_config_text)
    login_url: str = attrs.field(validator=_login_url)
    support_contact: str = attrs.field(validator=_config_text)
    organisation_name: str | None = attrs.field(default=None, validator=_config_text)
    time_zone: str = attrs.field(default="UTC", validator=_time_zone)


# --- issuing ------------------------------------------------------------------------


@runtime_checkable
class ShareRef(Protocol):
    """What the issuer needs of a share: the pair it is about (``Share`` has both)."""

    @property
    def project_id(self) -> str:
        """The shared project."""
        ...

    @property
    def contact_id(self) -> str:
        """The contact person it is shared with."""
        ...


@attrs.frozen
class Invite:
    """One issued invitation.

    Attributes:
        password: the one-time password (hidden in ``repr``; :meth:`OneTimePassword.reveal`).
        record: what to store (:class:`InviteRecord`): hash and state, no password.
        message: the email to send as it is (``smtplib.SMTP.send_message``).
    """

    password: OneTimePassword
    record: InviteRecord
    message: EmailMessage = attrs.field(repr=False, eq=False)


class InviteIssuer:
    """Issues invitations with one host's branding and policy.

    Args:
        branding: sender, product, login address (X10) and support contact.
        ttl: how long a password works; default 24 hours (NIST SP 800-63A's limit for
            enrollment codes sent by email); at most 30 days.
        max_attempts: wrong attempts before the invite locks (1-100, default 5).
        entropy_bits: the password's minimum entropy (64-256, default 64). It can
            only be raised: lower values are refused.
        kdf: the KDF and its cost (default :data:`DEFAULT_KDF`).

    Raises:
        ValidationError: an argument is out of range (e.g. ``entropy_bits < 64``).
    """

    def __init__(
        self,
        branding: Branding,
        *,
        ttl: timedelta = timedelta(hours=24),
        max_attempts: int = 5,
        entropy_bits: int = MIN_ENTROPY_BITS,
        kdf: ScryptKdf = DEFAULT_KDF,
    ) -> None:
        """Check and keep the configuration."""
        if not isinstance(branding, Branding):
            raise ValidationError(f"branding must be a Branding, got {type(branding).__name__}")
        if not _is_instance(ttl, timedelta) or not timedelta(0) < ttl <= _MAX_TTL:
            raise ValidationError(f"ttl must be a timedelta in (0, 30 days], got {ttl!r}")
        if (
            isinstance(max_attempts, bool)
            or not _is_instance(max_attempts, int)
            or not 1 <= max_attempts <= _MAX_ATTEMPTS
        ):
            raise ValidationError(
                f"max_attempts must be an int in [1, {_MAX_ATTEMPTS}], got {max_attempts!r}"
            )
        if isinstance(entropy_bits, bool) or not isinstance(entropy_bits, int):
            raise ValidationError(f"entropy_bits must be an int, got {entropy_bits!r}")
        if not MIN_ENTROPY_BITS <= entropy_bits <= _MAX_ENTROPY_BITS:
            raise ValidationError(
                f"entropy_bits must be between {MIN_ENTROPY_BITS} and {_MAX_ENTROPY_BITS} "
                f"(it can only be raised), got {entropy_bits}"
            )
        if not isinstance(kdf, ScryptKdf):
            raise ValidationError(f"kdf must be a ScryptKdf, got {type(kdf).__name__}")
        self.branding = branding
        self.ttl = ttl
        self.max_attempts = max_attempts
        self.entropy_bits = entropy_bits
        self.kdf = kdf
        self.length = _pw.length_for_bits(entropy_bits)

    def __repr__(self) -> str:
        return (
            f"InviteIssuer(ttl={self.ttl!r}, max_attempts={self.max_attempts}, "
            f"entropy_bits={self.entropy_bits}, kdf={self.kdf!r})"
        )

    def issue(
        self,
        share: ShareRef,
        contact: ContactPerson,
        *,
        now: datetime,
        project_name: str | None = None,
        customer_name: str | None = None,
    ) -> Invite:
        """Issue an invitation for ``share`` to ``contact`` (X6, X9).

        Args:
            share: the new share (anything with ``project_id`` and ``contact_id``).
            contact: the contact person; ``email`` is where it goes, ``language``
                (``fi``/``en``/``sv``, else English) the words, ``name`` the greeting.
            now: the issue time (aware); the password expires at ``now + ttl``.
            project_name: the project's name, shown in the subject and body.
            customer_name: the customer's (company's) name, shown in the body.

        Returns:
            The password, the record to store and the email to send.

        Raises:
            ValidationError: ``now`` is naive, or the contact is not the share's.
            EmailAddressError: the contact has no valid email address (X3).
        """
        _require_aware(now, "issue()")
        if not isinstance(contact, ContactPerson):
            raise ValidationError(f"contact must be a ContactPerson, got {type(contact).__name__}")
        if contact.id != share.contact_id:
            raise ValidationError(
                f"contact {contact.id!r} is not the contact of the share "
                f"({share.project_id!r}, {share.contact_id!r})"
            )
        try:
            email = normalize_email(contact.email)
        except EmailAddressError as exc:
            raise EmailAddressError(
                exc.address, f"email of contact {contact.id!r}: {exc.reason}"
            ) from exc
        symbols = _pw.generate(self.length)
        password = OneTimePassword(symbols)
        salt = secrets.token_bytes(_SALT_BYTES)
        record = InviteRecord(
            id=secrets.token_urlsafe(16),
            project_id=share.project_id,
            contact_id=share.contact_id,
            email=email,
            issued_at=now,
            expires_at=now + self.ttl,
            kdf=self.kdf,
            salt=salt,
            hash=self.kdf.derive(symbols.encode("ascii"), salt),
            max_attempts=self.max_attempts,
        )
        from severa_ext.extranet._invite_message import MessageFacts, build_message

        facts = MessageFacts(
            invite_id=record.id,
            name=contact.name,
            email=email,
            language=contact.language,
            password=password.reveal(),
            issued_at=now,
            expires_at=record.expires_at,
            project_name=project_name,
            customer_name=customer_name,
        )
        return Invite(password=password, record=record, message=build_message(self.branding, facts))


# --- verifying ----------------------------------------------------------------------


def verify(record: InviteRecord, candidate: str, now: datetime) -> InviteRecord:
    """Check ``candidate`` against ``record`` at ``now``; single use, constant time.

    The KDF always runs, whatever the record's state, and the outputs are compared
    with ``hmac.compare_digest``, so timing tells nothing about the password or the
    state. A record that is revoked, used, locked or expired (checked in that order)
    refuses without looking at the result, so a refused record is never an oracle.

    Args:
        record: the stored record.
        candidate: what the person typed (case, spaces and dashes are ignored).
        now: the current time (aware).

    Returns:
        The updated record (``used_at=now``): store it, the password never works again.

    Raises:
        InviteRevoked: superseded, share stopped or email changed.
        InviteUsed: the password was already accepted once.
        InviteLocked: too many wrong attempts.
        InviteExpired: ``now`` is at or after ``expires_at``.
        WrongPassword: no match; ``exc.record`` counts the failure and must be stored,
            ``exc.attempts_left`` says how many tries remain (0: now locked).
        ValidationError: ``candidate`` is not a str or ``now`` is naive.

    Every :class:`~severa_ext.errors.InviteError` carries ``record``: the record as it
    must now be stored (unchanged except for :class:`~severa_ext.errors.WrongPassword`).
    """
    if not isinstance(record, InviteRecord):
        raise ValidationError(f"record must be an InviteRecord, got {type(record).__name__}")
    if not isinstance(candidate, str):
        raise ValidationError(f"candidate must be a str, got {type(candidate).__name__}")
    _require_aware(now, "verify()")
    symbols = _pw.canonical(candidate)
    derived = record.kdf.derive((symbols or "").encode("ascii"), record.salt)
    matches = hmac.compare_digest(derived, record.hash) and symbols is not None
    state = record.state(now)
    if state is InviteState.REVOKED:
        raise InviteRevoked(
            f"invite {record.id!r} was revoked ({record.revoked_reason})", record=record
        )
    if state is InviteState.USED:
        raise InviteUsed(f"invite {record.id!r} was already used", record=record)
    if state is InviteState.LOCKED:
        raise InviteLocked(
            f"invite {record.id!r} is locked after {record.failed_attempts} wrong attempts",
            record=record,
        )
    if state is InviteState.EXPIRED:
        raise InviteExpired(
            f"invite {record.id!r} expired at {record.expires_at.isoformat()}", record=record
        )
    if matches:
        return record._next(used_at=now)
    failed = record._next(failed_attempts=record.failed_attempts + 1)
    raise WrongPassword(
        f"wrong one-time password for invite {record.id!r} ({failed.attempts_left} attempts left)",
        attempts_left=failed.attempts_left,
        record=failed,
    )


# --- storing ------------------------------------------------------------------------


@runtime_checkable
class InviteStore(Protocol):
    """Where invite records live. Implementations must make ``save`` atomic."""

    def add(self, record: InviteRecord) -> tuple[InviteRecord, ...]:
        """Store a new record; earlier open records of the same share become revoked
        (``SUPERSEDED`` at ``record.issued_at``). Returns those superseded records.

        Raises:
            ValidationError: a record with that id exists already.
        """
        ...

    def get(self, invite_id: str) -> InviteRecord:
        """The record with ``invite_id``.

        Raises:
            InviteNotFound: no such record.
        """
        ...

    def save(self, record: InviteRecord, *, expected_version: int) -> None:
        """Replace the stored record of ``record.id``, atomically, if unchanged.

        Optimistic locking, the convention of :meth:`ShareStore.save
        <severa_ext.extranet.shares.ShareStore.save>`: ``expected_version`` is the
        version of the record the caller read and ``record.version`` is
        ``expected_version + 1``. A SQL store does
        ``UPDATE ... WHERE id = ? AND version = ?`` and raises when no row matched.
        New records go in through :meth:`add`.

        Raises:
            InviteConflict: the stored version is not ``expected_version``; nothing
                is written.
            InviteNotFound: no record with that id was ever added.
            ValidationError: ``record.version`` is not ``expected_version + 1``.
        """
        ...

    def revoke_share(
        self, project_id: str, contact_id: str, *, reason: RevokeReason, now: datetime
    ) -> tuple[InviteRecord, ...]:
        """Revoke the share's records that are open at ``now``; return them revoked."""
        ...

    def revoke_contact(
        self, contact_id: str, *, reason: RevokeReason, now: datetime
    ) -> tuple[InviteRecord, ...]:
        """Revoke the contact's records (any project) open at ``now``; return them."""
        ...

    def list_open(
        self,
        now: datetime,
        *,
        project_id: str | None = None,
        contact_id: str | None = None,
        email: str | None = None,
    ) -> tuple[InviteRecord, ...]:
        """Records open at ``now``, oldest first (by ``issued_at``, then ``id``).

        Each filter given must match: ``project_id``, ``contact_id``, and ``email``
        (compared exactly with ``record.email``, the address as
        :func:`severa_ext.domain.normalize_email` returned it; the login by address,
        X9, looks records up this way, so a SQL store indexes that column).
        """
        ...


class MemoryInviteStore:
    """The in-memory :class:`InviteStore`: a thread-safe dict keyed by invite id."""

    def __init__(self, records: Iterable[InviteRecord] = ()) -> None:
        """Create a store, optionally holding ``records`` (as given, no superseding)."""
        self._lock = threading.Lock()
        self._records: dict[str, InviteRecord] = {}
        for record in records:
            self._records[record.id] = record

    def add(self, record: InviteRecord) -> tuple[InviteRecord, ...]:
        """Store a new record, superseding the open ones of the same share."""
        with self._lock:
            if record.id in self._records:
                raise ValidationError(f"an invite with id {record.id!r} is already stored")
            superseded = self._revoke_where(
                lambda r: r.share_key == record.share_key,
                RevokeReason.SUPERSEDED,
                record.issued_at,
            )
            self._records[record.id] = record
            return superseded

    def get(self, invite_id: str) -> InviteRecord:
        """The record with ``invite_id`` (:class:`~severa_ext.errors.InviteNotFound`)."""
        with self._lock:
            try:
                return self._records[invite_id]
            except KeyError:
                raise InviteNotFound(invite_id) from None

    def save(self, record: InviteRecord, *, expected_version: int) -> None:
        """Replace a record if its stored version is still ``expected_version``."""
        if not isinstance(record, InviteRecord):
            raise ValidationError(f"MemoryInviteStore.save needs an InviteRecord, got {record!r}")
        check_next_version(record.version, expected_version, what=f"invite {record.id!r}")
        with self._lock:
            current = self._records.get(record.id)
            if current is None:
                raise InviteNotFound(record.id)
            if current.version != expected_version:
                raise InviteConflict(
                    record.id, expected_version=expected_version, actual_version=current.version
                )
            self._records[record.id] = record

    def revoke_share(
        self, project_id: str, contact_id: str, *, reason: RevokeReason, now: datetime
    ) -> tuple[InviteRecord, ...]:
        """Revoke the share's open records."""
        with self._lock:
            return self._revoke_where(
                lambda r: r.share_key == (project_id, contact_id), reason, now
            )

    def revoke_contact(
        self, contact_id: str, *, reason: RevokeReason, now: datetime
    ) -> tuple[InviteRecord, ...]:
        """Revoke the contact's open records in every project."""
        with self._lock:
            return self._revoke_where(lambda r: r.contact_id == contact_id, reason, now)

    def list_open(
        self,
        now: datetime,
        *,
        project_id: str | None = None,
        contact_id: str | None = None,
        email: str | None = None,
    ) -> tuple[InviteRecord, ...]:
        """Records open at ``now`` matching every filter given, oldest first."""
        with self._lock:
            found = [
                r
                for r in self._records.values()
                if r.is_open(now)
                and (project_id is None or r.project_id == project_id)
                and (contact_id is None or r.contact_id == contact_id)
                and (email is None or r.email == email)
            ]
        return tuple(sorted(found, key=lambda r: (r.issued_at, r.id)))

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __repr__(self) -> str:
        return f"MemoryInviteStore({len(self)} records)"

    def _revoke_where(
        self, match: Any, reason: RevokeReason, now: datetime
    ) -> tuple[InviteRecord, ...]:
        revoked = []
        for record in sorted(self._records.values(), key=lambda r: (r.issued_at, r.id)):
            if match(record) and record.is_open(now):
                updated = record.revoked(reason, now)
                self._records[record.id] = updated
                revoked.append(updated)
        return tuple(revoked)


_CAS_ROUNDS = 8


def _saved(store: InviteStore, record: InviteRecord, read: InviteRecord) -> bool:
    """Save ``record`` over ``read``; ``False`` when another writer came first."""
    try:
        store.save(record, expected_version=read.version)
    except InviteConflict:
        return False
    return True


def verify_stored(
    store: InviteStore, invite_id: str, candidate: str, now: datetime
) -> InviteRecord:
    """Load, :func:`verify` and save an invite; concurrent logins cannot both succeed.

    The updated record (used, or one more failure) is saved with compare-and-swap
    against the record that was verified; if another request changed it in between,
    the check runs again on the fresh record, so the password is accepted at most once
    and every wrong attempt is counted.

    Returns:
        The stored, used record.

    Raises:
        InviteNotFound: no invite with ``invite_id``.
        InviteError: the refusal from :func:`verify` (already saved).
    """
    for _ in range(_CAS_ROUNDS):
        record = store.get(invite_id)
        try:
            updated = verify(record, candidate, now)
        except WrongPassword as exc:
            if _saved(store, exc.record, record):
                raise
            continue
        if _saved(store, updated, record):
            return updated
    raise InviteError(f"invite {invite_id!r} keeps changing; try again", record=None)


# --- the audited combination -----------------------------------------------------------


class InviteAuditKind(enum.StrEnum):
    """Audit event kinds recorded by :class:`Inviter` (``AuditEvent.kind``)."""

    ISSUED = "invite_issued"
    USED = "invite_used"
    FAILED = "invite_failed"
    REFUSED = "invite_refused"
    REVOKED = "invite_revoked"


@attrs.define
class Inviter:
    """An issuer, a store and an optional audit log: what the share service uses.

    Audit events name the invite id and the outcome, never the password or the email.

    Attributes:
        issuer: issues the invitations.
        store: keeps the records.
        audit: receives an event for each issue, use, failure and revocation.
    """

    issuer: InviteIssuer
    store: InviteStore
    audit: AuditLog | None = None

    def invite(
        self,
        share: ShareRef,
        contact: ContactPerson,
        *,
        now: datetime,
        actor: str,
        project_name: str | None = None,
        customer_name: str | None = None,
    ) -> Invite:
        """Issue and store an invitation; earlier open ones of the share are superseded.

        Args:
            share: the share (``project_id``, ``contact_id``).
            contact: the contact person (email, language, name).
            now: the service's current time.
            actor: who caused it (a host user id), for the audit trail.
            project_name: shown in the message.
            customer_name: shown in the message.

        Returns:
            The :class:`Invite` to deliver (its record is already stored).
        """
        invite = self.issuer.issue(
            share, contact, now=now, project_name=project_name, customer_name=customer_name
        )
        self.add(invite, actor=actor)
        return invite

    def add(self, invite: Invite, *, actor: str) -> tuple[InviteRecord, ...]:
        """Store an invite issued earlier by :attr:`issuer` and audit it.

        Issuing is pure and storing is not: a caller that must save something else
        first (the share service saves the share) issues, saves, then adds.

        Returns:
            The earlier records of the same share that are now superseded.
        """
        now = invite.record.issued_at
        superseded = self.store.add(invite.record)
        for record in superseded:
            self._event(record, InviteAuditKind.REVOKED, actor, now, str(record.revoked_reason))
        self._event(invite.record, InviteAuditKind.ISSUED, actor, now, "")
        return superseded

    def verify(self, invite_id: str, candidate: str, *, now: datetime) -> InviteRecord:
        """:func:`verify_stored`, with an audit event for the outcome.

        Raises:
            InviteError: as :func:`verify_stored`; hosts show one generic message.
        """
        try:
            record = verify_stored(self.store, invite_id, candidate, now)
        except WrongPassword as exc:
            self._event(
                exc.record, InviteAuditKind.FAILED, None, now, f"attempts_left={exc.attempts_left}"
            )
            raise
        except InviteError as exc:
            if isinstance(exc.record, InviteRecord):
                self._event(
                    exc.record, InviteAuditKind.REFUSED, None, now, exc.record.state(now).value
                )
            raise
        self._event(record, InviteAuditKind.USED, None, now, "")
        return record

    def revoke_share(
        self,
        project_id: str,
        contact_id: str,
        *,
        now: datetime,
        actor: str,
        reason: RevokeReason = RevokeReason.SHARE_STOPPED,
    ) -> tuple[InviteRecord, ...]:
        """Make the share's open invites unusable (X8 stop); return them."""
        revoked = self.store.revoke_share(project_id, contact_id, reason=reason, now=now)
        for record in revoked:
            self._event(record, InviteAuditKind.REVOKED, actor, now, str(reason))
        return revoked

    def revoke_contact(
        self,
        contact_id: str,
        *,
        now: datetime,
        actor: str,
        reason: RevokeReason = RevokeReason.EMAIL_CHANGED,
    ) -> tuple[InviteRecord, ...]:
        """Make the contact's open invites unusable (e.g. the email changed)."""
        revoked = self.store.revoke_contact(contact_id, reason=reason, now=now)
        for record in revoked:
            self._event(record, InviteAuditKind.REVOKED, actor, now, str(reason))
        return revoked

    def contact_changed(
        self, contact: ContactPerson, *, now: datetime, actor: str
    ) -> tuple[InviteRecord, ...]:
        """Revoke the contact's open invites that were sent to another address.

        Call it when a contact's card changes: invites sent to the address the card
        still holds stay valid; those sent to an address it no longer holds (or when
        it holds none that is valid) become unusable with ``EMAIL_CHANGED``.

        Returns:
            The revoked records.
        """
        try:
            current: str | None = normalize_email(contact.email)
        except EmailAddressError:
            current = None
        revoked = []
        for found in self.store.list_open(now, contact_id=contact.id):
            for _ in range(_CAS_ROUNDS):  # re-read if a login changed it meanwhile
                record = self.store.get(found.id)
                if record.email == current or not record.is_open(now):
                    break
                updated = record.revoked(RevokeReason.EMAIL_CHANGED, now)
                if _saved(self.store, updated, record):
                    revoked.append(updated)
                    self._event(updated, InviteAuditKind.REVOKED, actor, now, "email-changed")
                    break
        return tuple(revoked)

    def _event(
        self,
        record: InviteRecord,
        kind: InviteAuditKind,
        actor: str | None,
        now: datetime,
        detail: str,
    ) -> None:
        if self.audit is None:
            return
        words = f"invite {record.id}" + (f"; {detail}" if detail else "")
        self.audit.append(
            AuditEvent(
                actor=actor or record.contact_id,
                at=now,
                project_id=record.project_id,
                contact_id=record.contact_id,
                kind=kind.value,
                detail=words,
            )
        )
