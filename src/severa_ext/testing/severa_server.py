"""A fake Severa REST API over real HTTP on 127.0.0.1.

:class:`FakeSeveraServer` is a threaded ``http.server`` that keeps organisations,
users, activity types and activities in memory and answers the calendar-sync subset
of Severa's published REST API in its documented shapes, under
``http://127.0.0.1:<port>/rest-api``:

* ``POST /v1/token`` (``{client_id, client_secret, scope}``) and
  ``POST /v1/refreshtoken`` (a bare JSON string), both answering
  ``PublicAuthenticationOutputModel``; every other call needs
  ``Authorization: Bearer`` and the ``Client_Id`` header, and the scope of its
  operation (``activities:read|write|delete``, ``users:read``, ``settings:read``);
* ``GET|POST /v1/activities``, ``GET|PATCH|DELETE /v1/activities/{guid}``,
  ``DELETE /v1/activities/{guid}/exceptions``, ``GET /v1/activitytypes[/{guid}]``,
  ``GET /v1/users[/{guid}]``, with the semantics described in
  :mod:`severa_ext.testing._severa_org` (paging, ``changedSince``, windows, JSON Patch,
  categories, series and their occurrences);
* errors as ``ExceptionModel`` (``{"error": {httpStatusCode, type, details}}``), and
  404 without a body.

Fault switches: throttling (429 with ``Retry-After``), 503, expired tokens, a failing
token route, slow answers, dropped connections, malformed bodies and page tokens that
loop. The fake is written from the API description alone: it never imports the
client in ``severa_ext.backends.severa``.

Example::

    with FakeSeveraServer() as server:
        alice = server.add_user("alice@example.com")
        meeting = server.add_type("Meeting")
        server.add_activity(alice.guid, "Planning", start, end, type_guid=meeting.guid)
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import attrs

from severa_ext.clock import Clock, SystemClock
from severa_ext.testing._loopback import FaultQueue, LoopbackHandler, LoopbackServer, RequestLog
from severa_ext.testing._severa_org import FakeOrganisation
from severa_ext.testing._severa_records import (
    FakeActivity,
    FakeActivityType,
    FakeUser,
    WireError,
    invalid,
)

__all__ = ["ALL_SCOPES", "FakeSeveraServer", "Seen"]

logger = logging.getLogger(__name__)

ALL_SCOPES = frozenset(
    {"activities:read", "activities:write", "activities:delete", "users:read", "settings:read"}
)
"""The scopes of the operations the fake serves."""

_PREFIX = "/rest-api/v1/"
_SCOPE_OF = {
    "GET activities": "activities:read",
    "GET activity": "activities:read",
    "POST activities": "activities:write",
    "PATCH activity": "activities:write",
    "DELETE activity": "activities:delete",
    "DELETE exceptions": "activities:delete",
    "GET activitytypes": "settings:read",
    "GET activitytype": "settings:read",
    "GET users": "users:read",
    "GET user": "users:read",
}

Answer = tuple[int, dict[str, str], Any]
"""``(status, headers, JSON body or None)``."""


@attrs.define
class _Fault:
    action: str  # "status", "slow", "drop", "malformed"
    kinds: frozenset[str] | None
    status: int = 429
    retry_after: str | None = None
    seconds: float = 0.0
    body: bytes = b""
    after: int = 0  # matching requests let through first


@attrs.define
class _Client:
    client_id: str
    secret: str = attrs.field(repr=False)
    scopes: frozenset[str]
    organisation: FakeOrganisation


@attrs.define
class _Token:
    client: _Client
    scopes: frozenset[str]
    expires: datetime


@attrs.frozen
class Seen:
    """One request the fake received (for tests that check what a client sent)."""

    method: str
    kind: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes


def _error(status: int, kind: str, message: str, **headers: str) -> Answer:
    return status, dict(headers), WireError(status, kind, message).body()


def _split_scopes(text: Any) -> frozenset[str]:
    if not isinstance(text, str):
        return frozenset()
    return frozenset(part for part in text.replace(",", " ").split() if part)


class FakeSeveraServer(LoopbackServer):
    """A fake Severa REST API on ``127.0.0.1`` (random port).

    Args:
        clock: stamps created / last updated times and decides token expiry (the
            wall clock by default; a ``FixedClock`` makes tests repeatable).
        token_lifetime: seconds an access token is valid.
        offsets: answer activity times with their UTC offset (the default); False
            answers the owner's wall-clock time without an offset.
        client_id, client_secret: the API client the default organisation accepts
            (a random secret by default); it is granted :data:`ALL_SCOPES`.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        token_lifetime: int = 3600,
        offsets: bool = True,
        client_id: str = "severa-ext-client",
        client_secret: str | None = None,
    ) -> None:
        super().__init__()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.token_lifetime = token_lifetime
        self.organisation = FakeOrganisation(self.clock.now, offsets=offsets)
        self._clients: dict[str, _Client] = {}
        self.add_client(client_id, client_secret or secrets.token_urlsafe(24), ALL_SCOPES)
        self.client_id = client_id
        self._tokens: dict[str, _Token] = {}
        self._refresh: dict[str, _Client] = {}
        self._faults: FaultQueue[_Fault] = FaultQueue()
        self._loop_pages = False
        self._lock = threading.Lock()
        self.log: RequestLog[Seen] = RequestLog()
        """The requests received (``seen``) and their counts by kind (``counts``)."""
        self.errors: list[str] = []

    def __repr__(self) -> str:
        where = f"port={self.port}" if self.running else "stopped"
        return f"FakeSeveraServer({where}, activities={len(self.organisation.activities)})"

    thread_name = "fake-severa"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return type("_BoundHandler", (_Handler,), {"fake": self})

    @property
    def seen(self) -> list[Seen]:
        """The requests received, oldest first (at most 10,000)."""
        return self.log.entries

    @property
    def counts(self) -> Counter[str]:
        """Requests received by kind (``"GET activities"``, ``"POST token"`` ...)."""
        return self.log.counts

    @property
    def base_url(self) -> str:
        """The API's base URL (``http://127.0.0.1:<port>/rest-api``)."""
        return f"http://127.0.0.1:{self.port}/rest-api"

    # -- clients and organisations ------------------------------------------------

    def add_client(
        self,
        client_id: str,
        client_secret: str,
        scopes: Iterable[str] = ALL_SCOPES,
        *,
        organisation: FakeOrganisation | None = None,
    ) -> FakeOrganisation:
        """Accept another API client, of the default or of another organisation."""
        org = organisation if organisation is not None else self.organisation
        self._clients[client_id] = _Client(client_id, client_secret, frozenset(scopes), org)
        return org

    def new_organisation(self) -> FakeOrganisation:
        """A further, empty organisation (give it a client with :meth:`add_client`)."""
        return FakeOrganisation(self.clock.now, offsets=self.organisation.offsets)

    @property
    def client_secret(self) -> str:
        """The default client's secret."""
        return self._clients[self.client_id].secret

    # -- the organisation's data, as its users would edit it ----------------------

    def add_user(self, email: str, **fields: Any) -> FakeUser:
        """Add a user (``timezone="Europe/Helsinki"`` by default)."""
        return self.organisation.add_user(email, **fields)

    def add_type(
        self, name: str, category: str = "CalendarEntry", **fields: Any
    ) -> FakeActivityType:
        """Add an activity type (``is_default``, ``is_active`` as keywords)."""
        return self.organisation.add_type(name, category, **fields)

    def add_activity(
        self,
        owner_guid: str,
        name: str,
        start: datetime,
        end: datetime | None,
        *,
        type_guid: str,
        **fields: Any,
    ) -> FakeActivity:
        """Create an activity as a Severa user would (through the API's own rules).

        ``fields`` are ``ActivityModel`` names (``notes``, ``location``, ``isAllDay``,
        ``phase``, ``recurrence``...).
        """
        body = {
            "name": name,
            "startDateTime": start.isoformat(),
            "endDateTime": None if end is None else end.isoformat(),
            "activityType": {"guid": type_guid},
            "ownerUser": {"guid": owner_guid},
            **fields,
        }
        return self.organisation.create_activity(body)

    def edit_activity(self, guid: str, **fields: Any) -> FakeActivity:
        """Change fields of an activity as a user would (``ActivityModel`` names)."""
        operations = [
            {"op": "Replace", "path": f"/{name}", "value": value} for name, value in fields.items()
        ]
        activity = self.organisation.patch_activity(guid, operations)
        if activity is None:
            raise KeyError(guid)
        return activity

    def delete_activity(self, guid: str) -> None:
        """Delete an activity as a user would."""
        if not self.organisation.delete_activity(guid):
            raise KeyError(guid)

    def activity(self, guid: str) -> dict[str, Any] | None:
        """The activity ``guid`` as the API answers it, or ``None``."""
        with self.organisation.lock:
            found = self.organisation.get_activity(guid)
            return None if found is None else self.organisation.wire(found)

    def activities(self, owner_guid: str | None = None) -> list[dict[str, Any]]:
        """Every activity (series, occurrences and single ones) as the API answers it."""
        with self.organisation.lock:
            return [
                self.organisation.wire(a)
                for a in sorted(self.organisation.activities.values(), key=lambda a: a.seq)
                if owner_guid is None or a.owner_guid == owner_guid
            ]

    # -- fault switches -------------------------------------------------------------

    def throttle(
        self,
        count: int = 1,
        *,
        retry_after: float | str | None = 1,
        status: int = 429,
        kinds: Iterable[str] | None = None,
    ) -> None:
        """Answer the next ``count`` requests (of ``kinds``) with 429 (or 503) and
        ``Retry-After``; ``retry_after=None`` sends none."""
        after = None if retry_after is None else str(retry_after)
        self._faults.add(_Fault("status", _kinds(kinds), status=status, retry_after=after), count)

    def fail(
        self,
        count: int = 1,
        *,
        status: int = 503,
        kinds: Iterable[str] | None = None,
        after: int = 0,
    ) -> None:
        """Answer ``count`` requests with ``status`` (an ``ExceptionModel``), after
        letting ``after`` matching requests through (a listing that fails part way)."""
        self._faults.add(_Fault("status", _kinds(kinds), status=status, after=after), count)

    def slow(self, seconds: float, count: int = 1, *, kinds: Iterable[str] | None = None) -> None:
        """Wait ``seconds`` before answering the next ``count`` requests."""
        self._faults.add(_Fault("slow", _kinds(kinds), seconds=seconds), count)

    def drop_connections(self, count: int = 1, *, kinds: Iterable[str] | None = None) -> None:
        """Close the connection without an answer for the next ``count`` requests."""
        self._faults.add(_Fault("drop", _kinds(kinds)), count)

    def malformed(
        self,
        count: int = 1,
        *,
        body: bytes = b'[{"guid": "truncated", "name": ',
        kinds: Iterable[str] | None = None,
    ) -> None:
        """Answer the next ``count`` requests with 200 and ``body`` (broken JSON)."""
        self._faults.add(_Fault("malformed", _kinds(kinds), status=200, body=body), count)

    def loop_page_tokens(self, on: bool = True) -> None:
        """Answer every listing page with the same ``NextPageToken`` (a server bug)."""
        self._loop_pages = on

    def expire_tokens(self) -> None:
        """Make every access token issued so far expired (a 401 on its next use)."""
        with self._lock:
            for token in self._tokens.values():
                token.expires = datetime(2000, 1, 1, tzinfo=UTC)

    def clear_faults(self) -> None:
        """Disarm every fault switch."""
        self._faults.clear()
        self._loop_pages = False

    def _take(self, kind: str) -> _Fault | None:
        return self._faults.take(lambda f: f.kinds is None or kind in f.kinds, hold=_held)

    # -- statistics -------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        """Requests received since the start or the last :meth:`reset_stats`."""
        return sum(self.counts.values())

    def reset_stats(self) -> None:
        """Forget the request counts and the log of seen requests."""
        self.log.clear()

    def _record(self, seen: Seen) -> None:
        self.log.record(seen, seen.kind)

    # -- answering ----------------------------------------------------------------------

    def answer(self, method: str, kind: str, parts: list[str], seen: Seen) -> Answer:
        """Answer one request (after the fault switches had their say)."""
        if kind in {"POST token", "POST refreshtoken"}:
            return self._token_route(kind, seen)
        client = self._authorise(kind, seen.headers)
        if isinstance(client, tuple):
            return client
        org = client.organisation
        try:
            return self._route(org, kind, parts, seen)
        except WireError as exc:
            return exc.status, {}, exc.body()

    def _route(self, org: FakeOrganisation, kind: str, parts: list[str], seen: Seen) -> Answer:
        query = seen.query
        if kind in {"GET activities", "GET activitytypes", "GET users"}:
            if self._loop_pages and query.get("pageToken") == ["loop"]:
                query = {k: v for k, v in query.items() if k != "pageToken"}
            lister = {
                "GET activities": org.list_activities,
                "GET activitytypes": org.list_types,
                "GET users": org.list_users,
            }[kind]
            rows, token = lister(query)
            if self._loop_pages:
                token = "loop"
            return 200, ({"NextPageToken": token} if token else {}), rows
        guid = unquote(parts[1]) if len(parts) > 1 else ""
        if kind == "POST activities":
            return 201, {}, org.wire(org.create_activity(_json(seen.body)))
        if kind == "GET activity":
            found = org.get_activity(guid)
            return (404, {}, None) if found is None else (200, {}, org.wire(found))
        if kind == "PATCH activity":
            return self._patch(org, guid, _json(seen.body))
        if kind == "DELETE activity":
            return (204, {}, None) if org.delete_activity(guid) else (404, {}, None)
        if kind == "DELETE exceptions":
            return (204, {}, None) if org.reset_exceptions(guid) else (404, {}, None)
        if kind == "GET activitytype":
            activity_type = org.types.get(guid)
            return (404, {}, None) if activity_type is None else (200, {}, activity_type.wire())
        user = org.users.get(guid)
        return (404, {}, None) if user is None else (200, {}, user.wire())

    @staticmethod
    def _patch(org: FakeOrganisation, guids: str, operations: Any) -> Answer:
        done = []
        for guid in [g.strip() for g in guids.split(",") if g.strip()]:
            patched = org.patch_activity(guid, operations)
            if patched is None:
                if "," not in guids:
                    return 404, {}, None
                continue
            done.append(org.wire(patched))
        return 200, {}, done

    def _authorise(self, kind: str, headers: Mapping[str, str]) -> _Client | Answer:
        auth = headers.get("authorization", "")
        client_header = headers.get("client_id", "")
        with self._lock:
            token = self._tokens.get(auth[7:]) if auth[:7].lower() == "bearer " else None
            if token is None or token.expires <= self.clock.now():
                return _error(
                    401, "AuthenticationRequired", "the access token is missing or expired"
                )
            if client_header != token.client.client_id:
                return _error(
                    401,
                    "AuthenticationRequired",
                    "the Client_Id header is missing or does not match",
                )
            if _SCOPE_OF[kind] not in token.scopes:
                return _error(
                    403, "InsufficientApiScope", f"the token lacks the scope {_SCOPE_OF[kind]}"
                )
            return token.client

    def _token_route(self, kind: str, seen: Seen) -> Answer:
        try:
            body = _json(seen.body)
        except WireError as exc:
            return exc.status, {}, exc.body()
        with self._lock:
            if kind == "POST refreshtoken":
                client = self._refresh.pop(body, None) if isinstance(body, str) else None
                if client is None:
                    return _error(401, "AuthenticationRequired", "the refresh token is not valid")
                return self._issue(client, client.scopes)
            if not isinstance(body, dict):
                return _error(400, "InvalidParameter", "the body must be ClientCredentials")
            client = self._clients.get(str(body.get("client_id", "")))
            if client is None or not secrets.compare_digest(
                str(body.get("client_secret", "")), client.secret
            ):
                return _error(401, "AuthenticationRequired", "unknown client or wrong secret")
            if seen.headers.get("client_id", "") != client.client_id:
                return _error(
                    401,
                    "AuthenticationRequired",
                    "the Client_Id header is missing or does not match",
                )
            wanted = _split_scopes(body.get("scope")) or client.scopes
            if not wanted <= client.scopes:
                missing = ", ".join(sorted(wanted - client.scopes))
                return _error(403, "InsufficientApiScope", f"the client may not have: {missing}")
            return self._issue(client, wanted)

    def _issue(self, client: _Client, scopes: frozenset[str]) -> Answer:
        now = self.clock.now().astimezone(UTC)
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        expires = now + timedelta(seconds=self.token_lifetime)
        self._tokens[access] = _Token(client, scopes, expires)
        self._refresh[refresh] = client
        refresh_expires = now + timedelta(days=30)
        return (
            200,
            {},
            {
                "access_token": access,
                "access_token_type": "Bearer",
                "access_token_expires_in": self.token_lifetime,
                "access_token_expires_utc": expires.isoformat().replace("+00:00", "Z"),
                "refresh_token": refresh,
                "refresh_token_expires_in": 30 * 86400,
                "refresh_token_expires_utc": refresh_expires.isoformat().replace("+00:00", "Z"),
                "scope": " ".join(sorted(scopes)),
            },
        )


