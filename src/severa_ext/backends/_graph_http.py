"""HTTP plumbing of the Graph backend: one session, bearer tokens, errors at one edge.

:class:`GraphTransport` sends every request through one ``requests.Session`` with a
timeout, at most ``max_in_flight`` at a time (Exchange Online allows four concurrent
requests per mailbox), adds the bearer token and sends once more with a fresh token
when Graph says the token expired; it never sleeps and never retries anything else
(the engine owns waiting). Every answer is read through
:mod:`severa_ext.backends._http` under the backend's ``HttpLimits`` (body size, total
deadline, JSON depth), and a server-given absolute URL (``@odata.nextLink``,
``@odata.deltaLink``) is sent to only when it is on the base URL's origin, so the
token never goes to another host. :func:`error_for` turns a Graph error (a
response, or one inner response of a ``$batch``) into the package's own exception,
with the server's text cleared of secrets; :func:`translate_requests_errors` maps
``requests`` exceptions of the token endpoint.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import weakref
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
import requests

from severa_ext.backends._graph_auth import TokenProvider
from severa_ext.backends._http import (
    DEFAULT_RETRY_AFTER,
    HttpAnswer,
    HttpLimits,
    parse_json,
    parse_retry_after,
    require_same_origin,
    safe_url,
    send,
)
from severa_ext.errors import (
    AuthError,
    BackendError,
    BackendUnavailable,
    BadItem,
    MalformedResponse,
    NotFound,
    Throttled,
    VersionConflict,
)
from severa_ext.sync.journal import redact

__all__ = [
    "PREFER_UTC",
    "RESYNC_CODES",
    "GraphResponse",
    "GraphTransport",
    "SyncStateLost",
    "error_for",
    "mailbox_slots",
    "translate_requests_errors",
]

logger = logging.getLogger(__name__)

PREFER_UTC = 'outlook.timezone="UTC"'
"""Sent on every request: event times are answered in UTC."""

_MAX_MESSAGE = 500
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,80}")
_JSON_TYPES = ("application/json", "text/json")

RESYNC_CODES = frozenset({"syncStateNotFound", "resyncRequired", "SyncStateNotFound"})
"""Graph error codes that mean "the delta token is gone, start a full round"."""

_EXPLANATIONS = {
    "MailboxNotEnabledForRESTAPI": (
        "the mailbox is not enabled for the Graph calendar API: it has no Exchange "
        "Online licence, or it is an on-premises (hybrid) mailbox (S4, S5)"
    ),
    "ErrorAccessDenied": (
        "the application was not granted access to this mailbox (an application access "
        "policy or RBAC for Applications scope excludes it), or lacks Calendars.ReadWrite"
    ),
    "Authorization_RequestDenied": "the application lacks the permission for this call",
    "InvalidAuthenticationToken": "the access token is expired or invalid",
    "ErrorInvalidUser": "no such user or mailbox in the tenant",
    "Request_ResourceNotFound": "no such user or mailbox in the tenant",
    "ResourceNotFound": "the user, mailbox or item does not exist",
    "ErrorItemNotFound": "the item does not exist (deleted meanwhile?)",
    "ErrorIrresolvableConflict": "the item changed on the server since it was read",
}


@attrs.frozen
class GraphResponse:
    """A decoded Graph answer: status, headers (case-insensitive lookup) and JSON body."""

    status: int
    headers: Mapping[str, str]
    body: Any

    def header(self, name: str) -> str | None:
        """A header value, looked up without regard to case."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return str(value)
        return None


class SyncStateLost(BackendError):
    """The delta token is no longer valid (410 / ``syncStateNotFound``): resync."""


def _retry_after(response: GraphResponse) -> float:
    seconds = parse_retry_after(response.header("Retry-After"), now=datetime.now(UTC))
    return DEFAULT_RETRY_AFTER if seconds is None else seconds


