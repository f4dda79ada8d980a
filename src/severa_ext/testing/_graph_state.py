"""The in-memory tenant behind ``FakeGraphServer``: users, mailboxes, events, deltas.

Everything here works on decoded JSON values; the HTTP layer (``graph_server``) parses
requests and writes responses. :meth:`Tenant.route` answers one Graph request
(also each inner request of a ``$batch``) with ``(status, headers, body)``.
"""

from __future__ import annotations

import copy
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import attrs
from tzlocal.windows_tz import tz_win

from severa_ext.clock import Clock, SystemClock
from severa_ext.testing._graph_wire import html_text, instant, zone_of

__all__ = ["Answer", "ChangeListener", "FakeMailbox", "Tenant", "graph_error"]

Answer = tuple[int, dict[str, str], Any]
"""``(status, headers, JSON body or None)``."""

ChangeListener = Callable[["FakeMailbox", str, str], None]
"""Called under the tenant lock with ``(mailbox, event id, "created" | "updated" |
"deleted")`` after every change of an event."""

_FILTER = re.compile(
    r"^\s*singleValueExtendedProperties/Any\(\s*ep\s*:\s*ep/id eq '(?P<id>(?:[^']|'')*)'"
    r" and ep/value eq '(?P<value>(?:[^']|'')*)'\s*\)\s*$",
    re.IGNORECASE,
)
_WRITABLE = (
    "subject",
    "body",
    "start",
    "end",
    "location",
    "isAllDay",
    "sensitivity",
    "showAs",
    "categories",
    "isReminderOn",
    "importance",
)


def graph_error(status: int, code: str, message: str, **headers: str) -> Answer:
    """A Graph error answer: ``{"error": {"code", "message"}}``."""
    return status, dict(headers), {"error": {"code": code, "message": message}}


def _stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def _normalize(address: str) -> str:
    text = address.strip()
    if text[:5].lower() == "smtp:":
        text = text[5:]
    return text.lower()


@attrs.define
class FakeMailbox:
    """One user of the fake tenant and (usually) their mailbox.

    Attributes:
        address: the primary SMTP address (also the user principal name).
        proxy_addresses: further addresses, Exchange style (``smtp:alias@x``).
        has_mailbox: False gives ``MailboxNotEnabledForRESTAPI`` (no licence, S4).
        access: False gives ``ErrorAccessDenied`` (an application access policy).
        purpose: ``mailboxSettings.userPurpose``; ``"others"`` is a Bookings mailbox.
    """

    address: str
    proxy_addresses: tuple[str, ...] = ()
    has_mailbox: bool = True
    access: bool = True
    purpose: str = "user"
    id: str = attrs.field(factory=lambda: secrets.token_hex(16))
    events: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    props: dict[str, dict[str, str]] = attrs.field(factory=dict)
    transactions: dict[str, str] = attrs.field(factory=dict)
    log: list[tuple[int, str]] = attrs.field(factory=list)

    def names(self) -> set[str]:
        """Every address and id that reaches this mailbox (normalised)."""
        return {_normalize(self.address), self.id.lower()} | {
            _normalize(a) for a in self.proxy_addresses
        }


@attrs.define
class _Round:
    mailbox: str
    start: datetime
    end: datetime
    seq: int
    remaining: list[dict[str, Any]]