def _held(fault: _Fault) -> bool:
    """A fault armed to strike ``after`` some matching requests lets this one through."""
    if fault.after > 0:
        fault.after -= 1
        return True
    return False


def _kinds(kinds: Iterable[str] | None) -> frozenset[str] | None:
    return None if kinds is None else frozenset(kinds)


def _json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        raise invalid("the body is not JSON") from None


def _route_kind(method: str, path: str) -> tuple[str, list[str]] | None:
    """The operation a request names (``"GET activities"``...) and its path parts."""
    if not path.startswith(_PREFIX):
        return None
    parts = [p for p in path[len(_PREFIX) :].split("/") if p]
    shape = (method, len(parts), parts[0] if parts else "")
    kinds = {
        ("POST", 1, "token"): "POST token",
        ("POST", 1, "refreshtoken"): "POST refreshtoken",
        ("GET", 1, "activities"): "GET activities",
        ("POST", 1, "activities"): "POST activities",
        ("GET", 2, "activities"): "GET activity",
        ("PATCH", 2, "activities"): "PATCH activity",
        ("DELETE", 2, "activities"): "DELETE activity",
        ("GET", 1, "activitytypes"): "GET activitytypes",
        ("GET", 2, "activitytypes"): "GET activitytype",
        ("GET", 1, "users"): "GET users",
        ("GET", 2, "users"): "GET user",
    }
    kind = kinds.get(shape)
    if kind is None and method == "DELETE" and len(parts) == 3 and parts[2] == "exceptions":
        kind = "DELETE exceptions"
    return None if kind is None else (kind, parts)