def _error_parts(body: Any) -> tuple[str | None, str]:
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            code = error.get("code")
            message = error.get("message")
            return (str(code) if code else None, str(message) if message else "")
        if isinstance(error, str):  # token endpoint style
            return error, str(body.get("error_description", ""))
    return None, ""


def _server_text(text: str, secrets: tuple[str, ...]) -> str:
    """A server's error text, cut short and cleared of secrets it may echo back."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[REDACTED]")
    text = redact(text)
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "..."


def error_for(response: GraphResponse, *, ref: str, secrets: tuple[str, ...] = ()) -> BackendError:
    """The package error for a Graph error response (or an inner ``$batch`` response).

    Args:
        response: the failed response.
        ref: what was being done (an item id, ``"delta"``, a mailbox), for the message.
        secrets: values that must not appear in the message (the token that was sent);
            tokens, passwords and JWTs are removed from the server's text anyway.
    """
    status = response.status
    code, message = _error_parts(response.body)
    if code is not None and not _CODE.fullmatch(code):
        code = _server_text(code, secrets)
    message = _server_text(message, secrets)
    explanation = _EXPLANATIONS.get(code or "", "")
    text = f"graph {ref}: HTTP {status}"
    if code:
        text += f" {code}"
    if message:
        text += f": {message}"
    if explanation:
        text += f" ({explanation})"
    if status in {429, 503, 504} or code in {"TooManyRequests", "ApplicationThrottled"}:
        return Throttled(
            text,
            retry_after=_retry_after(response),
            backend="graph",
            code=code,
        )
    if status == 410 or code in RESYNC_CODES:
        return SyncStateLost(text, backend="graph", code=code or "syncStateNotFound")
    if status in {401, 403}:
        return AuthError(text, backend="graph", code=code)
    if status == 404:
        return NotFound(text, backend="graph", code=code)
    if status == 412 or code == "ErrorIrresolvableConflict":
        return VersionConflict(text, backend="graph", code=code)
    if status in {400, 409, 422}:
        bad = BadItem(ref, f"HTTP {status} {code or ''}: {message}".strip(), backend="graph")
        bad.code = code
        return bad
    if status >= 500:
        return BackendUnavailable(text, backend="graph", code=code)
    return MalformedResponse(text, backend="graph", code=code)


@contextlib.contextmanager
def translate_requests_errors(ref: str) -> Iterator[None]:
    """Map every ``requests`` failure inside the block to a package error."""
    try:
        yield
    except requests.Timeout as exc:
        raise BackendUnavailable(f"graph {ref}: timed out", backend="graph") from exc
    except requests.ConnectionError as exc:
        raise BackendUnavailable(
            f"graph {ref}: connection failed ({type(exc).__name__})", backend="graph"
        ) from exc
    except requests.RequestException as exc:
        raise BackendUnavailable(
            f"graph {ref}: request failed ({type(exc).__name__})", backend="graph"
        ) from exc


# Weak values: a mailbox's semaphore lives as long as a transport of it does.
_SLOTS: weakref.WeakValueDictionary[tuple[str, str, int], threading.BoundedSemaphore] = (
    weakref.WeakValueDictionary()
)
_SLOTS_LOCK = threading.Lock()


def mailbox_slots(base_url: str, mailbox: str, limit: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore that caps concurrent requests to one mailbox."""
    key = (base_url.rstrip("/").lower(), mailbox.strip().lower(), limit)
    with _SLOTS_LOCK:
        slots = _SLOTS.get(key)
        if slots is None:
            slots = _SLOTS[key] = threading.BoundedSemaphore(limit)
        return slots


def _redirect(response: GraphResponse, ref: str) -> MalformedResponse:
    target = response.header("Location") or ""
    return MalformedResponse(
        f"graph {ref}: HTTP {response.status} redirect to {safe_url(target)!r} not followed "
        "(the token goes only to the base URL)",
        backend="graph",
        code="redirect",
    )


