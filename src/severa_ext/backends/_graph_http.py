"""HTTP plumbing of the Graph backend: one session, bearer tokens, errors at one edge.

:class:`GraphTransport` sends every request through one ``requests.Session`` with a
timeout, at most ``max_in_flight`` at a time (Exchange Online allows four concurrent
requests per mailbox), adds the bearer token and retries once with a fresh token
when Graph says the token expired. :func:`error_for` turns a Graph error (a
response, or one inner response of a ``$batch``) into the package's own exception,
and :func:`translate_requests_errors` is the single place where ``requests``
exceptions are mapped.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import threading
import weakref
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
import requests

from severa_ext.backends._graph_auth import TokenProvider
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

__all__ = [
    "PREFER_UTC",
    "RESYNC_CODES",
    "GraphResponse",
    "GraphTransport",
    "SyncStateLost",
    "error_for",
    "mailbox_slots",
    "retry_after_seconds",
    "translate_requests_errors",
]

logger = logging.getLogger(__name__)

PREFER_UTC = 'outlook.timezone="UTC"'
"""Sent on every request: event times are answered in UTC."""

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


def retry_after_seconds(value: str | None, default: float = 1.0) -> float:
    """The delay a ``Retry-After`` header asks for (seconds or an HTTP date)."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


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


def error_for(response: GraphResponse, *, ref: str) -> BackendError:
    """The package error for a Graph error response (or an inner ``$batch`` response).

    Args:
        response: the failed response.
        ref: what was being done (an item id, ``"delta"``, a mailbox), for the message.
    """
    status = response.status
    code, message = _error_parts(response.body)
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
            retry_after=retry_after_seconds(response.header("Retry-After")),
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


class GraphTransport:
    """Sends Graph requests for one mailbox.

    Args:
        tokens: where bearer tokens come from.
        session: the ``requests.Session`` (one per backend).
        base_url: e.g. ``https://graph.microsoft.com/v1.0``.
        timeout: seconds, for connect and read, on every call.
        max_in_flight: the most requests in flight at once against ``mailbox``.
        mailbox: the mailbox the requests go to; every transport of the same base URL
            and mailbox in this process shares one limit.
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
    ) -> None:
        self.tokens = tokens
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._slots = mailbox_slots(self.base_url, mailbox, max_in_flight)
        self._count_lock = threading.Lock()
        self.requests_sent = 0
        self.bytes_sent = 0

    def __repr__(self) -> str:
        return f"GraphTransport(base_url={self.base_url!r})"

    def url(self, path: str) -> str:
        """An absolute URL for a path relative to the base URL (absolute URLs pass)."""
        if path.startswith(("http://", "https://")):
            return path
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

        A 401 ``InvalidAuthenticationToken`` gets one retry with a fresh token.
        """
        data = None if json_body is None else json.dumps(json_body).encode()
        for attempt in (1, 2):
            response = self._send(method, path, ref=ref, params=params, data=data, headers=headers)
            if response.status < 400:
                return response
            code, _ = _error_parts(response.body)
            if response.status == 401 and attempt == 1:
                logger.info("graph %s: token refused (%s); acquiring a new one", ref, code)
                self.tokens.invalidate()
                continue
            raise error_for(response, ref=ref)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self,
        method: str,
        path: str,
        *,
        ref: str,
        params: Mapping[str, str] | None,
        data: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> GraphResponse:
        token = self.tokens.token()
        all_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        # Times come back in UTC: Graph resolves custom and legacy zones itself.
        prefer = all_headers.get("Prefer")
        all_headers["Prefer"] = f"{prefer}, {PREFER_UTC}" if prefer else PREFER_UTC
        with self._slots, translate_requests_errors(ref):
            raw = self.session.request(
                method,
                self.url(path),
                params=dict(params) if params else None,
                data=data,
                headers=all_headers,
                timeout=self.timeout,
            )
            content = raw.content
        with self._count_lock:
            self.requests_sent += 1
            self.bytes_sent += len(data or b"")
        logger.debug("graph %s %s -> %s", method, ref, raw.status_code)
        body: Any = None
        if content:
            try:
                body = json.loads(content)
            except ValueError as exc:
                if raw.status_code < 400:
                    raise MalformedResponse(
                        f"graph {ref}: HTTP {raw.status_code} with a body that is not JSON",
                        backend="graph",
                    ) from exc
                body = None
        return GraphResponse(raw.status_code, dict(raw.headers), body)
