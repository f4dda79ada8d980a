"""Exchange Web Services backend for on-premises Exchange (S5, S7).

EWS is how the SDK reaches Exchange Server (Subscription Edition, 2019, 2016). Requests
are SOAP documents built with ``xml.etree.ElementTree`` and sent over one
``requests.Session`` with a timeout on every call; responses are parsed with
``defusedxml`` only. In Exchange Online EWS is being retired (Microsoft started shutting
it down in October 2026): pointing this backend at ``outlook.office365.com`` raises a
:class:`~severa_ext.errors.ConfigError` that names ``severa_ext.backends.graph``.

Reading uses ``SyncFolderItems`` on the calendar folder with the stored ``SyncState``
as the cursor, ``GetItem`` for details and ``FindItem`` with a ``CalendarView`` to
expand recurring series into the occurrences inside the window. Writes never send
invitations or cancellations, stamp the engine's sync key in an extended property
and carry the ChangeKey, so a stale write is a
:class:`~severa_ext.errors.VersionConflict`, never a lost update.
"""

from __future__ import annotations

import json
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import urlsplit

import attrs
import cattrs
import requests
from email_validator import EmailNotValidError, validate_email

from severa_ext.backends._ews_mapping import (
    ParsedItem,
    calendar_item_element,
    extended_field_uri,
    format_utc,
    parse_calendar_item,
    update_elements,
)
from severa_ext.backends._ews_xml import (
    ResponseMessage,
    build_envelope,
    child_text,
    m,
    parse_envelope,
    response_messages,
    soap_fault,
    sub,
    t,
)
from severa_ext.backends.base import CreateOp, DeleteOp, UpdateOp, WriteOp, WriteResult
from severa_ext.errors import (
    AuthError,
    BackendError,
    BackendUnavailable,
    BadItem,
    ConfigError,
    MalformedResponse,
    NotFound,
    SeveraExtError,
    Throttled,
    ValidationError,
    VersionConflict,
)
from severa_ext.sync.activation import MailboxProbe, ProbeStatus
from severa_ext.sync.items import (
    CONTENT_FIELDS,
    CalendarItem,
    Capabilities,
    ChangeSet,
    Window,
    fingerprint,
)

__all__ = [
    "EXCHANGE_ONLINE_HOSTS",
    "EwsBackend",
    "EwsCursor",
    "TokenProvider",
    "basic_auth",
    "msal_token_provider",
    "ntlm_auth",
]

logger = logging.getLogger(__name__)


@runtime_checkable
class TokenProvider(Protocol):
    """Where the EWS backend gets a bearer token (the same seam as the Graph backend's).

    Any object with these two methods fits, e.g. Graph's
    ``ClientCredentialsTokenProvider`` built with the EWS scope.
    """

    def token(self) -> str:
        """A currently valid access token.

        Raises:
            AuthError: no token can be had.
        """
        ...

    def invalidate(self) -> None:
        """Forget the current token: the server refused it."""
        ...


EXCHANGE_ONLINE_HOSTS = frozenset(
    {"outlook.office365.com", "outlook.office.com", "outlook.office365.us", "partner.outlook.cn"}
)
"""Hosts of Exchange Online, where EWS is retired (the Graph backend serves them)."""

_BACKEND = "ews"
_GET_BATCH = 100
_WRITE_BATCH = 20  # writes per apply_batch chunk (and Capabilities.batch_size)
_W = TypeVar("_W", CreateOp, UpdateOp, DeleteOp)
_MAX_VIEW = 8192  # the most entries one CalendarView page asks for
_FIELDS = (
    "item:Subject",
    "item:Body",
    "item:Sensitivity",
    "item:Categories",
    "item:LastModifiedTime",
    "item:ParentFolderId",
    "calendar:Start",
    "calendar:End",
    "calendar:OriginalStart",
    "calendar:IsAllDayEvent",
    "calendar:LegacyFreeBusyStatus",
    "calendar:Location",
    "calendar:CalendarItemType",
    "calendar:UID",
    "calendar:StartTimeZone",
    "calendar:EndTimeZone",
)
_THROTTLE_CODES = frozenset({"ErrorServerBusy", "ErrorExceededConnectionCount"})
_IMPERSONATION_CODES = frozenset(
    {"ErrorImpersonateUserDenied", "ErrorImpersonationDenied", "ErrorImpersonationFailed"}
)
_MAILBOX_CODES = frozenset({"ErrorNonExistentMailbox", "ErrorMailboxMoveInProgress"})
_TRANSIENT_CODES = frozenset(
    {
        "ErrorMailboxStoreUnavailable",
        "ErrorInternalServerTransientError",
        "ErrorTimeoutExpired",
        "ErrorConnectionFailed",
    }
)
_ITEM_GONE_CODES = frozenset({"ErrorItemNotFound", "ErrorInvalidIdMalformed"})


