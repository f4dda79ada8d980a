"""A fake Microsoft Graph (and its identity platform) over real HTTP on 127.0.0.1.

:class:`FakeGraphServer` is a threaded ``http.server`` that keeps calendars in memory
and speaks Graph's documented wire format: users with proxy addresses, events CRUD
with ``@odata.etag``/``changeKey`` and ``If-Match`` (412
``ErrorIrresolvableConflict``), ``transactionId`` de-duplication, the
single-value-extended-property ``$filter``, ``calendarView/delta`` with paging and
delta links, JSON ``$batch`` (answers in shuffled order), and the OpenID discovery
and token endpoints that msal needs. Switches inject throttling (429 + Retry-After,
also inside batches), 503, lost delta tokens (410), expired tokens, slow answers
and dropped connections; mailboxes can be unlicensed (``MailboxNotEnabledForRESTAPI``),
closed to the application (``ErrorAccessDenied``) or Bookings mailboxes.
``/subscriptions`` (``FakeGraphServer.subscriptions``) validates a receiver with the
handshake before it creates a subscription, renews, deletes and expires them, and
posts change notifications (and lifecycle notifications on demand) to the receiver
over HTTP on 127.0.0.1 when events of a subscribed mailbox change.

msal only talks to ``https`` authorities, so the identity endpoints are announced as
``https://127.0.0.1:<port>/<tenant>``; :meth:`FakeGraphServer.session` returns a
``requests.Session`` whose adapter carries those calls to the plain-HTTP server.

Example::

    with FakeGraphServer() as server:
        server.add_mailbox("alice@contoso.com")
        backend = server.backend("alice@contoso.com")
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import random
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import requests

from severa_ext.backends._http_deadline import DeadlineAdapter
from severa_ext.backends.graph import ClientCredentialsTokenProvider, GraphBackend
from severa_ext.backends.graph_notifications import GraphSubscriptions
from severa_ext.backends.memory import Fault, FaultKind
from severa_ext.clock import Clock
from severa_ext.errors import ConfigError, NotFound
from severa_ext.sync.items import CalendarItem
from severa_ext.testing._graph_notify import FakeSubscriptions
from severa_ext.testing._graph_state import Answer, FakeMailbox, Tenant, graph_error
from severa_ext.testing._graph_wire import event_item, event_json
from severa_ext.testing.faults import FaultyBackend
from severa_ext.testing.graph_limits import MailboxLimiter

__all__ = ["FakeGraphServer", "GraphSideDriver", "LoopbackAdapter", "graph_driver"]

logger = logging.getLogger(__name__)

_TOKEN_PATH = "/oauth2/v2.0/token"
# The extended property another tool copies with an event (the documented id form
# ``String {guid} Name <name>``; the GUID is the SDK's, fixed forever).
SYNC_KEY_PROPERTY = "String {8f3c1a52-6d1e-4b7a-9c55-2f1e0d6b7a41} Name SeveraExtSyncKey"


class LoopbackAdapter(DeadlineAdapter):
    """Sends ``https://127.0.0.1:<port>`` requests to the plain-HTTP fake server."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self._prefix = f"https://127.0.0.1:{port}"
        self._target = f"http://127.0.0.1:{port}"

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Rewrite the scheme, then send as usual."""
        if request.url and request.url.startswith(self._prefix):
            request.url = self._target + request.url[len(self._prefix) :]
        return super().send(request, **kwargs)


@attrs.define
class _Fault:
    kind: str  # "status", "slow", "drop", "batch"
    count: int
    status: int = 429
    retry_after: float | None = None
    seconds: float = 0.0
    path: str | None = None
    code: str = "TooManyRequests"
    # Request kinds it hits ("GET delta", "POST events" ...); these also hit the
    # matching requests inside a $batch.
    kinds: frozenset[str] | None = None


@attrs.define
class _Stats:
    requests: int = 0
    bytes_received: int = 0
    batch_calls: int = 0
    inner_requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    connections: int = 0
    by_kind: Counter[str] = attrs.field(factory=Counter)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeGraphServer:
    """A fake Graph endpoint and identity platform on ``127.0.0.1`` (random port).

    Args:
        tenant_id: the tenant in the authority URL.
        client_id: the application id the token endpoint accepts.
        client_secret: the secret it accepts (certificates are accepted for
            ``client_id`` whatever the assertion).
        token_lifetime: seconds an access token is valid for.
        shuffle_batches: answer ``$batch`` requests in a shuffled order (as Graph may).
        seed: the seed of that shuffle (repeatable runs).
        clock: stamps ``lastModifiedDateTime`` (the wall clock by default; a
            ``FixedClock`` keeps conflict resolution repeatable in tests).
    """

    def __init__(
        self,
        *,
        tenant_id: str = "contoso-tenant",
        client_id: str = "severa-ext-tests",
        client_secret: str = "fake-client-secret",
        token_lifetime: int = 3600,
        shuffle_batches: bool = True,
        seed: int = 0,
        clock: Clock | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.shuffle_batches = shuffle_batches
        self._random = random.Random(seed)
        self.tenant = Tenant(clock)
        self.subscriptions = FakeSubscriptions(self.tenant)
        self._tokens: dict[str, float] = {}
        self._refresh_tokens: dict[str, str] = {}
        self._faults: list[_Fault] = []
        self._stats = _Stats()
        self._lock = threading.Lock()
        self.errors: list[str] = []
        self.tokens_issued = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.mailbox_limits: MailboxLimiter | None = None
        """Graph's per-mailbox throttling, when switched on (:meth:`limit_mailboxes`)."""

    def __repr__(self) -> str:
        state = f"port={self.port}" if self._httpd else "stopped"
        return f"FakeGraphServer({state}, mailboxes={len(self.tenant.mailboxes)})"

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> FakeGraphServer:
        """Bind a random port on 127.0.0.1 and serve in a background thread."""
        if self._httpd is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self.tenant.base_url = f"{self.url}/v1.0"
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.subscriptions.close()

    def __enter__(self) -> FakeGraphServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses ---------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port.

        Raises:
            ConfigError: the server is not started.
        """
        if self._httpd is None:
            raise ConfigError("FakeGraphServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The Graph base URL to give ``GraphBackend`` (``.../v1.0``)."""
        return f"{self.url}/v1.0"

    @property
    def authority_host(self) -> str:
        """The identity host msal is given (``https``, carried by :meth:`session`)."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        """The tenant's authority URL for msal."""
        return f"{self.authority_host}/{self.tenant_id}"

    @property
    def client_secret(self) -> str:
        """The secret the token endpoint accepts (a test value, not a real credential)."""
        return self._client_secret

    def session(self) -> requests.Session:
        """A ``requests.Session`` that reaches this server, msal's ``https`` calls too."""
        session = requests.Session()
        session.mount(f"https://127.0.0.1:{self.port}", LoopbackAdapter(self.port))
        return session

    def token_provider(
        self, session: requests.Session | None = None
    ) -> ClientCredentialsTokenProvider:
        """An msal app-only token provider configured for this server."""
        return ClientCredentialsTokenProvider(
            self.tenant_id,
            self.client_id,
            client_secret=self._client_secret,
            authority_host=self.authority_host,
            http_client=session or self.session(),
            validate_authority=False,
        )

    def backend(self, mailbox: str, **kwargs: Any) -> GraphBackend:
        """A ``GraphBackend`` for ``mailbox`` wired to this server (msal app-only auth).

        Keyword arguments go to ``GraphBackend`` (``timeout``, ``page_size``, ...).
        """
        session = kwargs.pop("session", None) or self.session()
        tokens = kwargs.pop("tokens", None) or self.token_provider(session)
        return GraphBackend(mailbox, tokens, session=session, base_url=self.base_url, **kwargs)

    def graph_subscriptions(self, **kwargs: Any) -> GraphSubscriptions:
        """A ``GraphSubscriptions`` client wired to this server (msal app-only auth).

        Keyword arguments go to ``GraphSubscriptions`` (``clock``, ``lifetime`` ...).
        """
        session = kwargs.pop("session", None) or self.session()
        tokens = kwargs.pop("tokens", None) or self.token_provider(session)
        return GraphSubscriptions(tokens, session=session, base_url=self.base_url, **kwargs)

    # --- tenant set-up ------------------------------------------------------------

    def add_mailbox(
        self,
        address: str,
        *,
        proxy_addresses: tuple[str, ...] | list[str] = (),
        has_mailbox: bool = True,
        access: bool = True,
        bookings: bool = False,
        purpose: str = "user",
    ) -> None:
        """Add a user with a mailbox (or without one: ``has_mailbox=False``).

        Args:
            address: primary address.
            proxy_addresses: aliases, e.g. ``["smtp:alice@contoso.fi"]`` (S5).
            has_mailbox: False: no licensed mailbox (``MailboxNotEnabledForRESTAPI``).
            access: False: the application access policy excludes it (403).
            bookings: a Microsoft Bookings (scheduling) mailbox.
            purpose: ``mailboxSettings.userPurpose`` (``user``, ``shared``, ``room`` ...).
        """
        self.tenant.add(
            FakeMailbox(
                address,
                tuple(proxy_addresses),
                has_mailbox=has_mailbox,
                access=access,
                purpose="others" if bookings else purpose,
            )
        )

    def _box(self, mailbox: str) -> FakeMailbox:
        box = self.tenant.mailbox(mailbox)
        if box is None:
            raise NotFound(f"fake graph: no mailbox {mailbox!r}")
        return box

    # --- the user's side (Outlook, a phone ...) -------------------------------------

    def user_create(self, mailbox: str, item: CalendarItem, *, html: bool = False) -> str:
        """Create an event as the user would (no sync key); return its id."""
        payload = event_json(item, html_body=html)
        if item.sync_key:
            # Another tool copying an event copies its extended properties, not its
            # transactionId (Graph would refuse that as a duplicate create).
            payload["singleValueExtendedProperties"] = [
                {"id": SYNC_KEY_PROPERTY, "value": item.sync_key}
            ]
        with self.tenant.lock:
            return str(self.tenant.store_event(self._box(mailbox), payload)["id"])

    def user_create_raw(self, mailbox: str, payload: Mapping[str, Any]) -> str:
        """Create an event from a raw Graph JSON payload; return its id."""
        with self.tenant.lock:
            return str(self.tenant.store_event(self._box(mailbox), dict(payload))["id"])

    def user_update(self, mailbox: str, event_id: str, item: CalendarItem) -> None:
        """Replace an event's content as the user would (a new changeKey)."""
        with self.tenant.lock:
            box = self._box(mailbox)
            event = box.events.get(event_id)
            if event is None:
                raise NotFound(f"fake graph: no event {event_id!r}")
            self.tenant.patch_event(box, event, event_json(item, html_body=True))

    def user_delete(self, mailbox: str, event_id: str) -> None:
        """Delete an event as the user would."""
        with self.tenant.lock:
            box = self._box(mailbox)
            if event_id not in box.events:
                raise NotFound(f"fake graph: no event {event_id!r}")
            self.tenant.remove_event(box, event_id)

    def user_add_series(
        self, mailbox: str, item: CalendarItem, *, count: int, every: timedelta = timedelta(days=7)
    ) -> str:
        """Create a recurring series of ``count`` timed occurrences; return the master id."""
        if not isinstance(item.start, datetime) or not isinstance(item.end, datetime):
            raise ConfigError("user_add_series supports timed items")
        with self.tenant.lock:
            box = self._box(mailbox)
            master = self.tenant.store_event(box, event_json(item), extra={"type": "seriesMaster"})
            for index in range(count):
                shifted = item.evolve(
                    start=item.start + every * index, end=item.end + every * index
                )
                original = shifted.start
                assert isinstance(original, datetime)
                self.tenant.store_event(
                    box,
                    event_json(shifted),
                    extra={
                        "type": "occurrence",
                        "seriesMasterId": master["id"],
                        "originalStart": original.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    },
                )
            return str(master["id"])

    def raw_events(self, mailbox: str) -> list[dict[str, Any]]:
        """Copies of the stored events of ``mailbox`` (series masters included)."""
        with self.tenant.lock:
            box = self._box(mailbox)
            return [self.tenant.render(box, e, {}, expand=True) for e in box.events.values()]

    def events(self, mailbox: str) -> list[CalendarItem]:
        """The mailbox's events (occurrences, not masters) as neutral items."""
        return [
            event_item(raw) for raw in self.raw_events(mailbox) if raw.get("type") != "seriesMaster"
        ]

    # --- switches ----------------------------------------------------------------------

    def throttle(
        self,
        count: int = 1,
        *,
        retry_after: float = 1.0,
        status: int = 429,
        path: str | None = None,
        kinds: Iterable[str] | None = None,
    ) -> None:
        """Answer the next ``count`` Graph calls with 429 (or ``status``) + Retry-After.

        Args:
            count: how many calls.
            retry_after: the ``Retry-After`` seconds.
            status: 429, or 503 / 504.
            path: only calls whose path contains this.
            kinds: only these request kinds (``"GET delta"``, ``"GET event"``,
                ``"GET events"``, ``"POST events"``, ``"PATCH event"``,
                ``"DELETE event"``, ``"POST $batch"``); event kinds also hit the
                requests inside a ``$batch``.
        """
        code = "TooManyRequests" if status == 429 else "ServiceUnavailable"
        self._add(
            _Fault(
                "status",
                count,
                status=status,
                retry_after=retry_after,
                path=path,
                code=code,
                kinds=frozenset(kinds) if kinds is not None else None,
            )
        )

    def fail(
        self,
        count: int = 1,
        *,
        status: int = 503,
        path: str | None = None,
        kinds: Iterable[str] | None = None,
        code: str | None = None,
    ) -> None:
        """Answer the next ``count`` Graph calls with ``status`` (503 by default).

        ``kinds`` works as for :meth:`throttle`; ``code`` overrides Graph's error code
        (e.g. 412 with ``ErrorIrresolvableConflict``).
        """
        default = {503: "ServiceUnavailable", 504: "GatewayTimeout"}.get(status, "generalException")
        self._add(
            _Fault(
                "status",
                count,
                status=status,
                path=path,
                code=code or default,
                kinds=frozenset(kinds) if kinds is not None else None,
            )
        )

    def throttle_in_batch(self, count: int = 1, *, retry_after: float = 0.0) -> None:
        """Answer the next ``count`` inner ``$batch`` requests with 429 + Retry-After."""
        self._add(_Fault("batch", count, retry_after=retry_after))

    def slow(self, seconds: float, count: int = 1, *, path: str | None = None) -> None:
        """Delay the next ``count`` answers by ``seconds`` (for client timeouts)."""
        self._add(_Fault("slow", count, seconds=seconds, path=path))

    def drop_connections(
        self, count: int = 1, *, path: str | None = None, kinds: Iterable[str] | None = None
    ) -> None:
        """Close the connection without answering the next ``count`` requests."""
        self._add(
            _Fault("drop", count, path=path, kinds=frozenset(kinds) if kinds is not None else None)
        )

    def limit_mailboxes(
        self, *, concurrent: int = 4, requests: int = 10_000, window: float = 600.0
    ) -> MailboxLimiter:
        """Switch on Graph's per-mailbox throttling (4 concurrent, 10,000 per 10 minutes).

        Past a limit a request gets ``429 ApplicationThrottled`` with ``Retry-After``;
        the returned limiter's ``report()`` says how close each mailbox came.
        """
        self.mailbox_limits = MailboxLimiter(
            concurrent=concurrent, requests=requests, window=window
        )
        return self.mailbox_limits

    def clear_faults(self) -> None:
        """Disarm every pending switch (throttling, failures, slow answers, drops)."""
        with self._lock:
            self._faults.clear()

    def lose_delta_tokens(self, *, status: int = 410, code: str = "syncStateNotFound") -> None:
        """Make every current delta token invalid (410 ``syncStateNotFound`` by default)."""
        with self.tenant.lock:
            self.tenant.lose_delta_tokens()
            if (status, code) != (410, "syncStateNotFound"):
                self.tenant.lost_delta = (status, code)

    def replay_delta_entries(self, on: bool = True) -> None:
        """Repeat one entry across consecutive delta pages (clients must fold them)."""
        self.tenant.replay_delta = on

    def omit_in_delta(self, *properties: str) -> None:
        """Leave ``properties`` (``"body"``, ``"subject"`` ...) out of delta entries.

        Graph documents that a delta answer may not carry every property of an event;
        a client must not read a missing property as an empty one. ``get`` and
        ``$batch`` GETs still answer the whole event. No arguments: omit nothing.
        """
        self.tenant.delta_omits = frozenset(properties)

    def expire_tokens(self) -> None:
        """Every issued access token becomes invalid (401 ``InvalidAuthenticationToken``)."""
        with self._lock:
            self._tokens.clear()

    def issue_refresh_token(self, username: str) -> str:
        """A refresh token for a signed-in user (delegated flow tests)."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._refresh_tokens[token] = username
        return token

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take(
        self, kind: str, path: str, request_kind: str | None = None, *, inner: bool = False
    ) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if (
                    fault.kind == kind
                    and fault.count > 0
                    and (fault.path is None or fault.path in path)
                    and (fault.kinds is None or request_kind in fault.kinds)
                    and (not inner or fault.kinds is not None)
                ):
                    fault.count -= 1
                    return fault
        return None

    # --- statistics ---------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        """Graph API requests received (a ``$batch`` counts once; token calls excluded)."""
        return self._stats.requests

    @property
    def bytes_received(self) -> int:
        """Request body bytes received by the Graph API."""
        return self._stats.bytes_received

    @property
    def inner_request_count(self) -> int:
        """Requests carried inside ``$batch`` calls."""
        return self._stats.inner_requests

    @property
    def connection_count(self) -> int:
        """TCP connections accepted (a client that keeps connections alive opens few)."""
        return self._stats.connections

    @property
    def max_in_flight(self) -> int:
        """The most Graph API requests that were being answered at the same time."""
        return self._stats.max_in_flight

    def _enter(self) -> None:
        with self._lock:
            self._stats.in_flight += 1
            self._stats.max_in_flight = max(self._stats.max_in_flight, self._stats.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._stats.in_flight -= 1

    def counts(self) -> dict[str, int]:
        """Requests by kind (``"GET delta"``, ``"POST $batch"``, ``"PATCH event"`` ...)."""
        with self._lock:
            return dict(self._stats.by_kind)

    def reset_stats(self) -> None:
        """Zero the request statistics."""
        with self._lock:
            self._stats = _Stats()

    # --- request handling (called by the handler threads) --------------------------------

    def _count(self, kind: str, size: int) -> None:
        with self._lock:
            self._stats.requests += 1
            self._stats.bytes_received += size
            self._stats.by_kind[kind] += 1

    def _check_token(self, headers: Mapping[str, str]) -> Answer | None:
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, token = auth.partition(" ")
        with self._lock:
            expiry = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if expiry is None or expiry < time.time():
            return graph_error(
                401,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid."
                if token
                else "Access token is empty.",
            )
        return None

    def handle_graph(
        self, method: str, target: str, headers: Mapping[str, str], body: Any
    ) -> Answer:
        """Answer one request to ``/v1.0/...`` (auth, faults, ``$batch``, routing)."""
        denied = self._check_token(headers)
        if denied is not None:
            return denied
        path = urlsplit(target).path
        fault = self._take("status", path, _kind(method, path))
        if fault is not None:
            extra = (
                {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            )
            return graph_error(fault.status, fault.code, "Injected fault.", **extra)
        limiter = self.mailbox_limits
        if limiter is None:
            return self._route(method, target, path, headers, body)
        refused, release = limiter.admit(path, body)
        if refused is not None:
            return refused
        try:
            return self._route(method, target, path, headers, body)
        finally:
            release()

    def _route(
        self, method: str, target: str, path: str, headers: Mapping[str, str], body: Any
    ) -> Answer:
        if path.rstrip("/") == "/$batch":
            return self._batch(method, body)
        if path.startswith("/subscriptions"):
            # Outside the tenant lock: a create waits for the receiver's handshake.
            return self.subscriptions.route(method, path, body)
        return self.tenant.route(method, target, headers, body)

    def _batch(self, method: str, body: Any) -> Answer:
        if (
            method != "POST"
            or not isinstance(body, dict)
            or not isinstance(body.get("requests"), list)
        ):
            return graph_error(400, "BadRequest", "a $batch body needs a 'requests' list")
        requests_ = body["requests"]
        if len(requests_) > 20:
            return graph_error(
                400, "BadRequest", "The number of batch requests exceeds the maximum of 20."
            )
        ids = [str(r.get("id")) for r in requests_ if isinstance(r, dict)]
        if len(ids) != len(requests_) or len(set(ids)) != len(ids):
            return graph_error(400, "BadRequest", "batch requests need unique ids")
        with self._lock:
            self._stats.batch_calls += 1
            self._stats.inner_requests += len(requests_)
        answers: dict[str, dict[str, Any]] = {}
        for request in requests_:
            rid = str(request["id"])
            depends = [str(d) for d in request.get("dependsOn") or ()]
            if any(answers.get(d, {}).get("status", 500) >= 400 for d in depends):
                answers[rid] = {
                    "id": rid,
                    "status": 424,
                    "headers": {},
                    "body": {
                        "error": {"code": "FailedDependency", "message": "A dependency failed."}
                    },
                }
                continue
            inner_method = str(request.get("method", "GET")).upper()
            inner_path = urlsplit(str(request.get("url", ""))).path
            fault = self._take("batch", "")
            targeted = self._take("status", inner_path, _kind(inner_method, inner_path), inner=True)
            if fault is not None:
                status, headers, inner = graph_error(
                    429,
                    "TooManyRequests",
                    "Too many requests for this mailbox.",
                    **{"Retry-After": f"{fault.retry_after or 0:g}"},
                )
            elif targeted is not None:
                extra = (
                    {"Retry-After": f"{targeted.retry_after:g}"}
                    if targeted.retry_after is not None
                    else {}
                )
                status, headers, inner = graph_error(
                    targeted.status, targeted.code, "Injected fault.", **extra
                )
            else:
                status, headers, inner = self.tenant.route(
                    str(request.get("method", "GET")).upper(),
                    str(request.get("url", "")),
                    request.get("headers") or {},
                    request.get("body"),
                )
            answers[rid] = {"id": rid, "status": status, "headers": headers, "body": inner}
        ordered = list(answers.values())
        if self.shuffle_batches:
            with self._lock:
                self._random.shuffle(ordered)
        return 200, {}, {"responses": ordered}

    def handle_identity(self, method: str, target: str, form: Mapping[str, str]) -> Answer:
        """Answer the OpenID discovery and token endpoints msal calls."""
        path = urlsplit(target).path
        prefix = f"/{self.tenant_id}"
        if method == "GET" and path in {
            f"{prefix}/v2.0/.well-known/openid-configuration",
            f"{prefix}/.well-known/openid-configuration",
        }:
            base = f"{self.authority_host}{prefix}"
            return (
                200,
                {},
                {
                    "issuer": f"{base}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}{_TOKEN_PATH}",
                    "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                    "response_types_supported": ["code", "id_token", "token"],
                    "subject_types_supported": ["pairwise"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                },
            )
        if method == "POST" and path == f"{prefix}{_TOKEN_PATH}":
            return self._token(form)
        return 404, {}, {"error": "not_found", "error_description": f"no endpoint {path}"}

    def _token(self, form: Mapping[str, str]) -> Answer:
        grant = form.get("grant_type")
        if form.get("client_id") != self.client_id:
            return (
                400,
                {},
                {
                    "error": "unauthorized_client",
                    "error_description": "AADSTS700016: Application not found in the directory.",
                },
            )
        response: dict[str, Any] = {"token_type": "Bearer", "expires_in": self.token_lifetime}
        if grant == "client_credentials":
            secret_ok = form.get("client_secret") == self._client_secret
            assertion_ok = self._assertion_ok(form)
            if not (secret_ok or assertion_ok):
                return (
                    401,
                    {},
                    {
                        "error": "invalid_client",
                        "error_description": "AADSTS7000215: Invalid client secret provided.",
                    },
                )
        elif grant == "refresh_token":
            with self._lock:
                username = self._refresh_tokens.pop(form.get("refresh_token", ""), None)
            if username is None:
                return (
                    400,
                    {},
                    {
                        "error": "invalid_grant",
                        "error_description": "AADSTS70008: The refresh token has expired.",
                    },
                )
            response.update(self._user_tokens(username, form.get("scope", "")))
        else:
            return (
                400,
                {},
                {
                    "error": "unsupported_grant_type",
                    "error_description": f"AADSTS70003: grant type {grant!r} is not supported.",
                },
            )
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.time() + self.token_lifetime
            self.tokens_issued += 1
        response["access_token"] = token
        return 200, {}, response

    def _assertion_ok(self, form: Mapping[str, str]) -> bool:
        """A certificate credential: a JWT bearer assertion issued by the client.

        The claims are checked (issuer, subject, audience, expiry); the signature is
        not, since the fake has no certificate registry.
        """
        if form.get("client_assertion_type") != (
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ):
            return False
        parts = form.get("client_assertion", "").split(".")
        if len(parts) != 3:
            return False
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except ValueError:
            return False
        return (
            isinstance(claims, dict)
            and claims.get("iss") == self.client_id
            and claims.get("sub") == self.client_id
            and str(claims.get("aud", "")).endswith(_TOKEN_PATH)
            and float(claims.get("exp", 0)) > time.time()
        )

    def _user_tokens(self, username: str, scope: str) -> dict[str, Any]:
        # The object id is stable per user, as in Entra ID (msal keys accounts on it).
        uid = hashlib.sha256(f"{self.tenant_id}/{username.lower()}".encode()).hexdigest()[:32]
        now = int(time.time())
        claims = {
            "iss": f"{self.authority}/v2.0",
            "aud": self.client_id,
            "sub": uid,
            "oid": uid,
            "tid": self.tenant_id,
            "preferred_username": username,
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
        }
        id_token = ".".join(
            [
                _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode()),
                _b64url(json.dumps(claims).encode()),
                "",
            ]
        )
        refresh = self.issue_refresh_token(username)
        return {
            "id_token": id_token,
            "refresh_token": refresh,
            "client_info": _b64url(json.dumps({"uid": uid, "utid": self.tenant_id}).encode()),
            "scope": scope,
        }


class _Handler(BaseHTTPRequestHandler):
    """Parses one HTTP request and writes the fake's answer."""

    fake: FakeGraphServer
    protocol_version = "HTTP/1.1"
    # A buffered writer: headers and body leave in one send when the request ends
    # (no Nagle / delayed-ACK stall per answer).
    wbufsize = 1 << 16

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.fake._lock:
            self.fake._stats.connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake graph: " + format, *args)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, answer: Answer) -> None:
        status, headers, body = answer
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):  # the peer may have gone first
            self.connection.shutdown(socket.SHUT_RDWR)

    def _dispatch(self, method: str) -> None:
        raw = self._read_body()
        fake = self.fake
        try:
            path = urlsplit(self.path).path
            if path.startswith("/v1.0/") or path == "/v1.0":
                target = self.path[len("/v1.0") :]
                kind = _kind(method, path)
                fake._count(kind, len(raw))
                if fake._take("drop", path, kind) is not None:
                    self._drop()
                    return
                fake._enter()
                try:
                    slow = fake._take("slow", path)
                    if slow is not None:
                        time.sleep(slow.seconds)
                    body = json.loads(raw) if raw else None
                    answer = fake.handle_graph(method, target, dict(self.headers.items()), body)
                finally:
                    fake._leave()
            else:
                form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
                answer = fake.handle_identity(method, self.path, form)
        except json.JSONDecodeError:
            answer = graph_error(400, "BadRequest", "the body is not valid JSON")
        except Exception as exc:  # a bug in the fake: record it, answer 500
            logger.exception("fake graph: handler failed")
            fake.errors.append(f"{method} {self.path}: {type(exc).__name__}: {exc}")
            answer = graph_error(500, "generalException", "internal error of the fake")
        try:
            self._answer(answer)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


