"""HTTP of the Severa backend: one session, the token flow, errors mapped at one edge.

:class:`SeveraTransport` sends every request through one ``requests.Session`` with a
timeout and the bounded reading of :mod:`severa_ext.backends._http`; it adds
``Authorization: Bearer`` and ``Client_Id`` to every call, gets tokens from
``POST /v1/token``, refreshes them with ``POST /v1/refreshtoken`` shortly before
they expire, and once more after a 401. :func:`error_for` is the one place where an
answer becomes a package error: the API's ``ExceptionModel`` (its ``type`` and
``details``) goes into the message (so the S6 journal keeps it), ``code`` holds the
type and :func:`api_details` returns the details. Secrets and tokens never appear in
a repr, a log line or an exception.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import attrs
import requests

from severa_ext.backends._http import (
    DEFAULT_RETRY_AFTER,
    HttpAnswer,
    HttpLimits,
    parse_json,
    parse_retry_after,
    send,
)
from severa_ext.clock import Clock
from severa_ext.errors import (
    AuthError,
    BackendError,
    BackendUnavailable,
    BadItem,
    ConfigError,
    MalformedResponse,
    NotFound,
    Throttled,
)
from severa_ext.sync.journal import redact

__all__ = [
    "DEFAULT_SCOPES",
    "SeveraCredentials",
    "SeveraTransport",
    "api_details",
    "error_for",
]

logger = logging.getLogger(__name__)

_BACKEND = "severa"
_EXPIRED = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_DETAILS = 5
_MAX_DETAIL_CHARS = 300

DEFAULT_SCOPES: tuple[str, ...] = (
    "activities:read",
    "activities:write",
    "activities:delete",
    "users:read",
    "settings:read",
)
"""The scopes the backend asks for: activities (read, write, delete), users (the S10
lookup and the user's time zone) and settings (activity types, S1/S8/S9)."""


def _not_blank(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"SeveraCredentials.{attribute.name} must not be blank")


def _scopes(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split()
    return tuple(str(scope) for scope in value)


@attrs.frozen
class SeveraCredentials:
    """An API client of the organisation (Severa: Settings > REST API).

    Attributes:
        client_id: the client id (also sent as the ``Client_Id`` header).
        client_secret: the secret; never shown in a repr, a log or an error.
        scopes: the scopes asked for, sent space-separated (the API description does
            not name a separator; space is OAuth 2's).
    """

    client_id: str = attrs.field(validator=_not_blank)
    client_secret: str = attrs.field(validator=_not_blank, repr=False)
    scopes: tuple[str, ...] = attrs.field(default=DEFAULT_SCOPES, converter=_scopes)


@attrs.define
class _Token:
    access: str = attrs.field(repr=False)
    refresh: str | None = attrs.field(repr=False)
    expires: datetime


def api_details(error: BaseException) -> tuple[str, ...]:
    """The ``ExceptionModel`` detail messages a Severa error carried (empty if none)."""
    details = getattr(error, "severa_details", ())
    return tuple(details) if isinstance(details, tuple) else ()


def _cleared(text: str, secrets: Iterable[str]) -> str:
    """``text`` without credentials: the known ``secrets`` and whatever looks like one."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[REDACTED]")
    return redact(text)


def _exception_model(body: Any, secrets: Iterable[str] = ()) -> tuple[str | None, tuple[str, ...]]:
    """The ``type`` and the detail lines of an ``ExceptionModel`` body, cleared of
    ``secrets`` and of anything that looks like a credential (a server may echo them)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, ()
    kind = error.get("type") if isinstance(error.get("type"), str) else None
    lines: list[str] = []
    for detail in (error.get("details") or [])[:_MAX_DETAILS]:
        if not isinstance(detail, dict):
            continue
        text = str(detail.get("message") or "")[:_MAX_DETAIL_CHARS]
        location = detail.get("location")
        if isinstance(location, dict) and location.get("name"):
            text += f" (at {location.get('type') or 'request'} {location['name']})"
        if text:
            lines.append(_cleared(text, secrets))
    if kind is not None:
        kind = _cleared(kind[:_MAX_DETAIL_CHARS], secrets)
    return kind, tuple(lines)


def error_for(
    answer: HttpAnswer,
    body: Any,
    *,
    what: str,
    ref: str | None,
    now: datetime,
    secrets: Iterable[str] = (),
) -> BackendError:
    """The package error for a failed answer.

    Args:
        answer: the answer (status and headers).
        body: its decoded JSON body, or ``None``.
        what: what was asked, for the message (``"list activities"``).
        ref: the activity the call was about, if any (``BadItem`` names it).
        now: the current time (an HTTP-date ``Retry-After`` counts from it).
        secrets: values that must not appear in the message even if the server
            echoes them (the client secret, the tokens).
    """
    status = answer.status
    kind, details = _exception_model(body, secrets)
    text = f"severa {what}: HTTP {status}"
    if kind:
        text += f" {kind}"
    if details:
        text += ": " + "; ".join(details)
    error: BackendError
    retry_after = parse_retry_after(answer.header("Retry-After"), now=now)
    if status == 429 or (status == 503 and retry_after is not None):
        wait = DEFAULT_RETRY_AFTER if retry_after is None else retry_after
        error = Throttled(text, retry_after=wait, backend=_BACKEND)
    elif status in {401, 403}:
        error = AuthError(text, backend=_BACKEND)
    elif status == 404:
        error = NotFound(text, backend=_BACKEND)
    elif status in {400, 409, 422} and ref is not None:
        error = BadItem(ref, text, backend=_BACKEND)
    elif status >= 500 or status == 408:
        error = BackendUnavailable(text, backend=_BACKEND)
    else:
        error = MalformedResponse(text, backend=_BACKEND)
    error.code = kind
    setattr(error, "severa_details", details)  # noqa: B010 (BackendError has no such field)
    return error


class SeveraTransport:
    """Sends requests to one organisation's Severa REST API.

    Args:
        credentials: the API client.
        session: the one ``requests.Session``.
        base_url: the API root, e.g. ``https://api.severa.visma.com/rest-api``.
        timeout: seconds for connecting and for each read, on every call.
        limits: body size, total time per call, pages and JSON depth.
        clock: decides when a token is about to expire.
        refresh_margin: a token this close to its expiry is refreshed first.
    """

    def __init__(
        self,
        credentials: SeveraCredentials,
        session: requests.Session,
        base_url: str,
        *,
        timeout: float,
        limits: HttpLimits,
        clock: Clock,
        refresh_margin: timedelta = timedelta(seconds=60),
    ) -> None:
        parts = urlsplit(base_url)
        loopback = parts.scheme == "http" and parts.hostname in {"127.0.0.1", "localhost", "::1"}
        if not (parts.scheme == "https" or loopback) or not parts.hostname:
            raise ConfigError(
                f"the Severa base URL must be https (plain http only on loopback): {base_url!r}"
            )
        self.credentials = credentials
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.limits = limits
        self.clock = clock
        self._margin = refresh_margin
        self._token: _Token | None = None
        self._lock = threading.Lock()
        self.requests_sent = 0

    def __repr__(self) -> str:
        return (
            f"SeveraTransport(base_url={self.base_url!r}, client_id={self.credentials.client_id!r})"
        )

    # -- one exchange -------------------------------------------------------------

    def _exchange(
        self,
        method: str,
        path: str,
        *,
        what: str,
        headers: Mapping[str, str],
        params: Any = None,
        body: Any = None,
    ) -> tuple[HttpAnswer, Any]:
        data = None if body is None else json.dumps(body).encode()
        all_headers = {"Accept": "application/json", "Client_Id": self.credentials.client_id}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers)
        answer = send(
            self.session,
            method,
            f"{self.base_url}/{path.lstrip('/')}",
            limits=self.limits,
            timeout=self.timeout,
            backend=_BACKEND,
            what=what,
            params=params,
            data=data,
            headers=all_headers,
        )
        with self._lock:
            self.requests_sent += 1
        logger.debug("severa %s %s -> %s", method, what, answer.status)
        decoded: Any = None
        if answer.body:
            try:
                decoded = parse_json(
                    answer.body, max_depth=self.limits.max_json_depth, what=what, backend=_BACKEND
                )
            except MalformedResponse:
                if answer.status < 400:
                    raise
        return answer, decoded

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        ref: str | None = None,
        params: Any = None,
        body: Any = None,
    ) -> tuple[HttpAnswer, Any]:
        """Send one authorised request; return the answer and its decoded body.

        A 401 gets one retry with a new token.

        Raises:
            BackendError: the mapped error of a failed answer (see :func:`error_for`).
        """
        for attempt in (1, 2):
            token = self._access_token()
            answer, decoded = self._exchange(
                method,
                path,
                what=what,
                headers={"Authorization": f"Bearer {token}"},
                params=params,
                body=body,
            )
            if answer.status == 401 and attempt == 1:
                logger.info("severa %s: token refused; getting a new one", what)
                self._forget(token)
                continue
            if answer.status >= 400:
                raise error_for(
                    answer,
                    decoded,
                    what=what,
                    ref=ref,
                    now=self.clock.now(),
                    secrets=self._secrets(),
                )
            return answer, decoded
        raise AssertionError("unreachable")  # pragma: no cover

    def pages(self, path: str, params: Mapping[str, Any], *, what: str) -> Iterator[list[Any]]:
        """Every page of a listing, following ``NextPageToken`` to the last page.

        Raises:
            MalformedResponse: a page is not a JSON array, a page token repeats (a
                loop), or the listing has more than ``limits.max_pages`` pages.
        """
        seen: set[str] = set()
        token: str | None = None
        for number in range(1, self.limits.max_pages + 1):
            query = dict(params)
            if token is not None:
                query["pageToken"] = token
            answer, rows = self.request("GET", path, what=f"{what} (page {number})", params=query)
            if not isinstance(rows, list):
                raise MalformedResponse(
                    f"severa {what}: a page is not a JSON array", backend=_BACKEND
                )
            yield rows
            token = answer.header("NextPageToken") or None
            if token is None:
                return
            if token in seen:
                raise MalformedResponse(
                    f"severa {what}: the server repeated a page token (a paging loop)",
                    backend=_BACKEND,
                )
            seen.add(token)
        raise MalformedResponse(
            f"severa {what}: more than {self.limits.max_pages} pages", backend=_BACKEND
        )

    # -- tokens ---------------------------------------------------------------------

    def _secrets(self) -> tuple[str, ...]:
        """What no message may show: the client secret and the current tokens."""
        with self._lock:
            token = self._token
        held = (token.access, token.refresh or "") if token is not None else ()
        return (self.credentials.client_secret, *held)

    def _forget(self, token: str) -> None:
        with self._lock:
            if self._token is not None and self._token.access == token:
                self._token = attrs.evolve(self._token, expires=_EXPIRED)

    def _access_token(self) -> str:
        with self._lock:
            current = self._token
        if current is not None and self.clock.now() + self._margin < current.expires:
            return current.access
        fresh = None
        if current is not None and current.refresh is not None:
            try:
                fresh = self._token_call("refreshtoken", current.refresh, "refresh the token")
            except AuthError:
                logger.info("severa: the refresh token was refused; signing in again")
        if fresh is None:
            credentials = self.credentials
            fresh = self._token_call(
                "token",
                {
                    "client_id": credentials.client_id,
                    "client_secret": credentials.client_secret,
                    "scope": " ".join(credentials.scopes),
                },
                "get a token",
            )
        with self._lock:
            self._token = fresh
        return fresh.access

    def _token_call(self, route: str, body: Any, what: str) -> _Token:
        answer, decoded = self._exchange("POST", f"v1/{route}", what=what, headers={}, body=body)
        if answer.status >= 400:
            error = error_for(
                answer, decoded, what=what, ref=None, now=self.clock.now(), secrets=self._secrets()
            )
            if isinstance(error, Throttled | BackendUnavailable):
                raise error
            auth = AuthError(
                f"{error}. The Severa token route refused the API client "
                f"{self.credentials.client_id!r}: check the client id, the secret and that "
                f"the client may have the scopes {' '.join(self.credentials.scopes)!r}",
                backend=_BACKEND,
            )
            auth.code = error.code
            setattr(auth, "severa_details", api_details(error))  # noqa: B010
            raise auth
        return self._read_token(decoded, what)

    def _read_token(self, decoded: Any, what: str) -> _Token:
        if not isinstance(decoded, dict) or not isinstance(decoded.get("access_token"), str):
            raise MalformedResponse(
                f"severa {what}: no access_token in the answer", backend=_BACKEND
            )
        lifetime = decoded.get("access_token_expires_in")
        if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime <= 0:
            lifetime = 300  # unknown: assume a short life, it is refreshed on a 401 anyway
        refresh = decoded.get("refresh_token")
        return _Token(
            access=decoded["access_token"],
            refresh=refresh if isinstance(refresh, str) and refresh else None,
            expires=self.clock.now() + timedelta(seconds=min(lifetime, 86400)),
        )