class GraphTransport:
    """Sends Graph requests for one mailbox.

    Args:
        tokens: where bearer tokens come from.
        session: the ``requests.Session`` (one per backend).
        base_url: e.g. ``https://graph.microsoft.com/v1.0``.
        timeout: seconds for connecting and for each socket read.
        max_in_flight: the most requests in flight at once against ``mailbox``.
        mailbox: the mailbox the requests go to; every transport of the same base URL
            and mailbox in this process shares one limit.
        limits: body size, total deadline per call and JSON depth of every answer.
    """

    def __init__(
        self,
        tokens: TokenProvider,
        session: requests.Session,
        base_url: str,
        *,
        timeout: float,
        max_in_flight: int,
        mailbox: str = "",
        limits: HttpLimits | None = None,
    ) -> None:
        self.tokens = tokens
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.limits = limits if limits is not None else HttpLimits()
        self._slots = mailbox_slots(self.base_url, mailbox, max_in_flight)
        self._count_lock = threading.Lock()
        self.requests_sent = 0
        self.bytes_sent = 0

    def __repr__(self) -> str:
        return f"GraphTransport(base_url={self.base_url!r})"

    def url(self, path: str) -> str:
        """An absolute URL for a path relative to the base URL.

        Absolute URLs (links the server gave) pass only on the base URL's origin.

        Raises:
            MalformedResponse: ``path`` is an absolute URL on another origin.
        """
        if "://" in path or path.startswith("//"):
            return require_same_origin(path, self.base_url, what="link", backend="graph")
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        ref: str,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> GraphResponse:
        """Send one request; return the response or raise the mapped error.

        A 401 gets one more try with a fresh token; nothing else is retried.
        """
        data = None if json_body is None else json.dumps(json_body).encode()
        url = self.url(path)
        for attempt in (1, 2):
            token = self.tokens.token()
            response = self._send(method, url, token, ref=ref, params=params, data=data,
                                  headers=headers)  # fmt: skip
            if response.status < 300:
                return response
            if response.status < 400:
                raise _redirect(response, ref)
            if response.status == 401 and attempt == 1:
                code, _ = _error_parts(response.body)
                logger.info("graph %s: token refused (%s); acquiring a new one", ref, code)
                self.tokens.invalidate()
                continue
            raise error_for(response, ref=ref, secrets=(token,))
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self,
        method: str,
        url: str,
        token: str,
        *,
        ref: str,
        params: Mapping[str, str] | None,
        data: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> GraphResponse:
        all_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        # Times come back in UTC: Graph resolves custom and legacy zones itself.
        prefer = all_headers.get("Prefer")
        all_headers["Prefer"] = f"{prefer}, {PREFER_UTC}" if prefer else PREFER_UTC
        with self._slots:
            answer = send(
                self.session,
                method,
                url,
                limits=self.limits,
                timeout=self.timeout,
                backend="graph",
                what=ref,
                params=dict(params) if params else None,
                data=data,
                headers=all_headers,
            )
        with self._count_lock:
            self.requests_sent += 1
            self.bytes_sent += len(data or b"")
        logger.debug("graph %s %s -> %s", method, ref, answer.status)
        return GraphResponse(answer.status, answer.headers, self._body(answer, ref))

    def _body(self, answer: HttpAnswer, ref: str) -> Any:
        """The JSON body of an answer (``None`` for an empty or unreadable error body)."""
        if not answer.body:
            return None
        if answer.status >= 400:
            try:
                return parse_json(
                    answer.body, max_depth=self.limits.max_json_depth, what=ref, backend="graph"
                )
            except MalformedResponse:
                return None  # an error page: the status decides
        kind = answer.content_type
        if kind and kind not in _JSON_TYPES and not kind.endswith("+json"):
            raise MalformedResponse(
                f"graph {ref}: HTTP {answer.status} with a {kind} body, not JSON "
                "(a sign-in page or a proxy in front of Graph?)",
                backend="graph",
                code="not-json",
            )
        return parse_json(
            answer.body, max_depth=self.limits.max_json_depth, what=ref, backend="graph"
        )