def _kind(method: str, path: str) -> str:
    if path.endswith("/$batch"):
        return "POST $batch"
    if "/calendarView/delta" in path:
        return "GET delta"
    if "/events/" in path:
        return f"{method} event"
    if path.endswith("/events"):
        return f"{method} events"
    if "/subscriptions" in path:
        return f"{method} subscription"
    return f"{method} other"


# --- a side driver for the sync state machine ------------------------------------------

_KINDS = {
    "changes": ("GET delta",),
    "get": ("GET event",),
    "find": ("GET events",),
    "create": ("POST events",),
    "update": ("PATCH event",),
    "delete": ("DELETE event",),
    "write": ("POST events", "PATCH event", "DELETE event"),
    "apply_batch": ("POST $batch",),
}


class GraphSideDriver:
    """A side driver for ``severa_ext.testing.machine``: Graph over HTTP on one side.

    The engine syncs a real ``GraphBackend`` talking to a private ``FakeGraphServer``;
    the "user" edits the fake's mailbox directly. Throttling, 5xx, timeouts (dropped
    connections) and stale etags are injected as HTTP answers, also inside batches.

    Args:
        clock: the machine's clock (stamps ``lastModifiedDateTime``).
        mailbox: the mailbox address.
        batch_size: writes per ``$batch``.
    """

    def __init__(
        self, clock: Clock, *, mailbox: str = "alice@contoso.com", batch_size: int = 20
    ) -> None:
        self.server = FakeGraphServer(clock=clock).start()
        self.server.add_mailbox(mailbox)
        self.mailbox = mailbox
        # Transient faults travel over HTTP (the server's switches); a callback before a
        # call (a concurrent user edit) and a crash after it are process events.
        self._backend = FaultyBackend(
            self.server.backend(mailbox, batch_size=batch_size, page_size=7, timeout=10)
        )

    def __repr__(self) -> str:
        return f"GraphSideDriver({self.server!r})"

    @property
    def backend(self) -> Any:
        """The backend the engine syncs (a ``GraphBackend`` with fault hooks)."""
        return self._backend

    def _item(self, event_id: str) -> CalendarItem:
        for item in self.server.events(self.mailbox):
            if item.id == event_id:
                return item
        raise NotFound(f"fake graph: no event {event_id!r}")

    def user_create(self, item: CalendarItem) -> CalendarItem:
        """Create ``item`` in the mailbox as the user."""
        return self._item(self.server.user_create(self.mailbox, item))

    def user_update(self, item_id: str, **changes: Any) -> CalendarItem:
        """Edit fields of an event as the user."""
        self.server.user_update(self.mailbox, item_id, self._item(item_id).evolve(**changes))
        return self._item(item_id)

    def user_delete(self, item_id: str) -> None:
        """Delete an event as the user."""
        self.server.user_delete(self.mailbox, item_id)

    def snapshot(self) -> list[CalendarItem]:
        """Every event in the mailbox."""
        return self.server.events(self.mailbox)

    def inject(self, operation: str, fault: Fault, *, times: int = 1) -> bool:
        """Arm ``fault`` for the next ``times`` calls of ``operation``."""
        kinds = _KINDS.get(operation)
        if kinds is None:
            return False
        kind = fault.kind
        if kind in {FaultKind.CALL, FaultKind.CRASH_AFTER_WRITE}:
            self._backend.inject(operation, fault, times=times)
        elif kind is FaultKind.THROTTLE:
            self.server.throttle(times, retry_after=fault.retry_after, kinds=kinds)
        elif kind is FaultKind.UNAVAILABLE:
            self.server.fail(times, status=500, kinds=kinds)
        elif kind is FaultKind.TIMEOUT:
            if operation in {"create", "update", "delete", "write"}:
                self.server.fail(times, status=504, kinds=kinds)  # a gateway timeout inside
            else:
                self.server.drop_connections(times, kinds=kinds)
        else:  # a stale etag: only writes that send If-Match can meet one
            if operation not in {"update", "delete", "write"}:
                return False
            self.server.fail(times, status=412, kinds=kinds, code="ErrorIrresolvableConflict")
        return True

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self.server.clear_faults()
        self._backend.clear_faults()

    def write_count(self) -> int:
        """Successful writes the engine made through the backend."""
        return self._backend.write_count

    def close(self) -> None:
        """Close the backend and stop the server."""
        self._backend.close()
        self.server.stop()


def graph_driver(**options: Any) -> Callable[[Clock], GraphSideDriver]:
    """A driver factory for ``severa_ext.testing.machine.make_sync_machine``.

    Keyword options go to :class:`GraphSideDriver`.
    """

    def make(clock: Clock) -> GraphSideDriver:
        return GraphSideDriver(clock, **options)

    return make
