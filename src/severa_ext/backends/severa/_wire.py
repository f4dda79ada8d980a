"""Bounded HTTP for the Severa backend, until ``severa_ext.backends._http`` is on main.

The names and signatures are those of ``severa_ext.backends._http`` (owner: the edge
helper): :class:`HttpLimits`, :class:`HttpAnswer`, :func:`send`, :func:`parse_json`
and :func:`parse_retry_after`, so that switching to the shared module is a change of
one import. What a server sends is bounded: the body's size after decompression, the
total time of a call, the JSON nesting depth, and the ``Retry-After`` it may ask for.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import math
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
import requests
import urllib3

from severa_ext.errors import BackendUnavailable, ConfigError, MalformedResponse

__all__ = [
    "DEFAULT_RETRY_AFTER",
    "MAX_RETRY_AFTER",
    "HttpAnswer",
    "HttpLimits",
    "parse_json",
    "parse_retry_after",
    "send",
]

MAX_RETRY_AFTER = 3600.0
"""The longest wait a server may ask for (seconds)."""

DEFAULT_RETRY_AFTER = 1.0
"""The wait reported when a server throttles without saying how long."""

_CHUNK = 64 * 1024


def _positive(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"HttpLimits.{attribute.name} must be positive, not {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"HttpLimits.{attribute.name} must be finite, not {value!r}")


@attrs.frozen
class HttpLimits:
    """How much one backend accepts from its server (see ``backends._http``)."""

    max_body_bytes: int = attrs.field(default=64 * 2**20, validator=_positive)
    deadline: float = attrs.field(default=120.0, validator=_positive)
    max_pages: int = attrs.field(default=10_000, validator=_positive)
    max_json_depth: int = attrs.field(default=64, validator=_positive)


@attrs.frozen
class HttpAnswer:
    """A status, the headers and the whole (bounded) body of one answer."""

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
    """Send one request and read its answer within ``limits``; no redirects.

    Raises:
        BackendUnavailable: network failure, timeout, or the deadline passed.
        MalformedResponse: the body is larger than ``limits.max_body_bytes``.
    """
    expires = time.monotonic() + limits.deadline
    with (
        _translate(what, backend=backend),
        session.request(
            method,
            url,
            stream=True,
            allow_redirects=False,
            timeout=min(timeout, limits.deadline),
            **kwargs,
        ) as response,
    ):
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > limits.max_body_bytes:
                raise MalformedResponse(
                    f"{backend} {what}: the answer is larger than {limits.max_body_bytes} bytes",
                    backend=backend,
                )
            if time.monotonic() > expires:
                raise BackendUnavailable(
                    f"{backend} {what}: the answer took longer than {limits.deadline:g} s",
                    backend=backend,
                )
            chunks.append(chunk)
        return HttpAnswer(response.status_code, dict(response.headers), b"".join(chunks))


@contextlib.contextmanager
def _translate(what: str, *, backend: str) -> Iterator[None]:
    try:
        yield
    except (requests.Timeout, urllib3.exceptions.TimeoutError) as exc:
        raise BackendUnavailable(f"{backend} {what}: timed out", backend=backend) from exc
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise BackendUnavailable(
            f"{backend} {what}: request failed ({type(exc).__name__})", backend=backend
        ) from exc


def _depth(value: Any) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_json(data: bytes | str, *, max_depth: int, what: str, backend: str) -> Any:
    """JSON text as Python values, nested at most ``max_depth`` deep.

    Raises:
        MalformedResponse: not JSON, or nested too deep.
    """
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise MalformedResponse(
            f"{backend} {what}: the answer is not JSON", backend=backend
        ) from exc
    if _depth(value) > max_depth:
        raise MalformedResponse(
            f"{backend} {what}: the answer nests deeper than {max_depth} levels", backend=backend
        )
    return value


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """A ``Retry-After`` value (seconds or an HTTP date) as seconds from ``now``, at most
    :data:`MAX_RETRY_AFTER`; ``None`` when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit() and len(text) <= 12:
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER)
