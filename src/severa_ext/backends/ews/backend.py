"""The EWS backend: one mailbox's calendar on on-premises Exchange (S5, S7).

Requests are SOAP documents built with ``xml.etree.ElementTree`` and sent by
:class:`~severa_ext.backends.ews._transport.EwsTransport` with a timeout on every
call; responses are parsed with ``defusedxml`` only. Pointing this backend at Exchange
Online (where EWS is retired) raises a :class:`~severa_ext.errors.ConfigError` that
names ``severa_ext.backends.graph``.

Reading uses ``SyncFolderItems`` on the calendar folder with the stored ``SyncState``
as the cursor, ``GetItem`` for details and ``FindItem`` with a ``CalendarView`` to
expand recurring series into the occurrences inside the window. Writes never send
invitations or cancellations, stamp the engine's sync key in an extended property
and carry the ChangeKey, so a stale write is a
:class:`~severa_ext.errors.VersionConflict`, never a lost update.

Nothing the server sends is trusted: answers are read through
:mod:`severa_ext.backends._http` under the backend's ``HttpLimits`` (body size after
decompression, a total deadline per call, pages per round), redirects are never
followed (they would carry the credentials elsewhere), and a ``SyncState`` that keeps
changing without bringing changes ends the round with
:class:`~severa_ext.errors.MalformedResponse`. The backend never sleeps and never
retries (bar one fresh OAuth token after a 401): ``ErrorServerBusy`` is
:class:`~severa_ext.errors.Throttled` with the server's ``BackOffMilliseconds``, and the
engine decides when to try again. Basic credentials and bearer tokens are refused over
plain ``http`` (a :class:`~severa_ext.errors.ConfigError` naming the URL), except for a
loopback test server with ``allow_loopback_http=True``.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import attrs
import requests

from severa_ext.backends._cursor import JsonCursor
from severa_ext.backends._http import HttpLimits
from severa_ext.backends._tokens import TokenProvider
from severa_ext.backends.base import CreateOp, DeleteOp, UpdateOp, WriteOp, WriteResult
from severa_ext.backends.ews._auth import (
    BearerAuth,
    refuse_plain_http,
)
from severa_ext.backends.ews._reading import (
    CalendarReader,
    InvalidSyncState,
    distinguished,
    single,
)
from severa_ext.backends.ews._transport import EwsTransport
from severa_ext.backends.ews._writing import CalendarWriter
from severa_ext.backends.ews._xml import (
    m,
    sub,
    t,
)
from severa_ext.domain import normalize_email
from severa_ext.errors import (
    AuthError,
    BackendError,
    ConfigError,
    EmailAddressError,
    NotFound,
    ValidationError,
)
from severa_ext.sync.activation import MailboxProbe, ProbeStatus
from severa_ext.sync.items import CalendarItem, Capabilities, ChangeSet, Window

__all__ = ["EXCHANGE_ONLINE_HOSTS", "EwsBackend", "EwsCursor"]

logger = logging.getLogger(__name__)


EXCHANGE_ONLINE_HOSTS = frozenset(
    {"outlook.office365.com", "outlook.office.com", "outlook.office365.us", "partner.outlook.cn"}
)
"""Hosts of Exchange Online, where EWS is retired (the Graph backend serves them)."""

_BACKEND = "ews"
_WRITE_BATCH = 20  # writes per apply_batch chunk (and Capabilities.batch_size)
_W = TypeVar("_W", CreateOp, UpdateOp, DeleteOp)


@attrs.frozen
class EwsCursor(JsonCursor):
    """The stored cursor: the window it was listed for and the folder's ``SyncState``.

    A ``SyncState`` does not know the window; a cursor for another window gives a full
    listing, so items that slid into the window are never missed.
    """

    kind: ClassVar[str] = "an EWS cursor"

    start: datetime
    end: datetime
    sync_state: str


class EwsBackend:
    """The calendar of one mailbox on an on-premises Exchange server, through EWS.

    Args:
        url: the EWS endpoint, e.g. ``https://mail.contoso.com/EWS/Exchange.asmx``.
        mailbox: the primary SMTP address of the user's mailbox.
        auth: ``requests`` credentials: :func:`basic_auth`, :func:`ntlm_auth`, or any
            ``requests.auth.AuthBase``. Exclusive with ``token_provider``.
        token_provider: a :class:`~severa_ext.backends.graph.TokenProvider` for OAuth bearer tokens
            (:func:`msal_token_provider`), for servers with modern auth. A refused
            token is invalidated and the call retried once.
        impersonate: send the ``ExchangeImpersonation`` header, so the delegate
            account (with the ApplicationImpersonation role, S7) acts as the mailbox.
        session: the ``requests.Session`` to use (the backend makes one if ``None``,
            and closes only one it made).
        server_version: the ``RequestServerVersion`` header.
        timeout: seconds for connecting and for each socket read.
        page_size: ``MaxChangesReturned`` of ``SyncFolderItems`` (1 to 512).
        limits: what an answer may be (body bytes, total seconds per call, pages per
            round); ``HttpLimits()`` by default.
        allow_loopback_http: accept Basic credentials or bearer tokens over plain
            ``http`` when the host is a loopback address (``127.0.0.1``, ``::1``,
            ``localhost``): for test servers such as
            :class:`~severa_ext.testing.ews_server.FakeEwsServer`, never for a real one.

    Raises:
        ConfigError: the URL is not http(s), carries credentials or points to
            Exchange Online; Basic credentials or a token would travel over plain
            ``http``; the mailbox is not an address (:func:`severa_ext.domain.normalize_email`);
            both ``auth`` and ``token_provider`` were given.
    """

    def __init__(
        self,
        url: str,
        mailbox: str,
        *,
        auth: requests.auth.AuthBase | None = None,
        token_provider: TokenProvider | None = None,
        impersonate: bool = True,
        session: requests.Session | None = None,
        server_version: str = "Exchange2016",
        timeout: float = 30.0,
        page_size: int = 512,
        limits: HttpLimits | None = None,
        allow_loopback_http: bool = False,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(f"EWS url {url!r} is not an http(s) URL")
        if parts.hostname.lower() in EXCHANGE_ONLINE_HOSTS:
            raise ConfigError(
                f"EWS url {url!r} is Exchange Online, where Microsoft is retiring EWS "
                "(shutdown began 1 October 2026); use severa_ext.backends.graph "
                "(Microsoft Graph) for Exchange Online mailboxes. The EWS backend is "
                "for on-premises Exchange Server."
            )
        try:
            normalize_email(mailbox)
        except EmailAddressError as exc:
            raise ConfigError(f"EWS mailbox {mailbox!r} is not an SMTP address: {exc}") from exc
        if parts.username or parts.password:
            raise ConfigError(
                "EWS url must not carry credentials; pass them with auth= (they would "
                "show in logs and errors)"
            )
        if auth is not None and token_provider is not None:
            raise ConfigError("EwsBackend takes auth or token_provider, not both")
        if not 1 <= page_size <= 512:
            raise ConfigError(f"EWS page_size {page_size} must be between 1 and 512")
        if timeout <= 0:
            raise ConfigError("EWS timeout must be positive")
        if parts.scheme == "http" and (
            isinstance(auth, requests.auth.HTTPBasicAuth) or token_provider is not None
        ):
            refuse_plain_http(url, parts.hostname, allowed=allow_loopback_http)
        self._mailbox = mailbox
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._transport = EwsTransport(
            url,
            mailbox,
            session=self._session,
            auth=BearerAuth(token_provider) if token_provider is not None else auth,
            server_version=server_version,
            impersonate=impersonate,
            timeout=timeout,
            limits=limits if limits is not None else HttpLimits(),
        )
        self._reader = CalendarReader(self._transport, page_size)
        self._writer = CalendarWriter(self._transport, self._reader, self.name)

    # --- protocol surface ------------------------------------------------------

    @property
    def name(self) -> str:
        """``"ews:<mailbox>"``."""
        return f"ews:{self._mailbox}"

    @property
    def capabilities(self) -> Capabilities:
        """Deltas through ``SyncFolderItems``; batched writes; server-side key lookup."""
        return Capabilities(delta=True, batch_size=_WRITE_BATCH, sync_key_lookup=True)

    def __repr__(self) -> str:
        return f"EwsBackend(url={self._transport.url!r}, mailbox={self._mailbox!r})"

    def __enter__(self) -> EwsBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def flush(self) -> None:
        """Nothing to buffer: every write is sent to Exchange at once (a no-op)."""

    def close(self) -> None:
        """Close the HTTP session if the backend made it."""
        if self._owns_session:
            self._session.close()

    def changes(self, cursor: str | None, window: Window) -> ChangeSet:
        """Items changed in ``window`` since ``cursor`` (an :class:`EwsCursor`).

        ``cursor=None``, a cursor taken for another window, an unreadable cursor, an
        invalid sync state (``ErrorInvalidSyncStateData``) and any change to a
        recurring series give a full listing of the window (``full=True``), so the
        engine re-links by id and sync key instead of creating duplicates (S3).
        Changed items outside the window come back in ``removed`` (the engine asks
        :meth:`get` whether they still exist).
        """
        if cursor is None:
            return self._full(window)
        try:
            stored = EwsCursor.decode(cursor)
        except ValidationError:
            logger.warning("EWS %s: unreadable cursor; listing in full", self._mailbox)
            return self._full(window)
        if (stored.start, stored.end) != (window.start, window.end):
            logger.info("EWS %s: window moved; listing in full", self._mailbox)
            return self._full(window)
        try:
            state, upserts, deletes = self._reader.sync(stored.sync_state)
        except InvalidSyncState:
            logger.warning("EWS sync state of %s is invalid; listing in full", self._mailbox)
            return self._full(window)
        parsed = self._reader.get_items(upserts)
        next_cursor = EwsCursor(window.start, window.end, state).encode()
        if any(p is not None and p.item_type == "RecurringMaster" for p in parsed.values()):
            return _change_set(self._reader.list_window(window), (), next_cursor, full=True)
        items: list[CalendarItem] = []
        removed = list(deletes)
        for item_id in upserts:
            found = parsed.get(item_id)
            if found is not None and window.contains(found.item):
                items.append(found.item)
            else:
                removed.append(item_id)
        return _change_set(items, removed, next_cursor, full=False)

    def get(self, item_id: str) -> CalendarItem | None:
        """The item with ``item_id`` in the calendar, or ``None`` if gone or deleted."""
        found = self._reader.get_items([item_id]).get(item_id)
        return found.item if found is not None else None

    def find(self, sync_key: str) -> tuple[CalendarItem, ...]:
        """Every calendar item whose sync-key extended property is ``sync_key``."""
        return self._writer.find_many([sync_key]).get(sync_key, ())

    def create(self, item: CalendarItem, sync_key: str) -> CalendarItem:
        """Create ``item`` stamped with ``sync_key`` without sending invitations.

        Idempotent per sync key: if an item with ``sync_key`` exists already (a retry
        after a lost response), that item is returned instead of a second copy (S3).

        Raises:
            BadItem: the server refused the item's content.
        """
        stored = self._one(CreateOp(item, sync_key))
        assert stored is not None
        return stored

    def update(self, item_id: str, item: CalendarItem, if_match: str | None) -> CalendarItem:
        """Give ``item_id`` the content of ``item``; ``if_match`` is the ChangeKey read last.

        The item is read first and only the fields that differ are written, compared
        through the one content value (:class:`severa_ext.sync.content.Content`; an
        unchanged item is not written at all), so properties the model does not keep
        survive. ``UpdateItem`` still carries the ChangeKey with
        ``ConflictResolution="NeverOverwrite"``, so a change in between is refused.

        Raises:
            VersionConflict: the ChangeKey is stale (``ErrorIrresolvableConflict``).
            NotFound: no such item.
            BadItem: the server refused the content.
        """
        stored = self._one(UpdateOp(item_id, item, if_match))
        assert stored is not None
        return stored

    def delete(self, item_id: str, if_match: str | None) -> None:
        """Move ``item_id`` to Deleted Items without sending cancellations.

        ``DeleteItem`` itself ignores ChangeKeys, so with ``if_match`` the current
        ChangeKey is read first and compared.

        Raises:
            VersionConflict: the ChangeKey is not ``if_match``.
            NotFound: no such item.
        """
        self._one(DeleteOp(item_id, if_match))

    def apply_batch(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Apply up to ``capabilities.batch_size`` writes in a few EWS calls.

        Creates go in one ``CreateItem`` (after one ``FindItem`` for their sync keys),
        updates in one ``UpdateItem`` per conflict mode, deletes in one ``DeleteItem``;
        each op gets its own result, in order, and a failing op does not fail the rest.
        """
        results: dict[int, WriteResult] = {}
        indexed = list(enumerate(ops))
        for offset in range(0, len(indexed), _WRITE_BATCH):
            chunk = indexed[offset : offset + _WRITE_BATCH]
            creates: list[tuple[int, WriteOp]] = [
                (i, op) for i, op in chunk if isinstance(op, CreateOp)
            ]
            updates: list[tuple[int, WriteOp]] = [
                (i, op) for i, op in chunk if isinstance(op, UpdateOp)
            ]
            deletes: list[tuple[int, WriteOp]] = [
                (i, op) for i, op in chunk if isinstance(op, DeleteOp)
            ]
            self._writer.guarded(creates, results, self._writer.create_batch)
            self._writer.guarded(updates, results, self._writer.update_batch)
            self._writer.guarded(deletes, results, self._writer.delete_batch)
        return [results[i] for i in range(len(ops))]

    # --- writing ---------------------------------------------------------------

    def _one(self, op: WriteOp) -> CalendarItem | None:
        (result,) = self.apply_batch([op])
        if result.error is not None:
            raise result.error
        return result.item

    def probe(self, mailbox: str | None = None) -> MailboxProbe:
        """Check that ``mailbox`` (default: this backend's) can be synced (S5, S7, S10).

        Resolves the address with ``ResolveNames`` (its primary address and proxy
        addresses, so an alias matches the user's email, S5), then opens the calendar
        folder as that mailbox (impersonation right, EWS enabled). Never raises for
        what it finds: the answer is a ``MailboxProbe`` for ``severa_ext.sync.activation``.
        """
        target = (mailbox or self._mailbox).strip()
        addresses: list[str] = [target]
        try:
            addresses.extend(self._resolve(target))
            request = ET.Element(m("GetFolder"))
            sub(sub(request, m("FolderShape")), t("BaseShape"), "IdOnly")
            distinguished(sub(request, m("FolderIds")), target)
            message = single(
                self._transport.request("GetFolder", request, mailbox=target), "GetFolder"
            )
            if not message.success:
                raise self._transport.fault(message.code, message.message, "GetFolder", target)
        except BackendError as exc:
            return MailboxProbe(
                target, _probe_status(exc), dict.fromkeys(addresses), detail=str(exc),
                code=exc.code,
            )  # fmt: skip
        return MailboxProbe(target, _probe_status(None), dict.fromkeys(addresses))

    def _resolve(self, address: str) -> list[str]:
        request = ET.Element(
            m("ResolveNames"), ReturnFullContactData="true", SearchScope="ActiveDirectory"
        )
        sub(request, m("UnresolvedEntry"), address)
        messages = self._transport.request("ResolveNames", request, mailbox=address)
        message = single(messages, "ResolveNames")
        if message.code == "ErrorNameResolutionNoResults":
            raise NotFound(
                f"EWS ResolveNames: no user with the address {address!r} (S5)",
                backend=_BACKEND,
                code=message.code,
            )
        if message.element.find(m("ResolutionSet")) is None:
            raise self._transport.fault(message.code, message.message, "ResolveNames", address)
        found: list[str] = []
        for resolution in message.element.iter(t("Resolution")):
            primary = resolution.findtext(f"{t('Mailbox')}/{t('EmailAddress')}")
            if primary:
                found.append(primary.strip())
            for entry in resolution.iter(t("Entry")):
                text = (entry.text or "").strip()
                if text.lower().startswith("smtp:"):
                    found.append(text[5:])
        return found

    # --- reading ---------------------------------------------------------------

    def _full(self, window: Window) -> ChangeSet:
        # The state first: anything that changes while we list shows up next time.
        state, _upserts, _deletes = self._reader.sync(None)
        cursor = EwsCursor(window.start, window.end, state).encode()
        return _change_set(self._reader.list_window(window), (), cursor, full=True)


def _probe_status(exc: BackendError | None) -> ProbeStatus:
    if exc is None:
        return ProbeStatus.OK
    if isinstance(exc, NotFound):
        return ProbeStatus.UNKNOWN_USER
    if isinstance(exc, AuthError):
        return ProbeStatus.BAD_CREDENTIALS if exc.code == "401" else ProbeStatus.ACCESS_DENIED
    if exc.code == "EwsDisabled":
        return ProbeStatus.EWS_DISABLED
    return ProbeStatus.UNAVAILABLE


def _change_set(
    items: Sequence[CalendarItem], removed: Sequence[str], cursor: str, *, full: bool
) -> ChangeSet:
    # ChangeSet converts with ``tuple``; attrs' mypy plugin cannot type that converter.
    fields: dict[str, Any] = {"items": tuple(items), "removed": tuple(removed)}
    return ChangeSet(**fields, cursor=cursor, full=full)