class _Handler(LoopbackHandler):
    fake: FakeSeveraServer
    server_version = "FakeSevera/1.0"
    log_name = "fake severa"

    def _dispatch(self, method: str) -> None:
        fake = self.fake
        try:
            body = self.read_body()
            split = urlsplit(self.path)
            routed = _route_kind(method, split.path)
            kind = routed[0] if routed else f"{method} unknown"
            seen = Seen(
                method,
                kind,
                split.path,
                parse_qs(split.query, keep_blank_values=True),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            fake._record(seen)
            fault = fake._take(kind)
            if fault is not None and self._fault(fault):
                return
            if routed is None:
                self._send(404, {}, None)
                return
            self._send(*fake.answer(method, kind, routed[1], seen))
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("fake severa: the client went away")
        except Exception as exc:  # the fake's own bug: record it, answer 500
            logger.exception("fake severa failed")
            fake.errors.append(f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(OSError):
                self._send(*_error(500, "InternalSystemError", "the fake failed"))

    def _fault(self, fault: _Fault) -> bool:
        """Act out ``fault``; True when the request is answered (or dropped) by it."""
        if fault.action == "slow":
            self.fake.stopping.wait(fault.seconds)
            return False
        if fault.action == "drop":
            self.drop()
            return True
        if fault.action == "malformed":
            self.send_body(200, {"Content-Type": "application/json"}, fault.body)
            return True
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        kind = "InternalSystemError" if fault.status >= 500 else "InvalidRequest"
        self._send(*_error(fault.status, kind, f"injected HTTP {fault.status}", **headers))
        return True

    def _send(self, status: int, headers: Mapping[str, str], body: Any) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        all_headers = dict(headers)
        if body is not None:
            all_headers["Content-Type"] = "application/json; charset=utf-8"
        self.send_body(status, all_headers, data)
