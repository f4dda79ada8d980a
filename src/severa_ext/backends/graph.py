"""The Microsoft Graph calendar backend (Exchange Online, S7).

:class:`GraphBackend` syncs one mailbox's default calendar through Microsoft Graph:

* **Changes** come from ``calendarView/delta`` over the sync window. Pages are
  followed through ``@odata.nextLink`` to the ``@odata.deltaLink``, which becomes the
  cursor only once the whole round has been read. ``@removed`` entries are reported
  as removed ids (the engine turns them into deletes only for items it knows, and asks
  :meth:`GraphBackend.get` to tell a delete from a move out of the window); replays
  and duplicates within a round are folded. A lost delta token (410,
  ``syncStateNotFound``, ``resyncRequired``) starts a full round, which cannot
  duplicate anything because the engine links by sync key and fingerprint (S3).
* **Writes** stamp the sync key twice: as ``transactionId`` (Graph refuses a second
  create with the same one) and as a single-value extended property that
  :meth:`GraphBackend.find` filters on. Updates and deletes send ``If-Match``; a stale
  etag becomes :class:`~severa_ext.errors.VersionConflict`. :meth:`GraphBackend.apply_batch`
  sends up to 20 writes per JSON ``$batch`` and matches the answers by id; a write
  throttled inside the batch comes back as its own
  :class:`~severa_ext.errors.Throttled` result.
* **No waiting here**: the backend never sleeps and never retries (bar one fresh
  token after a 401); throttling is :class:`~severa_ext.errors.Throttled` with the
  server's ``Retry-After`` and the engine decides when to try again.
* **Untrusted answers**: every answer is read under the backend's
  :class:`~severa_ext.backends._http.HttpLimits` (body size after decompression, a
  total deadline per call, JSON depth, pages per round). ``@odata.nextLink`` and
  ``@odata.deltaLink`` are followed and stored only on the base URL's origin (the
  bearer token never goes to another host); a round that revisits a page is a
  :class:`~severa_ext.errors.MalformedResponse`; a stored cursor on another origin
  gives a full round instead of a request.
* **One version, one content**: a delta entry that leaves out a property the item
  maps (``body``, ``subject``, ...) is completed with a ``$batch`` GET before it is
  mapped, so a delta and :meth:`GraphBackend.get` of the same version give the
  same item.
* **Auth** comes from a ``TokenProvider`` (msal app-only or delegated, or the host's
  own); tokens never appear in reprs, logs or the journal.
* At most four requests are in flight per mailbox, every call has a timeout, and
  every error is one of :mod:`severa_ext.errors`, carrying Graph's error ``code``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import attrs
import requests

from severa_ext.backends._cursor import JsonCursor
from severa_ext.backends._graph_auth import (
    GRAPH_DEFAULT_SCOPE,
    ClientCredentialsTokenProvider,
    DelegatedTokenProvider,
    StaticTokenProvider,
    TokenProvider,
)
from severa_ext.backends._graph_http import (
    PREFER_UTC,
    GraphResponse,
    GraphTransport,
    SyncStateLost,
    error_for,
)
from severa_ext.backends._graph_mapping import (
    MAPPED_PROPERTIES,
    SYNC_KEY_PROPERTY_ID,
    event_to_item,
    item_to_event,
    sync_key_filter,
)
from severa_ext.backends._http import HttpLimits, same_origin
from severa_ext.backends.base import CreateOp, DeleteOp, UpdateOp, WriteOp, WriteResult
from severa_ext.errors import (
    AuthError,
    BackendError,
    BackendUnavailable,
    BadItem,
    ConfigError,
    MalformedResponse,
    NotFound,
    Throttled,
    ValidationError,
)
from severa_ext.sync.activation import MailboxProbe, ProbeStatus
from severa_ext.sync.items import CalendarItem, Capabilities, ChangeSet, Window

__all__ = [
    "GRAPH_BASE_URL",
    "GRAPH_DEFAULT_SCOPE",
    "ClientCredentialsTokenProvider",
    "DelegatedTokenProvider",
    "GraphBackend",
    "GraphCursor",
    "StaticTokenProvider",
    "TokenProvider",
]

logger = logging.getLogger(__name__)

GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
"""The global Graph endpoint; national clouds and fakes pass their own ``base_url``."""

MAX_BATCH = 20  # Graph's JSON batch limit
_EXPAND_SYNC_KEY = f"singleValueExtendedProperties($filter=id eq '{SYNC_KEY_PROPERTY_ID}')"
_PURPOSE_STATUS = {
    "room": ProbeStatus.ROOM_MAILBOX,
    "equipment": ProbeStatus.ROOM_MAILBOX,
    "shared": ProbeStatus.SHARED_MAILBOX,
}


@attrs.frozen
class GraphCursor(JsonCursor):
    """The stored cursor: the window the delta round was made for, and its deltaLink.

    A delta token belongs to one window; a cursor for another window starts a full
    round.
    """

    kind: ClassVar[str] = "a Graph cursor"

    start: datetime
    end: datetime
    delta_link: str


def _link(value: object, ref: str) -> str:
    if not isinstance(value, str):
        raise MalformedResponse(f"graph {ref}: a link that is not a string", backend="graph")
    return value


def _graph_instant(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _etag_header(etag: str | None) -> dict[str, str]:
    return {"If-Match": etag} if etag else {}


class GraphBackend:
    """One mailbox's calendar through Microsoft Graph.

    Args:
        mailbox: the user's address or id (``alice@contoso.com``).
        tokens: where bearer tokens come from (a ``TokenProvider``).
        session: the ``requests.Session`` to use; a new one by default (closed by
            :meth:`close` only if the backend made it).
        base_url: the Graph endpoint with its version (national clouds, a fake server).
        timeout: seconds for connecting and for reading, on every call.
        max_in_flight: the most concurrent requests against the mailbox (Exchange
            Online allows 4).
        page_size: ``Prefer: odata.maxpagesize`` for delta rounds and lookups.
        batch_size: writes per ``$batch`` call (at most 20).
        limits: what an answer may be (body bytes, total seconds per call, pages per
            round, JSON depth); ``HttpLimits()`` by default.
        resolve_sync_keys: read the sync-key property of listed events that lack a
            ``transactionId`` (copies other tools made, S3); one ``$batch`` GET per 20
            such events. Switch off to save requests when no other tool copies events.

    Raises:
        ConfigError: an empty mailbox or a batch size outside 1..20.
    """

    def __init__(
        self,
        mailbox: str,
        tokens: TokenProvider,
        *,
        session: requests.Session | None = None,
        base_url: str = GRAPH_BASE_URL,
        timeout: float = 30.0,
        max_in_flight: int = 4,
        page_size: int = 100,
        batch_size: int = MAX_BATCH,
        limits: HttpLimits | None = None,
        resolve_sync_keys: bool = True,
    ) -> None:
        if not mailbox.strip():
            raise ConfigError("GraphBackend needs a mailbox address")
        if not 1 <= batch_size <= MAX_BATCH:
            raise ConfigError(f"batch_size must be 1..{MAX_BATCH}, got {batch_size}")
        if max_in_flight < 1 or page_size < 1 or timeout <= 0:
            raise ConfigError("max_in_flight, page_size and timeout must be positive")
        self.mailbox = mailbox.strip()
        self._own_session = session is None
        self._transport = GraphTransport(
            tokens,
            session if session is not None else requests.Session(),
            base_url,
            timeout=timeout,
            max_in_flight=max_in_flight,
            mailbox=self.mailbox,
            limits=limits,
        )
        self._limits = self._transport.limits
        self._page_size = page_size
        self._batch_size = batch_size
        self._resolve_sync_keys = resolve_sync_keys
        self._capabilities = Capabilities(
            delta=True,
            batch_size=batch_size,
            read_only=False,
            sync_key_lookup=True,
            max_in_flight=max_in_flight,
        )

    def __repr__(self) -> str:
        return f"GraphBackend(mailbox={self.mailbox!r}, base_url={self._transport.base_url!r})"

    # --- protocol properties -------------------------------------------------

    @property
    def name(self) -> str:
        """``graph:<mailbox>``."""
        return f"graph:{self.mailbox}"

    @property
    def capabilities(self) -> Capabilities:
        """Delta, batches of up to 20, sync-key lookup on the server."""
        return self._capabilities

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent so far (batches count once)."""
        return self._transport.requests_sent

    @property
    def bytes_sent(self) -> int:
        """Request body bytes sent so far."""
        return self._transport.bytes_sent

    def _user_path(self, mailbox: str | None = None) -> str:
        return f"users/{quote(mailbox or self.mailbox, safe='@')}"

    # --- reading -------------------------------------------------------------

    def changes(self, cursor: str | None, window: Window) -> ChangeSet:
        """Items changed in ``window`` since ``cursor`` (a full round without one).

        A cursor from another window, an unreadable cursor or a lost delta token
        gives a full round (``full=True``).

        Raises:
            Throttled: Graph asked to slow down (429/503/504).
            BackendUnavailable: the network or the server failed.
            AuthError: the token or the mailbox access was refused.
            NotFound: no such user or no licensed mailbox.
        """
        link = self._stored_link(cursor, window)
        if link is not None:
            try:
                return self._delta_round(link, window, full=False)
            except SyncStateLost as exc:
                logger.warning(
                    "graph %s: delta token lost (%s); full resync", self.mailbox, exc.code
                )
        start = (
            f"{self._user_path()}/calendarView/delta?startDateTime={_graph_instant(window.start)}"
            f"&endDateTime={_graph_instant(window.end)}"
        )
        return self._delta_round(start, window, full=True)

    def _stored_link(self, cursor: str | None, window: Window) -> str | None:
        """The deltaLink of a stored cursor, if it is readable, of this window and ours.

        A cursor whose link points at another origin (an edited state file) is never
        followed: the round starts over from the base URL.
        """
        if cursor is None:
            return None
        try:
            stored = GraphCursor.decode(cursor)
        except ValidationError:
            logger.warning("graph %s: unreadable cursor; full round", self.mailbox)
            return None
        if (stored.start, stored.end) != (window.start, window.end):
            logger.info("graph %s: window moved; full round", self.mailbox)
            return None
        if not same_origin(stored.delta_link, self._transport.base_url):
            logger.warning(
                "graph %s: the stored delta link is not on %s; full round",
                self.mailbox,
                self._transport.base_url,
            )
            return None
        return stored.delta_link

    def _pages(
        self, url: str, *, ref: str, params: dict[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """The pages of one listing, following ``@odata.nextLink`` within the limits.

        Raises:
            MalformedResponse: a page is not ``{"value": [...]}``, a link leaves the
                base URL's origin, a next link repeats a page of this round, or the
                round has more than ``limits.max_pages`` pages.
        """
        headers = {"Prefer": f"odata.maxpagesize={self._page_size}"}
        seen = {url}
        for _page in range(self._limits.max_pages):
            body = self._transport.request("GET", url, ref=ref, params=params, headers=headers).body
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                raise MalformedResponse(
                    f"graph {ref}: page without a 'value' list", backend="graph"
                )
            yield body
            next_link = body.get("@odata.nextLink")
            if next_link is None:
                return
            url = self._transport.url(_link(next_link, ref))
            if url in seen:
                raise MalformedResponse(
                    f"graph {ref}: the next link repeats a page of this round (a paging loop)",
                    backend="graph",
                    code="paging-loop",
                )
            seen.add(url)
            params = None
        raise MalformedResponse(
            f"graph {ref}: more than {self._limits.max_pages} pages in one round",
            backend="graph",
            code="too-many-pages",
        )

    def _delta_round(self, url: str, window: Window, *, full: bool) -> ChangeSet:
        seen: dict[str, Any] = {}
        removed: dict[str, None] = {}
        pages = 0
        delta_link: str | None = None
        for body in self._pages(url, ref="delta"):
            pages += 1
            for entry in body["value"]:
                if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                    raise MalformedResponse("graph delta: entry without an id", backend="graph")
                event_id = entry["id"]
                # Later entries of a round win: replays and duplicates fold.
                if "@removed" in entry:
                    seen.pop(event_id, None)
                    removed[event_id] = None
                else:
                    removed.pop(event_id, None)
                    seen[event_id] = entry
            if "@odata.deltaLink" in body:
                delta_link = self._transport.url(_link(body["@odata.deltaLink"], "delta"))
        if delta_link is None:
            raise MalformedResponse(
                "graph delta: page with neither nextLink nor deltaLink", backend="graph"
            )
        for event_id in [i for i, raw in seen.items() if raw.get("isCancelled")]:
            del seen[event_id]
            removed[event_id] = None
        pages += self._complete(seen)
        items = []
        for event_id, raw in seen.items():
            if raw.get("type") == "seriesMaster":
                removed[event_id] = None
                continue
            try:
                items.append(event_to_item(raw))
            except BadItem as exc:
                logger.warning("graph %s: skipping unreadable event: %s", self.mailbox, exc)
        logger.info(
            "graph %s: %s round, %d pages, %d items, %d removed",
            self.mailbox,
            "full" if full else "delta",
            pages,
            len(items),
            len(removed),
        )
        cursor = GraphCursor(window.start, window.end, delta_link).encode()
        # ChangeSet converts with ``tuple``, which attrs' mypy plugin cannot type.
        fields: dict[str, Any] = {"items": tuple(items), "removed": () if full else tuple(removed)}
        return ChangeSet(
            **fields,
            cursor=cursor,
            full=full,
        )

    def _wanted(self, raw: dict[str, Any]) -> tuple[str, ...]:
        """What a delta entry lacks: mapped properties it left out, and its sync key.

        Delta rounds may leave out properties (Graph documents that a delta answer
        need not carry every property), and never return extended properties: an
        event without a ``transactionId`` was not created by the engine, but another
        tool may have copied one of ours with its sync key (S3).
        """
        if raw.get("type") == "seriesMaster":
            return ()
        missing = tuple(name for name in MAPPED_PROPERTIES if name not in raw)
        if self._resolve_sync_keys and not raw.get("transactionId"):
            missing += ("singleValueExtendedProperties",)
        return missing

    def _complete(self, seen: dict[str, Any]) -> int:
        """Fetch what delta entries left out (``$batch`` GETs, 20 per call).

        An entry whose event is gone meanwhile is dropped (the next round reports the
        removal). Returns the number of calls made.

        Raises:
            Throttled: Graph throttled a lookup (the round is read again later).
        """
        wanted = {event_id: self._wanted(raw) for event_id, raw in seen.items()}
        pending = [event_id for event_id, names in wanted.items() if names]
        calls = 0
        for offset in range(0, len(pending), self._batch_size):
            chunk = pending[offset : offset + self._batch_size]
            payload = {"requests": [self._lookup(str(n), i) for n, i in enumerate(chunk)]}
            response = self._transport.request("POST", "$batch", ref="lookup", json_body=payload)
            calls += 1
            answers = self._batch_answers(response)
            for n, event_id in enumerate(chunk):
                inner = answers.get(str(n))
                if inner is None or inner.status >= 400 or not isinstance(inner.body, dict):
                    self._lookup_failed(seen, event_id, inner)
                    continue
                fetched = {k: v for k, v in inner.body.items() if k in wanted[event_id]}
                seen[event_id] = {**seen[event_id], **fetched}
        return calls

    def _lookup_failed(
        self, seen: dict[str, Any], event_id: str, inner: GraphResponse | None
    ) -> None:
        """Handle a failed lookup of a delta entry.

        Gone meanwhile (404): the entry is dropped, the next round reports the removal.
        Throttled or unavailable: the round fails and is read again later. Anything
        else (a refusal of this one event): the entry is kept as delta gave it.

        Raises:
            Throttled, BackendUnavailable: a transient failure of the lookup.
        """
        error = (
            error_for(inner, ref=event_id)
            if inner is not None
            else MalformedResponse(f"graph lookup: no answer for {event_id!r}", backend="graph")
        )
        if isinstance(error, NotFound):
            seen.pop(event_id)
        elif isinstance(error, Throttled | BackendUnavailable | MalformedResponse):
            raise error
        else:
            logger.warning("graph %s: lookup of %s refused: %s", self.mailbox, event_id, error)

    def _lookup(self, request_id: str, event_id: str) -> dict[str, Any]:
        """One ``$batch`` GET of an event's mapped properties and sync key."""
        select = ",".join(("id", *MAPPED_PROPERTIES))
        return {
            "id": request_id,
            "method": "GET",
            "url": f"/{self._user_path()}/events/{quote(event_id, safe='')}"
            f"?$select={select}&$expand={_EXPAND_SYNC_KEY}",
            "headers": {"Prefer": PREFER_UTC},
        }

    def get(self, item_id: str) -> CalendarItem | None:
        """The event ``item_id``, or ``None`` when it no longer exists."""
        try:
            response = self._transport.request(
                "GET",
                f"{self._user_path()}/events/{quote(item_id, safe='')}",
                ref=item_id,
                params={"$expand": _EXPAND_SYNC_KEY},
            )
        except NotFound:
            return None
        return event_to_item(response.body)

    def find(self, sync_key: str) -> tuple[CalendarItem, ...]:
        """Every event stamped with ``sync_key`` (filtered on the extended property)."""
        params = {"$filter": sync_key_filter(sync_key), "$expand": _EXPAND_SYNC_KEY}
        pages = self._pages(f"{self._user_path()}/events", ref=f"find {sync_key}", params=params)
        return tuple(event_to_item(raw) for body in pages for raw in body["value"])

    # --- writing -------------------------------------------------------------

    def create(self, item: CalendarItem, sync_key: str) -> CalendarItem:
        """Create ``item`` stamped with ``sync_key`` (idempotent through ``transactionId``)."""
        response = self._transport.request(
            "POST",
            f"{self._user_path()}/events",
            ref=f"create {sync_key}",
            json_body=item_to_event(item, sync_key=sync_key),
        )
        return event_to_item(response.body)

    def update(self, item_id: str, item: CalendarItem, if_match: str | None) -> CalendarItem:
        """Replace the content of ``item_id`` if its etag is still ``if_match``."""
        response = self._transport.request(
            "PATCH",
            f"{self._user_path()}/events/{quote(item_id, safe='')}",
            ref=item_id,
            json_body=item_to_event(item),
            headers=_etag_header(if_match),
        )
        return event_to_item(response.body)

    def delete(self, item_id: str, if_match: str | None) -> None:
        """Delete ``item_id`` if its etag is still ``if_match``."""
        self._transport.request(
            "DELETE",
            f"{self._user_path()}/events/{quote(item_id, safe='')}",
            ref=item_id,
            headers=_etag_header(if_match),
        )

    def _batch_request(self, request_id: str, op: WriteOp) -> dict[str, Any]:
        events = f"/{self._user_path()}/events"
        if isinstance(op, CreateOp):
            return {
                "id": request_id,
                "method": "POST",
                "url": events,
                "headers": {"Content-Type": "application/json", "Prefer": PREFER_UTC},
                "body": item_to_event(op.item, sync_key=op.sync_key),
            }
        path = f"{events}/{quote(op.item_id, safe='')}"
        if isinstance(op, UpdateOp):
            return {
                "id": request_id,
                "method": "PATCH",
                "url": path,
                "headers": {
                    "Content-Type": "application/json",
                    "Prefer": PREFER_UTC,
                    **_etag_header(op.if_match),
                },
                "body": item_to_event(op.item),
            }
        return {
            "id": request_id,
            "method": "DELETE",
            "url": path,
            "headers": _etag_header(op.if_match),
        }

    @staticmethod
    def _op_ref(op: WriteOp) -> str:
        return f"create {op.sync_key}" if isinstance(op, CreateOp) else op.item_id

    def _result(self, op: WriteOp, inner: GraphResponse) -> WriteResult:
        if inner.status >= 400:
            return WriteResult(op, error=error_for(inner, ref=self._op_ref(op)))
        if isinstance(op, DeleteOp):
            return WriteResult(op, None)
        try:
            return WriteResult(op, event_to_item(inner.body))
        except BadItem as exc:
            return WriteResult(op, error=exc)

    def apply_batch(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Apply writes through JSON ``$batch`` (20 per call); one result per op, in order.

        The outer 200 hides inner failures: each inner answer is matched by its id and
        mapped on its own, so a write throttled inside the batch is a
        :class:`~severa_ext.errors.Throttled` result with its ``Retry-After`` (the
        engine retries it; this backend never waits).
        """
        results: dict[int, WriteResult] = {}
        for offset in range(0, len(ops), self._batch_size):
            chunk = {offset + i: op for i, op in enumerate(ops[offset : offset + self._batch_size])}
            try:
                results.update(self._run_batch(chunk))
            except BackendError as exc:
                # The whole call failed (throttled, unreachable): every op of the chunk
                # carries the error; earlier chunks keep theirs.
                results.update({index: WriteResult(op, error=exc) for index, op in chunk.items()})
        return [results[index] for index in range(len(ops))]

    def _run_batch(self, chunk: dict[int, WriteOp]) -> dict[int, WriteResult]:
        payload = {"requests": [self._batch_request(str(index), op) for index, op in chunk.items()]}
        response = self._transport.request(
            "POST", "$batch", ref=f"batch of {len(chunk)}", json_body=payload
        )
        answers = self._batch_answers(response)
        results: dict[int, WriteResult] = {}
        for index, op in chunk.items():
            inner = answers.get(str(index))
            if inner is None:
                missing = MalformedResponse(
                    f"graph batch: no answer for request {index}", backend="graph"
                )
                results[index] = WriteResult(op, error=missing)
            else:
                results[index] = self._result(op, inner)
        return results

    @staticmethod
    def _batch_answers(response: GraphResponse) -> dict[str, GraphResponse]:
        body = response.body
        if not isinstance(body, dict) or not isinstance(body.get("responses"), list):
            raise MalformedResponse("graph batch: no 'responses' list", backend="graph")
        answers: dict[str, GraphResponse] = {}
        for raw in body["responses"]:
            if not isinstance(raw, dict) or "id" not in raw or "status" not in raw:
                raise MalformedResponse("graph batch: an answer without id/status", backend="graph")
            headers = raw.get("headers") if isinstance(raw.get("headers"), dict) else {}
            try:
                status = int(raw["status"])
            except (TypeError, ValueError) as exc:
                raise MalformedResponse(
                    "graph batch: a non-numeric status", backend="graph"
                ) from exc
            answers[str(raw["id"])] = GraphResponse(status, headers or {}, raw.get("body"))
        return answers

    # --- activation ------------------------------------------------------------

    def probe(self, mailbox: str | None = None) -> MailboxProbe:
        """Check that ``mailbox`` (default: this backend's) can be synced.

        Looks the user up (addresses and proxy addresses, S5), reads the mailbox's
        purpose (Bookings and other non-user mailboxes are refused, S4) and opens
        its calendar (licence, on-premises, application access policy). Never raises
        for what it finds: the answer is a ``MailboxProbe`` for
        ``severa_ext.sync.activation``.
        """
        target = (mailbox or self.mailbox).strip()
        user_path = self._user_path(target)
        addresses: list[str] = [target]
        try:
            user = self._transport.request(
                "GET",
                user_path,
                ref=f"probe {target}",
                params={"$select": "id,mail,userPrincipalName,proxyAddresses"},
            ).body
            if isinstance(user, dict):
                for key in ("mail", "userPrincipalName"):
                    if isinstance(user.get(key), str):
                        addresses.append(user[key])
                addresses.extend(str(a) for a in user.get("proxyAddresses") or ())
        except NotFound as exc:
            return MailboxProbe(target, ProbeStatus.UNKNOWN_USER, detail=str(exc), code=exc.code)
        except AuthError as exc:
            if exc.code not in {"Authorization_RequestDenied", "ErrorAccessDenied"}:
                return self._failed_probe(target, exc)
            # No User.Read.All: the user's addresses stay unknown; go on to the calendar.
        except BackendError as exc:
            return self._failed_probe(target, exc)
        try:
            settings = self._transport.request(
                "GET",
                f"{user_path}/mailboxSettings",
                ref=f"probe {target}",
                params={"$select": "userPurpose"},
            ).body
            purpose = settings.get("userPurpose") if isinstance(settings, dict) else None
            if purpose == "others":
                return MailboxProbe(
                    target,
                    ProbeStatus.BOOKINGS,
                    addresses,
                    detail="the mailbox is a scheduling (Microsoft Bookings) mailbox",
                )
            status = _PURPOSE_STATUS.get(str(purpose))
            if status is not None:
                return MailboxProbe(
                    target,
                    status,
                    addresses,
                    detail=f"the mailbox is a {purpose} mailbox, not a user's",
                )
        except AuthError as exc:
            if exc.code not in {"Authorization_RequestDenied", "ErrorAccessDenied"}:
                return self._failed_probe(target, exc, addresses)
        except BackendError as exc:
            return self._failed_probe(target, exc, addresses)
        try:
            self._transport.request(
                "GET", f"{user_path}/calendar", ref=f"probe {target}", params={"$select": "id"}
            )
        except BackendError as exc:
            return self._failed_probe(target, exc, addresses)
        return MailboxProbe(target, ProbeStatus.OK, tuple(dict.fromkeys(addresses)))

    @staticmethod
    def _failed_probe(
        target: str, exc: BackendError, addresses: Sequence[str] = ()
    ) -> MailboxProbe:
        code = exc.code
        if code == "MailboxNotEnabledForRESTAPI":
            status = ProbeStatus.NO_MAILBOX
        elif isinstance(exc, NotFound):
            status = (
                ProbeStatus.UNKNOWN_USER
                if code
                in {None, "Request_ResourceNotFound", "ErrorInvalidUser", "ResourceNotFound"}
                else ProbeStatus.NO_MAILBOX
            )
        elif isinstance(exc, AuthError):
            status = (
                ProbeStatus.ACCESS_DENIED
                if code in {"ErrorAccessDenied", "Authorization_RequestDenied"}
                else ProbeStatus.BAD_CREDENTIALS
            )
        else:
            status = ProbeStatus.UNAVAILABLE
        return MailboxProbe(target, status, tuple(addresses), detail=str(exc), code=code)

    def flush(self) -> None:
        """Nothing to buffer: every write is sent to Graph at once (a no-op)."""

    def close(self) -> None:
        """Close the HTTP session if the backend created it."""
        if self._own_session:
            self._transport.session.close()

    def __enter__(self) -> GraphBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