class Tenant:
    """The fake tenant's state; thread-safe (one lock around every request)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.lock = threading.RLock()
        self.mailboxes: dict[str, FakeMailbox] = {}
        self.seq = 0
        self.delta_tokens: dict[str, tuple[str, datetime, datetime, int]] = {}
        self.rounds: dict[str, _Round] = {}
        self.lost_delta: tuple[int, str] | None = None
        self.replay_delta = False
        self.delta_omits: frozenset[str] = frozenset()
        self.base_url = ""
        self.listeners: list[ChangeListener] = []

    # --- set-up ------------------------------------------------------------

    def add(self, mailbox: FakeMailbox) -> FakeMailbox:
        """Add a user/mailbox."""
        with self.lock:
            self.mailboxes[mailbox.address.lower()] = mailbox
            return mailbox

    def mailbox(self, name: str) -> FakeMailbox | None:
        """The mailbox reached by an address, a proxy address or an id."""
        wanted = _normalize(unquote(name))
        with self.lock:
            for box in self.mailboxes.values():
                if wanted in box.names():
                    return box
        return None

    def _touch(self, box: FakeMailbox, event_id: str, change: str) -> None:
        self.seq += 1
        box.log.append((self.seq, event_id))
        for listener in self.listeners:
            listener(box, event_id, change)

    # --- events ------------------------------------------------------------

    def store_event(
        self,
        box: FakeMailbox,
        payload: Mapping[str, Any],
        *,
        event_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store a new event from a create payload; return the stored copy."""
        event_id = event_id or "AAMk" + secrets.token_urlsafe(24)
        now = self.clock.now()
        event: dict[str, Any] = {
            "id": event_id,
            "createdDateTime": _stamp(now.astimezone(UTC)),
            "type": "singleInstance",
            "sensitivity": "normal",
            "showAs": "busy",
            "isAllDay": False,
            "isCancelled": False,
            "categories": [],
            "subject": "",
            "body": {"contentType": "text", "content": ""},
            "location": {"displayName": ""},
            "seriesMasterId": None,
            "originalStart": None,
            "transactionId": payload.get("transactionId"),
        }
        for key in _WRITABLE:
            if key in payload:
                event[key] = copy.deepcopy(payload[key])
        event.update(extra or {})
        props = {
            str(p["id"]).lower(): str(p.get("value", ""))
            for p in payload.get("singleValueExtendedProperties") or ()
            if isinstance(p, dict) and "id" in p
        }
        if props:
            box.props[event_id] = props
        box.events[event_id] = event
        self._new_version(box, event, "created")
        if event.get("transactionId"):
            box.transactions[str(event["transactionId"])] = event_id
        return event

    def _new_version(self, box: FakeMailbox, event: dict[str, Any], change: str) -> None:
        change_key = secrets.token_urlsafe(12)
        event["changeKey"] = change_key
        event["@odata.etag"] = f'W/"{change_key}"'
        event["lastModifiedDateTime"] = _stamp(self.clock.now().astimezone(UTC))
        self._touch(box, event["id"], change)

    def patch_event(
        self, box: FakeMailbox, event: dict[str, Any], changes: Mapping[str, Any]
    ) -> None:
        """Apply a PATCH to a stored event."""
        for key in _WRITABLE:
            if key in changes:
                event[key] = copy.deepcopy(changes[key])
        if event.get("type") == "occurrence":
            event["type"] = "exception"
        self._new_version(box, event, "updated")

    def remove_event(self, box: FakeMailbox, event_id: str) -> None:
        """Delete an event (a series master takes its occurrences with it)."""
        event = box.events.pop(event_id, None)
        box.props.pop(event_id, None)
        self._touch(box, event_id, "deleted")
        if event is not None and event.get("type") == "seriesMaster":
            for other_id in [
                i for i, e in box.events.items() if e.get("seriesMasterId") == event_id
            ]:
                self.remove_event(box, other_id)

    @staticmethod
    def span(event: Mapping[str, Any]) -> tuple[datetime, datetime] | None:
        """The event's start and end as aware UTC datetimes (None if unparseable)."""
        try:
            return instant(event["start"]), instant(event["end"])
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def in_window(self, event: Mapping[str, Any], start: datetime, end: datetime) -> bool:
        """calendarView membership: overlaps ``[start, end)``; series masters never."""
        if event.get("type") == "seriesMaster":
            return False
        span = self.span(event)
        if span is None:
            return False
        if span[0] == span[1]:
            return start <= span[0] < end
        return span[0] < end and span[1] > start

    # --- rendering -----------------------------------------------------------

    def render(
        self,
        box: FakeMailbox,
        event: Mapping[str, Any],
        prefer: Mapping[str, str],
        *,
        expand: bool = False,
    ) -> dict[str, Any]:
        """The event as Graph returns it, honouring ``Prefer`` and ``$expand``."""
        out = copy.deepcopy(dict(event))
        zone_name = prefer.get("outlook.timezone")
        if zone_name and not out.get("isAllDay"):
            zone = zone_of(zone_name)
            span = self.span(out)
            if zone is not None and span is not None:
                label = tz_win.get(zone_name, zone_name)
                for key, value in zip(("start", "end"), span, strict=True):
                    local = value.astimezone(zone).replace(tzinfo=None)
                    out[key] = {
                        "dateTime": local.isoformat(timespec="microseconds") + "0",
                        "timeZone": label,
                    }
        body = out.get("body") or {}
        if prefer.get("outlook.body-content-type") == "text" and body.get("contentType") == "html":
            out["body"] = {"contentType": "text", "content": html_text(body.get("content", ""))}
        props = box.props.get(out["id"])
        if expand and props:
            out["singleValueExtendedProperties"] = [
                {"id": key, "value": value} for key, value in props.items()
            ]
        return out

    # --- delta ------------------------------------------------------------------

    def delta_start(self, box: FakeMailbox, start: datetime, end: datetime) -> str:
        """Begin a full round; return the skip token of its first page."""
        events = [e for e in box.events.values() if self.in_window(e, start, end)]
        events.sort(key=lambda e: e["id"])
        token = secrets.token_urlsafe(16)
        self.rounds[token] = _Round(box.address.lower(), start, end, self.seq, events)
        return token

    def delta_since(self, token: str) -> str | None:
        """Begin a delta round from a delta token; None if the token is unknown."""
        known = self.delta_tokens.get(token)
        if known is None:
            return None
        address, start, end, seq = known
        box = self.mailboxes[address]
        changed: dict[str, None] = {}
        for number, event_id in box.log:
            if number > seq:
                changed.pop(event_id, None)
                changed[event_id] = None
        entries: list[dict[str, Any]] = []
        for event_id in changed:
            event = box.events.get(event_id)
            if event is not None and self.in_window(event, start, end):
                entries.append(event)
            else:
                entries.append({"id": event_id, "@removed": {"reason": "deleted"}})
        skip = secrets.token_urlsafe(16)
        self.rounds[skip] = _Round(address, start, end, self.seq, entries)
        return skip

    def delta_page(
        self, skip: str, page_size: int, prefer: Mapping[str, str], path_prefix: str
    ) -> Answer:
        """One page of a round (a nextLink, or the deltaLink at the end)."""
        state = self.rounds.get(skip)
        if state is None:
            return graph_error(410, "syncStateNotFound", "The sync state is not found.")
        box = self.mailboxes[state.mailbox]
        page, state.remaining = state.remaining[:page_size], state.remaining[page_size:]
        value = []
        for entry in page:
            if "@removed" in entry:
                value.append(dict(entry))
            else:
                rendered = self.render(box, entry, prefer)
                # Graph's delta answers need not carry every property.
                value.append({k: v for k, v in rendered.items() if k not in self.delta_omits})
        body: dict[str, Any] = {"value": value}
        if state.remaining:
            if self.replay_delta and value:
                # Replays: the next page repeats this page's last entry (folded by clients).
                state.remaining.insert(0, page[-1])
            # Each page has its own skip token, as in Graph (a link names one page).
            following = secrets.token_urlsafe(16)
            self.rounds[following] = self.rounds.pop(skip)
            body["@odata.nextLink"] = f"{path_prefix}/calendarView/delta?$skiptoken={following}"
        else:
            del self.rounds[skip]
            token = secrets.token_urlsafe(16)
            self.delta_tokens[token] = (state.mailbox, state.start, state.end, state.seq)
            body["@odata.deltaLink"] = f"{path_prefix}/calendarView/delta?$deltatoken={token}"
        return 200, {}, body

    def lose_delta_tokens(self) -> None:
        """Forget every delta and skip token (the next delta call answers 410)."""
        self.delta_tokens.clear()
        self.rounds.clear()

    # --- the router --------------------------------------------------------------

    def route(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: Any,
    ) -> Answer:
        """Answer one Graph request; ``target`` is the path after ``/v1.0``, with query."""
        with self.lock:
            return self._route(method, target, headers, body)

    def _route(self, method: str, target: str, headers: Mapping[str, str], body: Any) -> Answer:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        segments = [unquote(s) for s in parts.path.strip("/").split("/") if s]
        prefer = _prefer(headers)
        if len(segments) < 2 or segments[0] != "users":
            return graph_error(400, "BadRequest", f"unsupported resource {parts.path!r}")
        box = self.mailbox(segments[1])
        rest = segments[2:]
        if box is None:
            code = "Request_ResourceNotFound" if not rest else "ErrorInvalidUser"
            return graph_error(
                404,
                code,
                f"Resource '{segments[1]}' does not exist or one of its queried "
                "reference-property objects are not present.",
            )
        if not rest:
            if method != "GET":
                return graph_error(405, "MethodNotAllowed", "only GET is supported here")
            return (
                200,
                {},
                {
                    "id": box.id,
                    "mail": box.address,
                    "userPrincipalName": box.address,
                    "proxyAddresses": [f"SMTP:{box.address}", *box.proxy_addresses],
                },
            )
        if not box.access:
            return graph_error(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        if not box.has_mailbox:
            return graph_error(
                404,
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            )
        prefix = f"{self.base_url}/users/{box.address}"
        head = rest[0]
        if head == "mailboxSettings" and method == "GET":
            return 200, {}, {"userPurpose": box.purpose, "timeZone": "UTC"}
        if head == "calendar" and len(rest) == 1 and method == "GET":
            return 200, {}, {"id": f"cal-{box.id}", "name": "Calendar", "canEdit": True}
        if head == "calendar" and len(rest) >= 2:
            rest = rest[1:]
            head = rest[0]
        if head == "calendarView" and len(rest) == 2 and rest[1] == "delta" and method == "GET":
            return self._delta(box, query, prefer, prefix)
        if head == "events":
            if len(rest) == 1:
                if method == "POST":
                    return self._create(box, body, prefer)
                if method == "GET":
                    return self._list(box, query, prefer)
            elif len(rest) == 2:
                return self._item(
                    box, method, rest[1], headers=headers, body=body, prefer=prefer, query=query
                )
        return graph_error(400, "BadRequest", f"unsupported request {method} {parts.path}")

    def _delta(
        self, box: FakeMailbox, query: Mapping[str, str], prefer: Mapping[str, str], prefix: str
    ) -> Answer:
        page_size = _page_size(prefer)
        if "$skiptoken" in query:
            return self.delta_page(query["$skiptoken"], page_size, prefer, prefix)
        if "$deltatoken" in query:
            if self.lost_delta is not None:
                (status, code), self.lost_delta = self.lost_delta, None
                return graph_error(status, code, "The sync state generation is not found.")
            skip = self.delta_since(query["$deltatoken"])
            if skip is None:
                return graph_error(410, "syncStateNotFound", "The sync state is not found.")
            return self.delta_page(skip, page_size, prefer, prefix)
        try:
            start = datetime.fromisoformat(query["startDateTime"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(query["endDateTime"].replace("Z", "+00:00"))
        except (KeyError, ValueError):
            return graph_error(
                400,
                "ErrorInvalidParameter",
                "calendarView needs startDateTime and endDateTime in ISO 8601",
            )
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        if end.tzinfo is None:
            end = end.replace(tzinfo=UTC)
        skip = self.delta_start(box, start, end)
        return self.delta_page(skip, page_size, prefer, prefix)

    def _create(self, box: FakeMailbox, body: Any, prefer: Mapping[str, str]) -> Answer:
        problem = _validate(body, create=True)
        if problem:
            return graph_error(400, "ErrorInvalidRequest", problem)
        transaction = body.get("transactionId")
        existing = (
            box.events.get(box.transactions.get(str(transaction), "")) if transaction else None
        )
        if existing is not None:
            return 201, {}, self.render(box, existing, prefer)
        event = self.store_event(box, body)
        return 201, {}, self.render(box, event, prefer)

    def _list(
        self, box: FakeMailbox, query: Mapping[str, str], prefer: Mapping[str, str]
    ) -> Answer:
        wanted: tuple[str, str] | None = None
        if "$filter" in query:
            match = _FILTER.match(query["$filter"])
            if match is None:
                return graph_error(400, "ErrorInvalidUrlQueryFilter", "unsupported $filter")
            wanted = (
                match.group("id").replace("''", "'").lower(),
                match.group("value").replace("''", "'"),
            )
        expand = "$expand" in query
        value = []
        for event_id, event in sorted(box.events.items()):
            if wanted is not None and box.props.get(event_id, {}).get(wanted[0]) != wanted[1]:
                continue
            value.append(self.render(box, event, prefer, expand=expand))
        return 200, {}, {"value": value}

    def _item(
        self,
        box: FakeMailbox,
        method: str,
        event_id: str,
        *,
        headers: Mapping[str, str],
        body: Any,
        prefer: Mapping[str, str],
        query: Mapping[str, str],
    ) -> Answer:
        event = box.events.get(event_id)
        if event is None:
            return graph_error(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        if method == "GET":
            return 200, {}, self.render(box, event, prefer, expand="$expand" in query)
        if_match = _header(headers, "If-Match")
        if if_match and if_match not in {event["@odata.etag"], event["changeKey"], "*"}:
            return graph_error(
                412,
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key "
                "passed in the request does not match the current change key for the item.",
            )
        if method == "PATCH":
            problem = _validate(body, create=False)
            if problem:
                return graph_error(400, "ErrorInvalidRequest", problem)
            self.patch_event(box, event, body)
            return 200, {}, self.render(box, event, prefer)
        if method == "DELETE":
            self.remove_event(box, event_id)
            return 204, {}, None
        return graph_error(405, "MethodNotAllowed", f"{method} is not supported on an event")


def _validate(body: Any, *, create: bool) -> str | None:
    if not isinstance(body, dict):
        return "the request body must be a JSON object"
    for key in ("start", "end"):
        if create and key not in body:
            return f"an event needs '{key}'"
        if key in body and (not isinstance(body[key], dict) or "dateTime" not in body[key]):
            return f"'{key}' must be a dateTimeTimeZone"
    span = Tenant.span(body) if "start" in body and "end" in body else None
    if "start" in body and "end" in body:
        if span is None:
            return "start/end do not parse"
        if span[1] < span[0]:
            return "The end time of the event must be after the start time."
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _prefer(headers: Mapping[str, str]) -> dict[str, str]:
    prefs: dict[str, str] = {}
    for key, value in headers.items():
        if key.lower() != "prefer":
            continue
        for part in str(value).split(","):
            name, _, setting = part.strip().partition("=")
            prefs[name.strip().lower()] = setting.strip().strip('"')
    return prefs


def _page_size(prefer: Mapping[str, str]) -> int:
    try:
        return max(1, int(prefer.get("odata.maxpagesize", "10")))
    except ValueError:
        return 10
