"""``FakeEwsServer``: a real Exchange Web Services endpoint on 127.0.0.1, in memory.

It speaks the documented EWS SOAP schema (``GetFolder``, ``ResolveNames``,
``SyncFolderItems``, ``GetItem``, ``FindItem`` with ``CalendarView`` or an
extended-property ``Restriction``, ``CreateItem``, ``UpdateItem``, ``DeleteItem``) with
ChangeKeys and SyncStates, checks Basic credentials, bearer tokens or an NTLM handshake
(the NTLM user name only, not its password) and ``ExchangeImpersonation``
(unknown mailbox, missing right), and can inject ``ErrorServerBusy`` with
``BackOffMilliseconds``, HTTP 503, ``ErrorExceededConnectionCount``, an invalid sync
state and malformed or hostile XML. User-side helpers edit calendars directly, as a
person in Outlook would, so tests (and a state machine's side driver) can change the
"remote" calendar between syncs.

Example::

    with FakeEwsServer() as server:
        server.add_mailbox("alice@contoso.com")
        backend = server.backend("alice@contoso.com")

The server speaks plain ``http`` on the loopback address, so the backends it makes
pass ``allow_loopback_http=True`` (an ``EwsBackend`` refuses Basic credentials over
``http`` otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import requests

from severa_ext.backends.ews import EwsBackend
from severa_ext.clock import Clock, SystemClock
from severa_ext.errors import ConfigError, NotFound
from severa_ext.sync.items import CalendarItem, Window
from severa_ext.testing._ews_driver import EwsSideDriver
from severa_ext.testing._ews_handler import (
    FAULT_KINDS,
    EwsRequestHandler,
    Fault,
    RecordedRequest,
    ServerState,
)
from severa_ext.testing._ews_store import FakeMailbox, StoredItem, stored_from_calendar_item
from severa_ext.testing._loopback import LoopbackServer

__all__ = ["FAULT_KINDS", "EwsSideDriver", "FakeEwsServer", "RecordedRequest"]

_SYNC_KEY_SET = "8f2c6a0e-5b1d-4e8a-9c37-2d4f6b8e1a53"


class FakeEwsServer(LoopbackServer):
    """An in-memory EWS server over real HTTP on ``127.0.0.1`` and a random port.

    Args:
        username: the service (delegate) account allowed to log in (S7).
        password: its password (Basic auth).
        tokens: bearer tokens accepted as well (OAuth tests).
        clock: stamps ``LastModifiedTime`` (the system clock by default; a state
            machine passes its ``FixedClock``).

    Use as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(
        self,
        *,
        username: str = "svc-sync@contoso.com",
        password: str = "Fake-Passw0rd",
        tokens: Iterable[str] = (),
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self._state = ServerState(username=username, password=password, tokens=set(tokens))
        self._clock: Clock = clock or SystemClock()

    def __repr__(self) -> str:
        where = self.url if self.running else "stopped"
        return f"FakeEwsServer({where}, mailboxes={sorted(self._primary())})"

    # --- lifecycle -------------------------------------------------------------

    thread_name = "fake-ews"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return type("BoundEwsHandler", (EwsRequestHandler,), {"state": self._state})

    @property
    def url(self) -> str:
        """The EWS endpoint, ``http://127.0.0.1:<port>/EWS/Exchange.asmx``."""
        return f"http://127.0.0.1:{self.port}/EWS/Exchange.asmx"

    @property
    def username(self) -> str:
        """The service account's user name."""
        return self._state.username

    def auth(self, password: str | None = None) -> requests.auth.AuthBase:
        """Basic credentials for the service account (``password`` overrides, to test 401)."""
        return requests.auth.HTTPBasicAuth(
            self._state.username, self._state.password if password is None else password
        )

    def backend(self, mailbox: str, **options: Any) -> EwsBackend:
        """An ``EwsBackend`` for ``mailbox`` on this server with the service account.

        Keyword options go to ``EwsBackend`` (``auth`` overrides the service account's
        Basic credentials); plain ``http`` to loopback is allowed.
        """
        options.setdefault("auth", self.auth())
        options.setdefault("allow_loopback_http", True)
        return EwsBackend(self.url, mailbox, **options)

    # --- accounts and switches -------------------------------------------------

    def add_mailbox(
        self, address: str, *, aliases: Iterable[str] = (), impersonation: bool = True
    ) -> None:
        """Create a mailbox; ``aliases`` are proxy addresses that resolve to it.

        ``impersonation=False`` denies the service account the right to impersonate it.
        """
        with self._state.lock:
            mailbox = FakeMailbox(
                address=address,
                aliases=tuple(aliases),
                impersonation_allowed=impersonation,
                clock=self._clock,
            )
            for name in (address, *mailbox.aliases):
                self._state.mailboxes[name.lower()] = mailbox

    def set_impersonation(self, address: str, *, allowed: bool) -> None:
        """Grant or revoke the right to impersonate ``address``."""
        with self._state.lock:
            self._mailbox(address).impersonation_allowed = allowed

    def set_ews_disabled(self, disabled: bool = True) -> None:
        """Answer every request with HTTP 403, like a server with EWS switched off."""
        with self._state.lock:
            self._state.ews_disabled = disabled

    def fail_next(
        self,
        kind: str,
        *,
        times: int = 1,
        operation: str | None = None,
        back_off_ms: int = 250,
    ) -> None:
        """Inject a fault into the next ``times`` requests (of ``operation``, if given).

        Args:
            kind: one of ``FAULT_KINDS``: ``"ErrorServerBusy"`` (a SOAP fault with
                ``BackOffMilliseconds``), ``"ErrorExceededConnectionCount"``,
                ``"ErrorMailboxStoreUnavailable"``, ``"ErrorIrresolvableConflict"`` (an
                item-level error of the operation), ``"http503"`` (``Retry-After`` in
                whole seconds of ``back_off_ms``), ``"http500-html"`` (an IIS error
                page), ``"ErrorInvalidSyncStateData"`` (the next ``SyncFolderItems``
                refuses its state) or
                ``"malformed:<entity-bomb|external-entity|truncated|wrong-namespace|html-login>"``.
            times: how many requests fail.
            operation: only requests of this EWS operation (``"GetItem"``...).
            back_off_ms: the delay the server asks for.
        """
        if kind not in FAULT_KINDS:
            raise ConfigError(f"unknown fault {kind!r}; choose from {sorted(FAULT_KINDS)}")
        self._state.faults.add(Fault(kind, operation, back_off_ms), times)

    def clear_faults(self) -> None:
        """Disarm every injected fault that has not fired yet."""
        self._state.faults.clear()

    @property
    def pending_faults(self) -> int:
        """How many injected fault activations have not fired yet."""
        return self._state.faults.pending

    def has_mailbox(self, address: str) -> bool:
        """True when ``address`` (or an alias) names a mailbox of this server."""
        with self._state.lock:
            return self._state.mailbox(address) is not None

    def invalidate_sync_states(self, address: str) -> None:
        """Make every SyncState issued for ``address`` invalid (as after a mailbox move)."""
        with self._state.lock:
            self._mailbox(address).invalidate_sync_states()

    @property
    def requests(self) -> list[RecordedRequest]:
        """What the server received, oldest first (operation, headers; no credentials)."""
        return self._state.log.snapshot()

    # --- the user's side -------------------------------------------------------

    def create_item(
        self, address: str, item: CalendarItem, *, sync_key: str | None = None
    ) -> CalendarItem:
        """Create ``item`` as the mailbox's user would; return it as stored (id, etag).

        The item keeps the sync key it carries (or ``sync_key``), as when another sync
        tool copies an entry with its extended properties (S3).
        """
        with self._state.lock:
            stored = stored_from_calendar_item(item)
            key = sync_key if sync_key is not None else item.sync_key
            if key is not None:
                stored.extended[(_SYNC_KEY_SET, "SeveraExtSyncKey")] = key
            return self._mailbox(address).add(stored).to_calendar_item()

    def create_series(
        self,
        address: str,
        first: CalendarItem,
        *,
        count: int,
        interval: timedelta = timedelta(days=1),
    ) -> str:
        """Create a recurring series of ``count`` occurrences; return the master's id."""
        if count < 1 or interval <= timedelta(0):
            raise ConfigError("a series needs count >= 1 and a positive interval")
        with self._state.lock:
            stored = stored_from_calendar_item(first)
            stored.item_type = "RecurringMaster"
            stored.interval = interval
            stored.count = count
            return self._mailbox(address).add(stored).id

    def update_item(self, address: str, item_id: str, item: CalendarItem) -> CalendarItem:
        """Give ``item_id`` (an item, occurrence or exception) the content of ``item``."""
        with self._state.lock:
            mailbox = self._mailbox(address)
            target = self._live(mailbox, item_id)
            updated = mailbox.replace_content(target, stored_from_calendar_item(item))
            return updated.to_calendar_item()

    def delete_item(self, address: str, item_id: str) -> None:
        """Delete ``item_id`` (to Deleted Items; an occurrence leaves its series)."""
        with self._state.lock:
            mailbox = self._mailbox(address)
            mailbox.remove(self._live(mailbox, item_id))

    def calendar_items(self, address: str, window: Window | None = None) -> list[CalendarItem]:
        """What the user sees: singles, occurrences and exceptions (in ``window``)."""
        with self._state.lock:
            items = [stored.to_calendar_item() for stored in self._mailbox(address).expanded()]
        if window is not None:
            items = [item for item in items if window.contains(item)]
        return sorted(items, key=lambda item: (str(item.start), item.id or ""))

    def get_item(self, address: str, item_id: str) -> CalendarItem | None:
        """The item with ``item_id`` if it is in the calendar, else ``None``."""
        with self._state.lock:
            stored = self._mailbox(address).lookup(item_id)
            if stored is None or stored.folder != "calendar":
                return None
            return stored.to_calendar_item()

    # --- internals -------------------------------------------------------------

    def _primary(self) -> set[str]:
        return {mailbox.address for mailbox in self._state.mailboxes.values()}

    def _mailbox(self, address: str) -> FakeMailbox:
        mailbox = self._state.mailbox(address)
        if mailbox is None:
            raise NotFound(f"FakeEwsServer has no mailbox {address!r}", backend="ews")
        return mailbox

    @staticmethod
    def _live(mailbox: FakeMailbox, item_id: str) -> StoredItem:
        stored = mailbox.lookup(item_id)
        if stored is None or stored.folder != "calendar":
            raise NotFound(f"no item {item_id!r} in {mailbox.address}", backend="ews")
        return stored