def basic_auth(username: str, password: str) -> requests.auth.AuthBase:
    """HTTP Basic credentials for an on-premises server (use only over HTTPS).

    The password lives inside the returned object only; the backend never logs it.
    """
    return requests.auth.HTTPBasicAuth(username, password)


def ntlm_auth(username: str, password: str) -> requests.auth.AuthBase:
    """NTLM credentials (``DOMAIN\\\\user`` or ``user@domain``) through ``requests_ntlm``."""
    from requests_ntlm import HttpNtlmAuth

    auth: requests.auth.AuthBase = HttpNtlmAuth(username, password)
    return auth


def msal_token_provider(app: Any, scopes: Sequence[str]) -> TokenProvider:
    """A :class:`TokenProvider` over an msal ``ConfidentialClientApplication`` (app-only, S7).

    Args:
        app: the msal application (its token cache keeps tokens until they expire).
        scopes: e.g. ``["https://mail.contoso.com/.default"]`` for hybrid modern auth.

    Returns:
        A provider whose ``token()`` raises :class:`~severa_ext.errors.AuthError` with
        msal's error description when no token can be had.
    """
    return _MsalAppTokens(app, list(scopes))


class _MsalAppTokens:
    def __init__(self, app: Any, scopes: list[str]) -> None:
        self._app = app
        self._scopes = scopes
        self._stale = False

    def __repr__(self) -> str:
        return f"msal_token_provider(scopes={self._scopes!r})"

    def token(self) -> str:
        if self._stale:
            # A refused token is dropped from msal's cache, so the next call asks anew.
            cache = getattr(self._app, "token_cache", None)
            remove = getattr(cache, "remove_at", None)
            find = getattr(cache, "search", None) or getattr(cache, "find", None)
            if callable(remove) and callable(find):
                for entry in list(find("AccessToken")):
                    remove(entry)
            self._stale = False
        result = self._app.acquire_token_for_client(scopes=self._scopes)
        token = result.get("access_token") if isinstance(result, dict) else None
        if not token:
            error = result.get("error", "unknown") if isinstance(result, dict) else "unknown"
            text = result.get("error_description", "") if isinstance(result, dict) else ""
            raise AuthError(
                f"could not get an OAuth token for EWS ({error}): {text}".strip(),
                backend=_BACKEND,
                code=str(error),
            )
        return str(token)

    def invalidate(self) -> None:
        self._stale = True


@attrs.frozen
class EwsCursor:
    """The stored cursor: the window it was listed for and the folder's ``SyncState``.

    A ``SyncState`` does not know the window; a cursor for another window gives a full
    listing, so items that slid into the window are never missed.
    """

    start: datetime
    end: datetime
    sync_state: str

    def encode(self) -> str:
        """The cursor as the string the state store keeps."""
        return json.dumps(_cursor_converter.unstructure(self), sort_keys=True)

    @classmethod
    def decode(cls, text: str) -> EwsCursor:
        """Parse a stored cursor.

        Raises:
            ValidationError: the text is not an EWS cursor.
        """
        try:
            return _cursor_converter.structure(json.loads(text), cls)
        except (ValueError, TypeError, cattrs.BaseValidationError) as exc:
            raise ValidationError(f"not an EWS cursor: {text[:60]!r}") from exc


_cursor_converter = cattrs.Converter()
_cursor_converter.register_unstructure_hook(datetime, lambda value: value.isoformat())
_cursor_converter.register_structure_hook(
    datetime, lambda value, _type: datetime.fromisoformat(value)
)


class _Backoff(Exception):
    def __init__(self, reason: str, delay: float | None, code: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay
        self.code = code


class _InvalidSyncState(BackendError):
    """The stored SyncState is no longer valid; the caller resyncs in full."""


class _BearerAuth(requests.auth.AuthBase):
    def __init__(self, provider: TokenProvider) -> None:
        self.provider = provider

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.provider.token()}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(<token provider>)"


