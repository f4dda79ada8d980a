"""Bounded HTTP for every backend that talks to a server: nothing a server sends is trusted.

A server (or anyone between us and it) may send a body without end, a gzip bomb, one
byte a second, JSON nested 200,000 levels deep, links to another host, or a
``Retry-After`` of a year. This module bounds each of those in one place, so the
Graph, EWS, Severa and ICS backends share one rule set:

- :class:`HttpLimits`: the limits of one backend (decompressed body bytes, a total
  deadline per call, pages per round, JSON depth), validated when built.
- :class:`Deadline`: the total time one call may take, started before the request is
  sent; :meth:`Deadline.timeout` gives the ``requests`` timeout that still fits and
  :meth:`Deadline.check` raises :class:`~severa_ext.errors.BackendUnavailable` once
  it is spent.
- :func:`send`: one request through a ``requests.Session`` with ``stream=True`` and
  redirects off (a redirect would carry the credentials elsewhere), its body read by
  :func:`read_body`, every ``requests`` failure mapped to
  :class:`~severa_ext.errors.BackendUnavailable`. Returns an :class:`HttpAnswer`.
- :func:`read_body`: the body of a streamed response, decompressed, refused with
  :class:`~severa_ext.errors.MalformedResponse` past ``max_body_bytes`` and with
  :class:`~severa_ext.errors.BackendUnavailable` past the deadline. It reads with
  ``read1`` (whatever one socket read brings), so a slow body cannot hide behind the
  per-read timeout, and urllib3 decompresses at most one chunk's worth at a time, so
  a gzip bomb stops at the cap instead of filling memory.
- :func:`parse_json`: JSON text to Python values; not JSON, nested deeper than
  ``max_depth``, or too deep for the parser: :class:`~severa_ext.errors.MalformedResponse`
  (never ``RecursionError``).
- :func:`same_origin` and :func:`require_same_origin`: a server-given URL (a next
  page, a delta cursor, an autodiscover answer) is followed with credentials only
  when its scheme, host and port are those of the configured base URL.
- :func:`parse_retry_after`: a ``Retry-After`` value (delta-seconds or an HTTP date,
  RFC 9110 section 10.2.3) as seconds from ``now``, at most :data:`MAX_RETRY_AFTER`;
  anything else is ``None``.
- :func:`safe_url`: a URL for messages and logs, without user info, query or fragment
  (where tokens and cursors travel).

The deadline also covers the status line and the headers: :func:`send` reads every
answer through :mod:`severa_ext.backends._http_deadline`, which cuts each socket read
to what is left of the call (a server trickling its head one byte a second is cut off
at the deadline). A session's stock ``HTTPAdapter`` is replaced by a
:class:`~severa_ext.backends._http_deadline.DeadlineAdapter` for that; an adapter of
another class (a host's own) is kept, and its answers are checked against the deadline
once their headers are in.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs
import requests
import urllib3

from severa_ext.backends._http_deadline import calling_until, deadline_adapter
from severa_ext.errors import BackendUnavailable, ConfigError, MalformedResponse

__all__ = [
    "DEFAULT_RETRY_AFTER",
    "MAX_RETRY_AFTER",
    "Deadline",
    "HttpAnswer",
    "HttpLimits",
    "parse_json",
    "parse_retry_after",
    "read_body",
    "require_same_origin",
    "safe_url",
    "same_origin",
    "send",
]

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER = 3600.0
"""The longest wait a server may ask for (seconds); longer requests are cut to this."""

DEFAULT_RETRY_AFTER = 1.0
"""The wait a backend reports when a server throttles without saying how long."""

_CHUNK = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
_DELTA_SECONDS = re.compile(r"[0-9]{1,12}")


def _positive_int(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"HttpLimits.{attribute.name} must be a positive integer, not {value!r}")


def _positive_seconds(instance: object, attribute: attrs.Attribute[float], value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"HttpLimits.{attribute.name} must be a positive number, not {value!r}")


@attrs.frozen
class HttpLimits:
    """How much one backend accepts from its server.

    Attributes:
        max_body_bytes: the most bytes one response body may have after
            decompression (default 64 MiB; a Graph page of 1,000 events is about 3 MiB).
        deadline: seconds one call may take in all, from sending the request to the
            last byte of the answer (default 120).
        max_pages: the most pages one listing round may follow (default 10,000: with
            Graph's page size of 1,000 events, ten million events).
        max_json_depth: the deepest nesting of arrays and objects a JSON answer may
            have (default 64; Graph answers nest fewer than ten levels).

    Raises:
        ConfigError: a limit is not a positive number (a ``ValueError``).
    """

    max_body_bytes: int = attrs.field(default=64 * 2**20, validator=_positive_int)
    deadline: float = attrs.field(default=120.0, validator=_positive_seconds)
    max_pages: int = attrs.field(default=10_000, validator=_positive_int)
    max_json_depth: int = attrs.field(default=64, validator=_positive_int)


@attrs.frozen
class Deadline:
    """The end of one call's time, on a monotonic clock.

    Build it with :meth:`start` before the request is sent.
    """

    expires: float
    seconds: float
    clock: Callable[[], float] = attrs.field(default=time.monotonic, repr=False)

    @classmethod
    def start(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        """A deadline ``seconds`` from now."""
        return cls(clock() + seconds, seconds, clock)

    def remaining(self) -> float:
        """Seconds left (negative once spent)."""
        return self.expires - self.clock()

    def timeout(self, per_read: float) -> float:
        """The ``requests`` timeout to use now: ``per_read``, or less if the call is late."""
        return max(0.001, min(per_read, self.remaining()))

    def check(self, what: str, *, backend: str) -> None:
        """Raise if the deadline is spent.

        Raises:
            BackendUnavailable: the call took longer than its deadline.
        """
        if self.remaining() <= 0:
            raise BackendUnavailable(
                f"{backend} {what}: no complete answer within {self.seconds:g} s",
                backend=backend,
                code="deadline",
            )


@attrs.frozen
class HttpAnswer:
    """A response read whole under the limits: status, headers and body bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """A header value, looked up without regard to case."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return str(value)
        return None

    @property
    def content_type(self) -> str:
        """The media type in lower case, without parameters (``""`` if none)."""
        value = self.header("Content-Type") or ""
        return value.split(";", 1)[0].strip().lower()


def read_body(
    response: requests.Response,
    *,
    limits: HttpLimits,
    deadline: Deadline,
    what: str,
    backend: str,
) -> bytes:
    """The decompressed body of a response sent with ``stream=True``, within the limits.

    Args:
        response: a streamed response (its body not read yet).
        limits: ``max_body_bytes`` bounds the decompressed body.
        deadline: checked after every socket read.
        what: what was asked for, for messages (no secrets: see :func:`safe_url`).
        backend: the backend's short name, for the errors.

    Raises:
        MalformedResponse: the body is larger than ``limits.max_body_bytes``.
        BackendUnavailable: the deadline passed, or the connection broke.
    """
    raw = response.raw
    chunks: list[bytes] = []
    size = 0
    while True:
        deadline.check(what, backend=backend)
        chunk = raw.read1(_CHUNK, decode_content=True)
        if not chunk:
            break
        size += len(chunk)
        if size > limits.max_body_bytes:
            raise MalformedResponse(
                f"{backend} {what}: the answer is larger than {limits.max_body_bytes} bytes",
                backend=backend,
                code="too-large",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    limits: HttpLimits,
    timeout: float,
    backend: str,
    what: str,
    **kwargs: Any,
) -> HttpAnswer:
    """Send one request and read its answer within ``limits``; redirects are not followed.

    Args:
        session: the backend's session (its adapters and auth apply).
        method: the HTTP method.
        url: the absolute URL (check server-given URLs with :func:`require_same_origin`
            first).
        limits: the body cap and the total deadline of this call.
        timeout: seconds for connecting and for each socket read (cut to what is left
            of the deadline).
        backend: the backend's short name, for the errors.
        what: what is asked for, for messages.
        **kwargs: passed to :meth:`requests.Session.request` (``headers``, ``data``,
            ``params``, ``auth``...); ``stream``, ``timeout`` and ``allow_redirects``
            are set here.

    Raises:
        BackendUnavailable: network failure, timeout, or the deadline passed.
        MalformedResponse: the body is too large.
    """
    deadline = Deadline.start(limits.deadline)
    with _translate_errors(what, deadline, backend=backend), calling_until(deadline.remaining):
        deadline_adapter(session, url)
        response = session.request(
            method,
            url,
            stream=True,
            allow_redirects=False,
            timeout=deadline.timeout(timeout),
            **kwargs,
        )
        try:
            deadline.check(what, backend=backend)
            body = read_body(response, limits=limits, deadline=deadline, what=what, backend=backend)
        except BaseException:
            response.close()  # unread bytes of a refused answer: drop the connection
            raise
        # Read to the end: the connection goes back to the pool for the next call.
        response.raw.release_conn()
        return HttpAnswer(response.status_code, dict(response.headers), body)


@contextlib.contextmanager
def _translate_errors(what: str, deadline: Deadline, *, backend: str) -> Iterator[None]:
    """Map ``requests`` and ``urllib3`` failures (also those raised while streaming)."""
    try:
        yield
    except (requests.Timeout, urllib3.exceptions.TimeoutError) as exc:
        deadline.check(what, backend=backend)
        raise BackendUnavailable(f"{backend} {what}: timed out", backend=backend) from exc
    except urllib3.exceptions.DecodeError as exc:
        raise MalformedResponse(
            f"{backend} {what}: the answer's content encoding does not decode",
            backend=backend,
        ) from exc
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise BackendUnavailable(
            f"{backend} {what}: request failed ({type(exc).__name__})", backend=backend
        ) from exc


def _too_deep(value: Any, max_depth: int) -> bool:
    """Whether arrays and objects in ``value`` nest deeper than ``max_depth``.

    One level at a time, without recursion (a few milliseconds for a page of 1,000
    Graph events).
    """
    level = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            return True
        below: list[Any] = []
        for node in level:
            for child in node.values() if isinstance(node, dict) else node:
                if isinstance(child, dict | list):
                    below.append(child)
        level = below
    return False


def parse_json(data: bytes | str, *, max_depth: int, what: str, backend: str) -> Any:
    """Parse a JSON answer whose nesting is at most ``max_depth`` levels.

    Raises:
        MalformedResponse: not JSON (or not UTF-8), or nested too deep.
    """
    try:
        value = json.loads(data)
    except RecursionError as exc:
        raise MalformedResponse(
            f"{backend} {what}: the JSON answer is nested too deeply", backend=backend
        ) from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, huge integers
        raise MalformedResponse(
            f"{backend} {what}: the answer is not valid JSON ({type(exc).__name__})",
            backend=backend,
        ) from exc
    if _too_deep(value, max_depth):
        raise MalformedResponse(
            f"{backend} {what}: the JSON answer nests deeper than {max_depth} levels",
            backend=backend,
        )
    return value


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme]


def same_origin(url: str, base_url: str) -> bool:
    """Whether ``url`` has the scheme, host and port of ``base_url`` (default ports filled in).

    URLs that are not absolute http(s) URLs, or whose port does not parse, never match.
    """
    origin = _origin(url)
    return origin is not None and origin == _origin(base_url)


def require_same_origin(url: object, base_url: str, *, what: str, backend: str) -> str:
    """``url`` itself when it may carry this backend's credentials.

    Args:
        url: a URL the server gave (a next page, a delta link, a redirect target).
        base_url: the configured base URL.
        what: what the URL is, for the message.
        backend: the backend's short name.

    Raises:
        MalformedResponse: ``url`` is not a string or points at another origin (the
            message names only its scheme and host, never its query).
    """
    if isinstance(url, str) and same_origin(url, base_url):
        return url
    shown = safe_url(url) if isinstance(url, str) else type(url).__name__
    raise MalformedResponse(
        f"{backend}: the server's {what} points outside {safe_url(base_url)} ({shown}); "
        "not followed",
        backend=backend,
        code="foreign-link",
    )


def safe_url(url: str) -> str:
    """``url`` without user info, query and fragment, for messages and logs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparseable URL>"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait that a ``Retry-After`` value asks for, counted from ``now``.

    Args:
        value: the header value: delta-seconds (``"120"``) or an HTTP date
            (``"Wed, 21 Oct 2015 07:28:00 GMT"``).
        now: the current time (aware; a naive value is taken as UTC).

    Returns:
        Seconds in ``[0, MAX_RETRY_AFTER]`` (a date in the past is ``0``), or ``None``
        when the value is missing or not one of the two forms.
    """
    if value is None:
        return None
    text = value.strip()
    if _DELTA_SECONDS.fullmatch(text):
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER)
