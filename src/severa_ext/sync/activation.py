"""Turning calendar sync on and off for a user (S1, S2, S4, S5, S10).

The rules are pure: :func:`check_activation` takes the organisation settings, the
acting and target users, the mailbox address, the user's confirmation and the result
of a mailbox probe, and either returns or raises
:class:`~severa_ext.errors.ActivationError` with a stable ``reason`` code:

=====================  =========================================================
``addon-inactive``     the organisation has not activated the sync add-on (S1)
``settings-missing``   organisation settings are not saved or incomplete (S1, S8)
``not-self``           someone else (an admin too) tried to turn it on (S2)
``not-confirmed``      the user did not confirm the account matches their email (S10)
``unknown-user``       the mailbox address is not a user of the tenant
``no-mailbox``         no mailbox licensed for the calendar API, or on-premises (S4)
``access-denied``      the application was not granted access to this mailbox
``bad-credentials``    the organisation's credentials are refused
``bookings``           a Microsoft Bookings calendar, which is not supported (S4)
``room-mailbox``       a room or equipment (resource) mailbox, not a user's (S4)
``shared-mailbox``     a shared mailbox, not a user's own (S4)
``ews-disabled``       EWS is switched off on the server or for the mailbox
``unavailable``        the server could not be reached; try again later
``email-mismatch``     the mailbox's addresses do not include the user's email (S5, S10)
=====================  =========================================================

:class:`ActivationService` is the small I/O shell: it probes the mailbox through the
backend (``GraphBackend.probe``), applies the rules and stores the result.
Turning sync off is always allowed and keeps the error journal.

Settings that do not stop a sync but should be fixed are warnings, not refusals:
:func:`settings_warnings` (a Personal type Severa does not have: private entries get
the default type, S9), journaled when a user turns sync on.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Protocol

import attrs

from severa_ext.clock import Clock
from severa_ext.domain import User
from severa_ext.errors import ActivationError, BackendError
from severa_ext.sync.journal import JournalEntry
from severa_ext.sync.policy import personal_fallback
from severa_ext.sync.state import StateStore

__all__ = [
    "Activation",
    "ActivationService",
    "ActivationStore",
    "MailboxProbe",
    "MailboxProber",
    "MemoryActivationStore",
    "OrganisationSettings",
    "PolicyLike",
    "ProbeStatus",
    "ServerKind",
    "addresses_match",
    "check_activation",
    "normalize_address",
    "settings_warnings",
]


class ServerKind(enum.Enum):
    """Which calendar server the organisation uses (S8)."""

    GRAPH = "graph"
    EWS = "ews"
    ICS = "ics"


class ProbeStatus(enum.Enum):
    """What probing a mailbox found."""

    OK = "ok"
    UNKNOWN_USER = "unknown-user"
    NO_MAILBOX = "no-mailbox"
    ACCESS_DENIED = "access-denied"
    BAD_CREDENTIALS = "bad-credentials"
    BOOKINGS = "bookings"
    ROOM_MAILBOX = "room-mailbox"
    SHARED_MAILBOX = "shared-mailbox"
    EWS_DISABLED = "ews-disabled"
    UNAVAILABLE = "unavailable"


def _as_tuple(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@attrs.frozen
class MailboxProbe:
    """The result of probing a mailbox through a backend.

    Attributes:
        mailbox: the address that was probed.
        status: what was found.
        addresses: the mailbox's primary address and its proxy addresses / aliases.
        detail: the server's explanation (for the user and support).
        code: the server's error code, if any (e.g. ``MailboxNotEnabledForRESTAPI``).
    """

    mailbox: str
    status: ProbeStatus
    addresses: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)
    detail: str = ""
    code: str | None = None


class MailboxProber(Protocol):
    """Anything that can probe a mailbox (the Graph backend's ``probe``)."""

    def __call__(self, mailbox: str) -> MailboxProbe:
        """Probe ``mailbox``."""
        ...


class PolicyLike(Protocol):
    """The shape of ``severa_ext.sync.policy.SyncPolicy`` that activation checks."""

    @property
    def outgoing_types(self) -> frozenset[str]:
        """Activity types sent to the calendar (S8)."""
        ...

    @property
    def default_type(self) -> str | None:
        """The type incoming entries get (S9)."""
        ...

    @property
    def personal_type(self) -> str | None:
        """The type private entries get, if configured (S9)."""
        ...


@attrs.frozen
class OrganisationSettings:
    """Organisation-level sync settings (S1, S8).

    Attributes:
        addon_active: the organisation activated the calendar-sync add-on.
        server_kind: the calendar server; ``None`` until saved.
        credentials_ref: the name under which the host keeps the credentials (never
            the secret itself); ``None`` until saved.
        policy: the sync policy (outgoing types, default and Personal types).
    """

    addon_active: bool = False
    server_kind: ServerKind | None = None
    credentials_ref: str | None = None
    policy: PolicyLike | None = None

    def missing(self) -> tuple[str, ...]:
        """Names of the settings that are not saved yet (empty when complete)."""
        missing = []
        if self.server_kind is None:
            missing.append("server kind")
        if not self.credentials_ref:
            missing.append("credentials")
        if self.policy is None:
            missing.append("sync policy")
        elif not str(self.policy.default_type or "").strip():
            missing.append("default activity type")
        return tuple(missing)


@attrs.frozen
class Activation:
    """A user's sync, turned on.

    Attributes:
        user_id: whose sync it is.
        mailbox: the calendar account (as the user typed it).
        server_kind: the server it syncs with.
        activated_at: when the user turned it on.
    """

    user_id: str
    mailbox: str
    server_kind: ServerKind
    activated_at: datetime


def normalize_address(address: str) -> str:
    """An address as compared: no ``smtp:``/``SMTP:`` prefix, no blanks, lower case.

    >>> normalize_address(" SMTP:Alice@Example.COM ")
    'alice@example.com'
    """
    text = address.strip()
    if text[:5].lower() == "smtp:":
        text = text[5:]
    return text.strip().lower()


def addresses_match(email: str, mailbox: str, aliases: Iterable[str] = ()) -> bool:
    """True when ``email`` names the mailbox: its address or any proxy address (S5).

    >>> addresses_match("alice@contoso.fi", "alice@contoso.com", ["smtp:alice@contoso.fi"])
    True
    """
    wanted = normalize_address(email)
    known = {normalize_address(mailbox)} | {normalize_address(a) for a in aliases}
    return bool(wanted) and wanted in known


_PROBE_REASONS = {
    ProbeStatus.UNKNOWN_USER: ("unknown-user", "the tenant has no user with this address"),
    ProbeStatus.NO_MAILBOX: (
        "no-mailbox",
        "the user has no mailbox licensed for the calendar API (Exchange Online), or the "
        "mailbox is still on-premises (S4)",
    ),
    ProbeStatus.ACCESS_DENIED: (
        "access-denied",
        "the organisation's application was not granted access to this mailbox; an "
        "administrator must add it to the application access policy",
    ),
    ProbeStatus.BAD_CREDENTIALS: (
        "bad-credentials",
        "the organisation's calendar credentials were refused; an administrator must fix "
        "the settings",
    ),
    ProbeStatus.BOOKINGS: (
        "bookings",
        "this is a Microsoft Bookings calendar, which cannot be synced (S4)",
    ),
    ProbeStatus.ROOM_MAILBOX: (
        "room-mailbox",
        "this is a room or equipment mailbox, not a user's own calendar; a user syncs "
        "their own mailbox (S4)",
    ),
    ProbeStatus.SHARED_MAILBOX: (
        "shared-mailbox",
        "this is a shared mailbox, not a user's own calendar; a user syncs their own mailbox (S4)",
    ),
    ProbeStatus.EWS_DISABLED: (
        "ews-disabled",
        "Exchange Web Services are switched off on the server or for this mailbox; an "
        "Exchange administrator must enable EWS (Set-CASMailbox -EwsEnabled $true) or "
        "check the EWS virtual directory",
    ),
    ProbeStatus.UNAVAILABLE: ("unavailable", "the calendar server could not be reached"),
}


def _check_before_probe(
    settings: OrganisationSettings, acting_user: User, target_user: User, *, confirmed: bool
) -> None:
    if not settings.addon_active:
        raise ActivationError(
            "calendar sync is not activated for the organisation (S1)", reason="addon-inactive"
        )
    missing = settings.missing()
    if missing:
        raise ActivationError(
            f"organisation sync settings are not saved: missing {', '.join(missing)} (S1)",
            reason="settings-missing",
        )
    if acting_user.id != target_user.id:
        raise ActivationError(
            f"user {acting_user.id!r} cannot turn on sync for user {target_user.id!r}: "
            "only users themselves can (S2)",
            reason="not-self",
        )
    if not confirmed:
        raise ActivationError(
            "confirm that the calendar account's user name is your own email address (S10)",
            reason="not-confirmed",
        )


def check_activation(
    settings: OrganisationSettings,
    acting_user: User,
    target_user: User,
    mailbox: str,
    *,
    confirmed: bool,
    probe: MailboxProbe | None,
) -> None:
    """Check every rule for turning sync on; return quietly or raise.

    Args:
        settings: the organisation settings.
        acting_user: who clicks the toggle.
        target_user: whose sync is turned on.
        mailbox: the calendar account address.
        confirmed: the user confirmed that the account is their own email (S10).
        probe: the backend's probe of ``mailbox``; ``None`` checks only the rules that
            need no probe (the service calls this first, then probes).

    Raises:
        ActivationError: with one of the ``reason`` codes of this module.
    """
    _check_before_probe(settings, acting_user, target_user, confirmed=confirmed)
    if probe is None:
        return
    if probe.status is not ProbeStatus.OK:
        reason, text = _PROBE_REASONS[probe.status]
        detail = f" ({probe.detail})" if probe.detail else ""
        raise ActivationError(f"mailbox {mailbox!r}: {text}{detail}", reason=reason)
    if not addresses_match(target_user.email, mailbox, probe.addresses):
        raise ActivationError(
            f"mailbox {mailbox!r} does not belong to {target_user.email!r}: neither its "
            "address nor its aliases match the user's email (S5, S10)",
            reason="email-mismatch",
        )


def settings_warnings(
    settings: OrganisationSettings, known_types: Collection[str]
) -> tuple[str, ...]:
    """What in the settings does not stop a sync but should be fixed (S9).

    A Personal type that is not among ``known_types`` (the ids of the activity types
    Severa accepts) is one: private calendar entries then get the default type, so
    nothing is lost, but the organisation meant something else.

    >>> from severa_ext.sync.policy import SyncPolicy
    >>> policy = SyncPolicy(default_type="meeting", personal_type="holiday")
    >>> settings_warnings(OrganisationSettings(policy=policy), {"meeting"})[0][:30]
    "personal type 'holiday' is not"
    """
    policy = settings.policy
    if policy is None:
        return ()
    warning = personal_fallback(policy.personal_type, policy.default_type, known_types)
    return (warning,) if warning else ()


class ActivationStore(Protocol):
    """Where the host keeps which users have sync on."""

    def get(self, user_id: str) -> Activation | None:
        """The user's activation, if sync is on."""
        ...

    def put(self, activation: Activation) -> None:
        """Record that sync is on."""
        ...

    def remove(self, user_id: str) -> None:
        """Record that sync is off (a no-op if it was off)."""
        ...

    def active(self, *, after: str | None = None, limit: int | None = None) -> list[Activation]:
        """The users whose sync is on, ordered by ``user_id`` (what a runner syncs).

        Args:
            after: only users whose id sorts after this one (the last id of the
                previous page: keyset paging).
            limit: at most this many (``None``: all).
        """
        ...


class MemoryActivationStore:
    """An in-memory :class:`ActivationStore` (tests and examples)."""

    def __init__(self) -> None:
        self._items: dict[str, Activation] = {}

    def __repr__(self) -> str:
        return f"MemoryActivationStore(active={len(self._items)})"

    def get(self, user_id: str) -> Activation | None:
        """The user's activation, if sync is on."""
        return self._items.get(user_id)

    def put(self, activation: Activation) -> None:
        """Record that sync is on."""
        self._items[activation.user_id] = activation

    def remove(self, user_id: str) -> None:
        """Record that sync is off."""
        self._items.pop(user_id, None)

    def active(self, *, after: str | None = None, limit: int | None = None) -> list[Activation]:
        """The users whose sync is on, ordered by ``user_id``, after ``after``."""
        ids = sorted(u for u in self._items if after is None or u > after)
        return [self._items[u] for u in ids[:limit]]


class ActivationService:
    """Turns a user's sync on (after every check) and off (always).

    Args:
        settings: the organisation settings (or a callable returning the current ones).
        prober: probes a mailbox, e.g. ``GraphBackend.probe``.
        store: where activations are kept.
        clock: the time source.
        journal: where refusals and switches are recorded (a ``StateStore``); the
            journal is never cleared by turning sync off.
        activity_types: returns the ids of the activity types Severa accepts (e.g.
            ``SeveraBackend.activity_type_ids``); when given, turning sync on journals
            :func:`settings_warnings` as warnings and :meth:`warnings` reports them.
    """

    def __init__(
        self,
        settings: OrganisationSettings | Callable[[], OrganisationSettings],
        prober: MailboxProber,
        store: ActivationStore,
        *,
        clock: Clock,
        journal: StateStore | None = None,
        activity_types: Callable[[], Collection[str]] | None = None,
    ) -> None:
        self._settings = settings
        self._activity_types = activity_types
        self._prober = prober
        self._store = store
        self._clock = clock
        self._journal = journal

    def __repr__(self) -> str:
        return f"ActivationService(store={self._store!r})"

    def settings(self) -> OrganisationSettings:
        """The current organisation settings."""
        return self._settings() if callable(self._settings) else self._settings

    def warnings(self) -> tuple[str, ...]:
        """What the settings should fix though sync works (S9, :func:`settings_warnings`);
        empty without ``activity_types``."""
        if self._activity_types is None:
            return ()
        return settings_warnings(self.settings(), self._activity_types())

    def _note(self, user_id: str, operation: str, message: str, level: str) -> None:
        if self._journal is not None:
            self._journal.record(
                JournalEntry(
                    time=self._clock.now(),
                    pair_id=f"user:{user_id}",
                    operation=operation,
                    message=message,
                    user_id=user_id,
                    level=level,
                )
            )

    def activate(
        self, acting_user: User, target_user: User, mailbox: str, *, confirmed: bool
    ) -> Activation:
        """Turn sync on for ``target_user`` with ``mailbox``.

        Rules that need no server are checked first; only then is the mailbox probed.

        Raises:
            ActivationError: a rule refused (see the module's reason codes).
        """
        settings = self.settings()
        try:
            check_activation(
                settings, acting_user, target_user, mailbox, confirmed=confirmed, probe=None
            )
            probe = self._prober(mailbox)
            check_activation(
                settings, acting_user, target_user, mailbox, confirmed=confirmed, probe=probe
            )
        except ActivationError as exc:
            self._note(target_user.id, "activate", str(exc), "warning")
            raise
        assert settings.server_kind is not None  # checked by check_activation
        activation = Activation(
            user_id=target_user.id,
            mailbox=mailbox.strip(),
            server_kind=settings.server_kind,
            activated_at=self._clock.now(),
        )
        self._store.put(activation)
        self._note(target_user.id, "activate", f"sync turned on for {mailbox.strip()}", "info")
        try:
            warnings = self.warnings()
        except BackendError as exc:  # sync is on; the check of the types waits
            warnings = (f"the activity types could not be read to check the settings: {exc}",)
        for warning in warnings:
            self._note(target_user.id, "settings", warning, "warning")
        return activation

    def deactivate(self, acting_user: User, target_user: User) -> None:
        """Turn sync off; always allowed, even when the add-on or settings are gone.

        The journal is kept so support can still read what happened (S6).
        """
        was_on = self._store.get(target_user.id) is not None
        self._store.remove(target_user.id)
        if was_on:
            self._note(
                target_user.id, "deactivate", f"sync turned off by user {acting_user.id}", "info"
            )

    def is_active(self, user_id: str) -> bool:
        """True when the user's sync is on."""
        return self._store.get(user_id) is not None