class EwsBackend:
    """The calendar of one mailbox on an on-premises Exchange server, through EWS.

    Args:
        url: the EWS endpoint, e.g. ``https://mail.contoso.com/EWS/Exchange.asmx``.
        mailbox: the primary SMTP address of the user's mailbox.
        auth: ``requests`` credentials: :func:`basic_auth`, :func:`ntlm_auth`, or any
            ``requests.auth.AuthBase``. Exclusive with ``token_provider``.
        token_provider: a :class:`TokenProvider` for OAuth bearer tokens
            (:func:`msal_token_provider`), for servers with modern auth. A refused
            token is invalidated and the call retried once.
        impersonate: send the ``ExchangeImpersonation`` header, so the delegate
            account (with the ApplicationImpersonation role, S7) acts as the mailbox.
        session: the ``requests.Session`` to use (the backend makes one if ``None``,
            and closes only one it made).
        server_version: the ``RequestServerVersion`` header.
        timeout: seconds for every HTTP call.
        max_wait: the most seconds one call may spend backing off from throttling
            before :class:`~severa_ext.errors.Throttled` is raised.
        page_size: ``MaxChangesReturned`` of ``SyncFolderItems`` (1 to 512).
        sleep: how to wait between retries (tests pass a recorder).

    Raises:
        ConfigError: the URL is not http(s), carries credentials or points to
            Exchange Online; the mailbox is not an address (checked with
            ``email_validator``); both ``auth`` and ``token_provider`` were given.
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
        max_wait: float = 60.0,
        page_size: int = 512,
        sleep: Callable[[float], None] = time.sleep,
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
            validate_email(mailbox, check_deliverability=False, globally_deliverable=False)
        except EmailNotValidError as exc:
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
        if timeout <= 0 or max_wait < 0:
            raise ConfigError("EWS timeout must be positive and max_wait not negative")
        self._url = url
        self._mailbox = mailbox
        self._impersonate = impersonate
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._auth: requests.auth.AuthBase | None = (
            _BearerAuth(token_provider) if token_provider is not None else auth
        )
        self._server_version = server_version
        self._timeout = timeout
        self._max_wait = max_wait
        self._page_size = page_size
        self._sleep = sleep
        self._calendar_id: str | None = None

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
        return f"EwsBackend(url={self._url!r}, mailbox={self._mailbox!r})"

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
            state, upserts, deletes = self._sync(stored.sync_state)
        except _InvalidSyncState:
            logger.warning("EWS sync state of %s is invalid; listing in full", self._mailbox)
            return self._full(window)
        parsed = self._get_items(upserts)
        next_cursor = EwsCursor(window.start, window.end, state).encode()
        if any(p is not None and p.item_type == "RecurringMaster" for p in parsed.values()):
            return _change_set(self._list_window(window), (), next_cursor, full=True)
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
        found = self._get_items([item_id]).get(item_id)
        return found.item if found is not None else None

    def find(self, sync_key: str) -> tuple[CalendarItem, ...]:
        """Every calendar item whose sync-key extended property is ``sync_key``."""
        return self._find_many([sync_key]).get(sync_key, ())

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

        The item is read first and only the fields that differ are written (an
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
            self._guarded(creates, results, self._create_batch)
            self._guarded(updates, results, self._update_batch)
            self._guarded(deletes, results, self._delete_batch)
        return [results[i] for i in range(len(ops))]

    # --- writing ---------------------------------------------------------------

    def _one(self, op: WriteOp) -> CalendarItem | None:
        (result,) = self.apply_batch([op])
        if result.error is not None:
            raise result.error
        return result.item

    @staticmethod
    def _guarded(
        group: list[tuple[int, WriteOp]],
        results: dict[int, WriteResult],
        run: Callable[[list[tuple[int, WriteOp]], dict[int, WriteResult]], None],
    ) -> None:
        if not group:
            return
        try:
            run(group, results)
        except SeveraExtError as exc:  # the request as a whole failed
            for index, op in group:
                results.setdefault(index, WriteResult(op, error=exc))

    def _find_many(self, sync_keys: Sequence[str]) -> dict[str, tuple[CalendarItem, ...]]:
        request = ET.Element(m("FindItem"), Traversal="Shallow")
        shape = sub(request, m("ItemShape"))
        sub(shape, t("BaseShape"), "IdOnly")
        wanted = list(dict.fromkeys(sync_keys))
        restriction = sub(request, m("Restriction"))
        parent = sub(restriction, t("Or")) if len(wanted) > 1 else restriction
        for wanted_key in wanted:
            equal = sub(parent, t("IsEqualTo"))
            extended_field_uri(equal)
            sub(sub(equal, t("FieldURIOrConstant")), t("Constant"), Value=wanted_key)
        self._calendar_folder(sub(request, m("ParentFolderIds")))
        message = self._single(self._request("FindItem", request), "FindItem")
        if not message.success:
            raise self._request_error(message.code, message.message, "FindItem")
        ids = [node.get("Id", "") for node in message.element.iter(t("ItemId")) if node.get("Id")]
        found: dict[str, list[CalendarItem]] = {}
        for parsed in self._get_items(ids).values():
            if parsed is None:
                continue
            key = parsed.item.sync_key
            if key is not None and key in wanted:
                found.setdefault(key, []).append(parsed.item)
        return {key: tuple(items) for key, items in found.items()}

    def _create_batch(
        self, group: list[tuple[int, WriteOp]], results: dict[int, WriteResult]
    ) -> None:
        ops = [(index, op) for index, op in group if isinstance(op, CreateOp)]
        existing = self._find_many([op.sync_key for _, op in ops])
        request = ET.Element(m("CreateItem"), SendMeetingInvitations="SendToNone")
        self._calendar_folder(sub(request, m("SavedItemFolderId")))
        items = sub(request, m("Items"))
        pending: list[tuple[int, CreateOp]] = []
        for index, op in ops:
            if op.sync_key in existing:
                logger.info("EWS create skipped: %s already holds the sync key", self.name)
                results[index] = WriteResult(op, existing[op.sync_key][0])
                continue
            try:
                items.append(calendar_item_element(op.item, op.sync_key))
            except BadItem as exc:
                results[index] = WriteResult(op, error=exc)
                continue
            pending.append((index, op))
        if not pending:
            return
        messages = self._request("CreateItem", request, write=True)
        made = self._outcomes("CreateItem", pending, messages, results, lambda op: op.item.title)
        self._fetch_into(made, results, "CreateItem")
        logger.info("EWS created %d item(s) in %s", len(made), self.name)

    def _update_batch(
        self, group: list[tuple[int, WriteOp]], results: dict[int, WriteResult]
    ) -> None:
        ops = [(index, op) for index, op in group if isinstance(op, UpdateOp)]
        current = self._get_items([op.item_id for _, op in ops])
        modes: dict[bool, list[tuple[int, UpdateOp, list[ET.Element]]]] = {True: [], False: []}
        for index, op in ops:
            found = current.get(op.item_id)
            if found is None:
                error = NotFound(f"EWS item {op.item_id!r} does not exist", backend=_BACKEND)
                results[index] = WriteResult(op, error=error)
                continue
            if op.if_match is not None and found.item.etag != op.if_match:
                results[index] = WriteResult(op, error=self._stale(op.item_id))
                continue
            changed = [
                name
                for name in CONTENT_FIELDS
                if fingerprint(found.item, fields=(name,)) != fingerprint(op.item, fields=(name,))
            ]
            if not changed:
                results[index] = WriteResult(op, found.item)
                continue
            try:
                elements = update_elements(op.item, changed)
            except BadItem as exc:
                results[index] = WriteResult(op, error=exc)
                continue
            modes[op.if_match is not None].append((index, op, elements))
        for guarded, entries in modes.items():
            if not entries:
                continue
            request = ET.Element(
                m("UpdateItem"),
                ConflictResolution="NeverOverwrite" if guarded else "AlwaysOverwrite",
                SendMeetingInvitationsOrCancellations="SendToNone",
            )
            changes = sub(request, m("ItemChanges"))
            for _, op, elements in entries:
                change = sub(changes, t("ItemChange"))
                ids = {"Id": op.item_id} | ({"ChangeKey": op.if_match} if op.if_match else {})
                sub(change, t("ItemId"), **ids)
                sub(change, t("Updates")).extend(elements)
            pending = [(index, op) for index, op, _ in entries]
            messages = self._request("UpdateItem", request, write=True)
            made = self._outcomes("UpdateItem", pending, messages, results, lambda op: op.item_id)
            self._fetch_into(made, results, "UpdateItem")
            logger.info("EWS updated %d item(s) in %s", len(made), self.name)

    def _delete_batch(
        self, group: list[tuple[int, WriteOp]], results: dict[int, WriteResult]
    ) -> None:
        ops = [(index, op) for index, op in group if isinstance(op, DeleteOp)]
        checked = [op.item_id for _, op in ops if op.if_match is not None]
        current = self._get_items(checked) if checked else {}
        request = ET.Element(
            m("DeleteItem"),
            DeleteType="MoveToDeletedItems",
            SendMeetingCancellations="SendToNone",
            AffectedTaskOccurrences="AllOccurrences",
        )
        ids = sub(request, m("ItemIds"))
        pending: list[tuple[int, DeleteOp]] = []
        for index, op in ops:
            if op.if_match is not None:
                found = current.get(op.item_id)
                if found is None:
                    error = NotFound(f"EWS item {op.item_id!r} does not exist", backend=_BACKEND)
                    results[index] = WriteResult(op, error=error)
                    continue
                if found.item.etag != op.if_match:
                    results[index] = WriteResult(op, error=self._stale(op.item_id))
                    continue
            sub(ids, t("ItemId"), Id=op.item_id)
            pending.append((index, op))
        if not pending:
            return
        messages = self._request("DeleteItem", request, write=True)
        done = self._outcomes("DeleteItem", pending, messages, results, lambda op: op.item_id)
        for index, (deleted, _) in done.items():
            results[index] = WriteResult(deleted, None)
        logger.info("EWS deleted %d item(s) in %s", len(done), self.name)

    def _outcomes(
        self,
        operation: str,
        pending: Sequence[tuple[int, _W]],
        messages: list[ResponseMessage],
        results: dict[int, WriteResult],
        ref: Callable[[_W], str],
    ) -> dict[int, tuple[WriteOp, str]]:
        """Match one response message per pending op; failures go to ``results``.

        Returns ``{index: (op, item id)}`` for the ops that succeeded (the id is empty
        for a delete).
        """
        if len(messages) != len(pending):
            raise MalformedResponse(
                f"EWS {operation}: sent {len(pending)} items, got {len(messages)} answers",
                backend=_BACKEND,
            )
        done: dict[int, tuple[WriteOp, str]] = {}
        for (index, op), message in zip(pending, messages, strict=True):
            if not message.success:
                error = self._item_error(message, operation, ref(op))
                results[index] = WriteResult(op, error=error)
                continue
            item_id = "" if operation == "DeleteItem" else self._returned_id(message, operation)
            done[index] = (op, item_id)
        return done

    def _fetch_into(
        self, made: dict[int, tuple[WriteOp, str]], results: dict[int, WriteResult], operation: str
    ) -> None:
        """Read back what was written, so each result carries the stored item."""
        fetched = self._get_items([item_id for _, item_id in made.values()])
        for index, (op, item_id) in made.items():
            found = fetched.get(item_id)
            if found is None:
                error = BackendError(
                    f"EWS {operation}: the item vanished right after the write", backend=_BACKEND
                )
                results[index] = WriteResult(op, error=error)
            else:
                results[index] = WriteResult(op, found.item)

    def _stale(self, item_id: str) -> VersionConflict:
        return VersionConflict(
            f"EWS item {item_id!r} changed since it was read (ChangeKey differs)",
            backend=_BACKEND,
            code="ErrorIrresolvableConflict",
        )

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
            self._distinguished(sub(request, m("FolderIds")), target)
            message = self._single(self._request("GetFolder", request, mailbox=target), "GetFolder")
            if not message.success:
                raise self._request_error(message.code, message.message, "GetFolder", target)
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
        messages = self._request("ResolveNames", request, mailbox=address)
        message = self._single(messages, "ResolveNames")
        if message.code == "ErrorNameResolutionNoResults":
            raise NotFound(
                f"EWS ResolveNames: no user with the address {address!r} (S5)",
                backend=_BACKEND,
                code=message.code,
            )
        if message.element.find(m("ResolutionSet")) is None:
            raise self._request_error(message.code, message.message, "ResolveNames", address)
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
        state, _upserts, _deletes = self._sync(None)
        cursor = EwsCursor(window.start, window.end, state).encode()
        return _change_set(self._list_window(window), (), cursor, full=True)

    def _sync(self, state: str | None) -> tuple[str, list[str], list[str]]:
        upserts: dict[str, None] = {}
        deletes: dict[str, None] = {}
        while True:
            request = ET.Element(m("SyncFolderItems"))
            sub(sub(request, m("ItemShape")), t("BaseShape"), "IdOnly")
            folder = sub(request, m("SyncFolderId"))
            self._distinguished(folder)
            if state:
                sub(request, m("SyncState"), state)
            sub(request, m("MaxChangesReturned"), str(self._page_size))
            message = self._single(self._request("SyncFolderItems", request), "SyncFolderItems")
            if not message.success:
                if message.code == "ErrorInvalidSyncStateData":
                    raise _InvalidSyncState(message.message, backend=_BACKEND, code=message.code)
                raise self._request_error(message.code, message.message, "SyncFolderItems")
            new_state = child_text(message.element, m("SyncState"))
            last = child_text(message.element, m("IncludesLastItemInRange"))
            changes = message.element.find(m("Changes"))
            if new_state is None or last is None:
                raise MalformedResponse(
                    "EWS SyncFolderItems: response lacks SyncState or IncludesLastItemInRange",
                    backend=_BACKEND,
                )
            for change in changes if changes is not None else ():
                node = change.find(f".//{t('ItemId')}")
                item_id = node.get("Id") if node is not None else None
                if not item_id:
                    continue
                if change.tag == t("Delete"):
                    upserts.pop(item_id, None)
                    deletes[item_id] = None
                elif change.tag in {t("Create"), t("Update")}:
                    deletes.pop(item_id, None)
                    upserts[item_id] = None
            done = last.strip() == "true"
            if not done and new_state == state:
                raise MalformedResponse(
                    "EWS SyncFolderItems: server reports more changes but did not advance "
                    "the SyncState",
                    backend=_BACKEND,
                )
            state = new_state
            if done:
                return state, list(upserts), list(deletes)

    def _list_window(self, window: Window) -> list[CalendarItem]:
        ids: dict[str, None] = {}
        start = window.start
        limit = self._page_size
        while True:
            request = ET.Element(m("FindItem"), Traversal="Shallow")
            shape = sub(request, m("ItemShape"))
            sub(shape, t("BaseShape"), "IdOnly")
            additional = sub(shape, t("AdditionalProperties"))
            sub(additional, t("FieldURI"), FieldURI="calendar:Start")
            sub(
                request,
                m("CalendarView"),
                MaxEntriesReturned=str(limit),
                StartDate=format_utc(start),
                EndDate=format_utc(window.end),
            )
            self._calendar_folder(sub(request, m("ParentFolderIds")))
            message = self._single(self._request("FindItem", request), "FindItem")
            root = message.element.find(m("RootFolder"))
            if root is None:
                raise MalformedResponse(
                    "EWS FindItem: response has no RootFolder", backend=_BACKEND
                )
            latest = start
            for node in root.iter(t("CalendarItem")):
                item_id = node.find(t("ItemId"))
                if item_id is not None and item_id.get("Id"):
                    ids[item_id.get("Id", "")] = None
                raw = child_text(node, t("Start"))
                if raw:
                    try:
                        latest = max(latest, datetime.fromisoformat(raw))
                    except ValueError as exc:
                        raise MalformedResponse(
                            f"EWS FindItem: Start {raw!r} is not an xs:dateTime",
                            backend=_BACKEND,
                        ) from exc
            if root.get("IncludesLastItemInRange", "true") == "true":
                break
            if latest <= start:
                # A whole page starts at (or spans) the page's start: ask for more at once.
                if limit >= _MAX_VIEW:
                    raise BackendError(
                        f"EWS FindItem: more than {_MAX_VIEW} items start at {start}",
                        backend=_BACKEND,
                    )
                limit = min(limit * 2, _MAX_VIEW)
                continue
            start = latest
        parsed = self._get_items(list(ids))
        return [
            found.item
            for found in parsed.values()
            if found is not None
            and found.item_type != "RecurringMaster"
            and window.contains(found.item)
        ]

    def _get_items(self, item_ids: Iterable[str]) -> dict[str, ParsedItem | None]:
        """GetItem in batches; ``None`` for ids that are gone or left the calendar."""
        wanted = list(dict.fromkeys(item_ids))
        found: dict[str, ParsedItem | None] = {}
        if not wanted:
            return found
        calendar_id = self._calendar_folder_id()
        for offset in range(0, len(wanted), _GET_BATCH):
            batch = wanted[offset : offset + _GET_BATCH]
            request = ET.Element(m("GetItem"))
            shape = sub(request, m("ItemShape"))
            sub(shape, t("BaseShape"), "IdOnly")
            sub(shape, t("BodyType"), "Text")
            additional = sub(shape, t("AdditionalProperties"))
            for uri in _FIELDS:
                sub(additional, t("FieldURI"), FieldURI=uri)
            extended_field_uri(additional)
            ids = sub(request, m("ItemIds"))
            for item_id in batch:
                sub(ids, t("ItemId"), Id=item_id)
            messages = self._request("GetItem", request)
            if len(messages) != len(batch):
                raise MalformedResponse(
                    f"EWS GetItem: asked for {len(batch)} items, got {len(messages)} answers",
                    backend=_BACKEND,
                )
            for item_id, message in zip(batch, messages, strict=True):
                if not message.success:
                    if message.code in _ITEM_GONE_CODES:
                        found[item_id] = None
                        continue
                    raise self._request_error(message.code, message.message, "GetItem")
                node = message.element.find(f"{m('Items')}/{t('CalendarItem')}")
                if node is None:  # not a calendar item (a stray message): not ours
                    found[item_id] = None
                    continue
                folder = node.find(t("ParentFolderId"))
                if folder is not None and folder.get("Id") not in {None, calendar_id}:
                    found[item_id] = None  # moved to Deleted Items or elsewhere
                    continue
                found[item_id] = parse_calendar_item(node)
        return found

    def _calendar_folder_id(self) -> str:
        if self._calendar_id is None:
            request = ET.Element(m("GetFolder"))
            sub(sub(request, m("FolderShape")), t("BaseShape"), "IdOnly")
            self._distinguished(sub(request, m("FolderIds")))
            message = self._single(self._request("GetFolder", request), "GetFolder")
            if not message.success:
                raise self._request_error(message.code, message.message, "GetFolder")
            node = message.element.find(f".//{t('FolderId')}")
            if node is None or not node.get("Id"):
                raise MalformedResponse("EWS GetFolder: no FolderId", backend=_BACKEND)
            self._calendar_id = node.get("Id")
        return self._calendar_id or ""

    # --- request building ------------------------------------------------------

    def _distinguished(self, parent: ET.Element, mailbox: str | None = None) -> None:
        folder = sub(parent, t("DistinguishedFolderId"), Id="calendar")
        sub(sub(folder, t("Mailbox")), t("EmailAddress"), mailbox or self._mailbox)

    def _calendar_folder(self, parent: ET.Element) -> None:
        self._distinguished(parent)

    @staticmethod
    def _returned_id(message: ResponseMessage, operation: str) -> str:
        node = message.element.find(f"{m('Items')}/*/{t('ItemId')}")
        if node is None or not node.get("Id"):
            raise MalformedResponse(f"EWS {operation}: no ItemId in the answer", backend=_BACKEND)
        return node.get("Id", "")

    # --- transport and errors --------------------------------------------------

    @staticmethod
    def _single(messages: list[ResponseMessage], operation: str) -> ResponseMessage:
        if len(messages) != 1:
            raise MalformedResponse(
                f"EWS {operation}: expected one response message, got {len(messages)}",
                backend=_BACKEND,
            )
        return messages[0]

    def _request(
        self,
        operation: str,
        body: ET.Element,
        *,
        mailbox: str | None = None,
        write: bool = False,
    ) -> list[ResponseMessage]:
        """Send one operation, backing off from throttling within ``max_wait``."""
        target = mailbox or self._mailbox
        payload = build_envelope(
            body,
            server_version=self._server_version,
            impersonate=target if self._impersonate else None,
        )
        waited = 0.0
        attempt = 0
        while True:
            try:
                return self._send(operation, payload, target, write=write)
            except _Backoff as signal:
                delay = signal.delay if signal.delay is not None else float(min(2**attempt, 30))
                attempt += 1
                if waited + delay > self._max_wait:
                    raise Throttled(
                        f"EWS {operation}: {signal.reason}; gave up after backing off {waited:g} s",
                        retry_after=delay,
                        backend=_BACKEND,
                        code=signal.code,
                    ) from None
                logger.info(
                    "EWS %s throttled (%s); backing off %.3g s", operation, signal.code, delay
                )
                self._sleep(delay)
                waited += delay

    def _send(
        self,
        operation: str,
        payload: bytes,
        target: str,
        *,
        write: bool = False,
        retry_auth: bool = True,
    ) -> list[ResponseMessage]:
        headers = {
            "Content-Type": "text/xml; charset=utf-8",
            "Accept": "text/xml",
            "SOAPAction": f'"http://schemas.microsoft.com/exchange/services/2006/messages/{operation}"',
            "X-AnchorMailbox": target,
        }
        try:
            response = self._session.post(
                self._url, data=payload, headers=headers, auth=self._auth, timeout=self._timeout
            )
        except requests.Timeout as exc:
            raise BackendUnavailable(
                f"EWS {operation}: no answer from {self._url} within {self._timeout:g} s",
                backend=_BACKEND,
            ) from exc
        except requests.RequestException as exc:
            raise BackendUnavailable(
                f"EWS {operation}: cannot reach {self._url} ({type(exc).__name__})",
                backend=_BACKEND,
            ) from exc
        status = response.status_code
        if status == 401 and retry_auth and isinstance(self._auth, _BearerAuth):
            logger.info("EWS %s: token refused; getting a new one", operation)
            self._auth.provider.invalidate()
            return self._send(operation, payload, target, write=write, retry_auth=False)
        if status == 401:
            raise AuthError(
                f"EWS {operation}: {self._url} refused the credentials (HTTP 401); check "
                "the account's user name and password (or token)",
                backend=_BACKEND,
                code="401",
            )
        if status in {403, 404}:
            raise BackendUnavailable(
                f"EWS {operation}: {self._url} answered HTTP {status}: EWS looks disabled "
                "on this server or for this mailbox (ask the Exchange admin to check the "
                "EWS virtual directory and Set-CASMailbox -EwsEnabled), or the URL is wrong",
                backend=_BACKEND,
                code="EwsDisabled",
            )
        if status == 503:
            raise _Backoff("HTTP 503 service unavailable", _retry_after(response), "503")
        if status not in {200, 500}:
            raise BackendUnavailable(
                f"EWS {operation}: unexpected HTTP {status} from {self._url}",
                backend=_BACKEND,
                code=str(status),
            )
        try:
            body = parse_envelope(response.content, operation=operation)
        except MalformedResponse as exc:
            if status == 500:  # an IIS / proxy error page rather than a SOAP fault
                raise BackendUnavailable(
                    f"EWS {operation}: HTTP 500 from {self._url} without a SOAP fault",
                    backend=_BACKEND,
                    code="500",
                ) from exc
            raise
        fault = soap_fault(body)
        if fault is not None:
            if fault.code in _THROTTLE_CODES:
                delay = fault.back_off_ms / 1000 if fault.back_off_ms is not None else None
                raise _Backoff(fault.message, delay, fault.code)
            raise self._request_error(fault.code or "SoapFault", fault.message, operation, target)
        if status != 200:
            raise BackendUnavailable(
                f"EWS {operation}: HTTP {status} without a SOAP fault", backend=_BACKEND
            )
        messages = list(response_messages(body, operation))
        for message in messages:
            # A busy answer to one item of a write is that item's error: retrying the
            # whole request could repeat the items that did succeed.
            if message.code in _THROTTLE_CODES and not write:
                delay = message.back_off_ms / 1000 if message.back_off_ms is not None else None
                raise _Backoff(message.message or message.code, delay, message.code)
            if message.code in _IMPERSONATION_CODES | _MAILBOX_CODES | _TRANSIENT_CODES:
                raise self._request_error(message.code, message.message, operation, target)
        return messages

    def _request_error(
        self, code: str, text: str, operation: str, mailbox: str | None = None
    ) -> BackendError:
        mailbox = mailbox or self._mailbox
        detail = f"EWS {operation}: {code}: {text}".rstrip(": ")
        if code in _IMPERSONATION_CODES:
            return AuthError(
                f"{detail}. The account may not impersonate {mailbox}: it needs the "
                "ApplicationImpersonation role (or, with OAuth, EWS.AccessAsApp scoped to "
                "this mailbox) (S7)",
                backend=_BACKEND,
                code=code,
            )
        if code == "ErrorNonExistentMailbox":
            return NotFound(
                f"{detail}. No mailbox {mailbox!r} on this server. Use the primary "
                "SMTP address: aliases / proxy addresses of accounts with several domains "
                "may not resolve, and a mailbox migrated to another server (e.g. to "
                "Exchange Online) must be reached there (S5)",
                backend=_BACKEND,
                code=code,
            )
        if code == "ErrorAccessDenied":
            return AuthError(detail, backend=_BACKEND, code=code)
        if code in _TRANSIENT_CODES or code == "ErrorMailboxMoveInProgress":
            return BackendUnavailable(detail, backend=_BACKEND, code=code)
        if code in _ITEM_GONE_CODES:
            return NotFound(detail, backend=_BACKEND, code=code)
        return BackendError(detail, backend=_BACKEND, code=code)

    def _item_error(self, message: ResponseMessage, operation: str, ref: str) -> BackendError:
        if message.code in _THROTTLE_CODES:
            wait = message.back_off_ms / 1000 if message.back_off_ms is not None else 1.0
            return Throttled(
                f"EWS {operation}: item {ref!r}: {message.code}",
                retry_after=wait,
                backend=_BACKEND,
                code=message.code,
            )
        if message.code == "ErrorIrresolvableConflict":
            return VersionConflict(
                f"EWS {operation}: item {ref!r} changed since it was read: {message.message}",
                backend=_BACKEND,
                code=message.code,
            )
        if message.code in _ITEM_GONE_CODES:
            return NotFound(
                f"EWS {operation}: item {ref!r} does not exist", backend=_BACKEND, code=message.code
            )
        if message.code.startswith(("ErrorCalendar", "ErrorInvalidProperty", "ErrorInvalidValue")):
            return BadItem(ref, f"{message.code}: {message.message}", backend=_BACKEND)
        return self._request_error(message.code, message.message, operation)


def _probe_status(exc: BackendError | None) -> ProbeStatus:
    if exc is None:
        return ProbeStatus.OK
    if isinstance(exc, NotFound):
        return ProbeStatus.UNKNOWN_USER
    if isinstance(exc, AuthError):
        return ProbeStatus.BAD_CREDENTIALS if exc.code == "401" else ProbeStatus.ACCESS_DENIED
    if exc.code == "EwsDisabled":
        return ProbeStatus.NO_MAILBOX
    return ProbeStatus.UNAVAILABLE


def _change_set(
    items: Sequence[CalendarItem], removed: Sequence[str], cursor: str, *, full: bool
) -> ChangeSet:
    # ChangeSet converts with ``tuple``; attrs' mypy plugin cannot type that converter.
    fields: dict[str, Any] = {"items": tuple(items), "removed": tuple(removed)}
    return ChangeSet(**fields, cursor=cursor, full=full)


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None
