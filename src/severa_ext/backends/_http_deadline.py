"""A total deadline that also covers the status line and the headers of an answer.

``requests`` and ``urllib3`` know only a per-read timeout: a server that trickles its
status line and headers one byte a second, each byte inside that timeout, holds a call
for as long as it likes, before :func:`severa_ext.backends._http.send` sees a single
byte of the answer. This module moves the deadline down to the socket:

- :class:`DeadlineAdapter`: a ``requests`` ``HTTPAdapter`` whose connections read
  every answer (status line, headers and body) through :class:`_DeadlineReader`, which
  shortens the socket's timeout before each read to what is left of the call's
  deadline, and refuses to read once it is spent. A trickling server is cut off at the
  deadline, whatever the per-read timeout.
- :func:`calling_until`: the context in which one call's deadline applies (a context
  variable, so concurrent calls on other threads each have their own).
- :func:`deadline_adapter`: the adapter a session uses for a URL, with a stock
  ``HTTPAdapter`` (what every new ``requests.Session`` mounts) replaced by a
  :class:`DeadlineAdapter` once. A session whose adapter is some other class keeps it
  (its owner chose it); that adapter's answers are only checked against the deadline
  once their headers are in.

Not covered: the TCP connect is bounded by the connect timeout (cut to what is left of
the deadline) and a TLS handshake by the per-read timeout of each of its reads; SOCKS
proxies keep their own connection classes.
"""

from __future__ import annotations

import contextlib
import contextvars
import http.client
import io
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

__all__ = ["DeadlineAdapter", "calling_until", "deadline_adapter"]

logger = logging.getLogger(__name__)

_REMAINING: contextvars.ContextVar[Callable[[], float] | None] = contextvars.ContextVar(
    "severa_ext_http_remaining", default=None
)
_SWAP_LOCK = threading.Lock()


@contextlib.contextmanager
def calling_until(remaining: Callable[[], float]) -> Iterator[None]:
    """Answers read in this context stop once ``remaining()`` (seconds) is not positive."""
    token = _REMAINING.set(remaining)
    try:
        yield
    finally:
        _REMAINING.reset(token)


class _DeadlineReader(io.RawIOBase):
    """One answer's bytes from the socket, each read within what is left of the call."""

    def __init__(self, inner: Any, sock: Any, remaining: Callable[[], float]) -> None:
        super().__init__()
        self._inner = inner
        self._sock = sock
        self._remaining = remaining
        self._per_read: float | None = sock.gettimeout()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        left = self._remaining()
        if left <= 0:
            raise TimeoutError("the call's deadline passed while reading the answer")
        self._sock.settimeout(left if self._per_read is None else min(self._per_read, left))
        count: int | None = self._inner.readinto1(buffer)
        return count

    def fileno(self) -> int:
        return int(self._inner.fileno())

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    """``http.client``'s response, reading through :class:`_DeadlineReader` in a call."""

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        remaining = _REMAINING.get()
        if remaining is not None and self.fp is not None:
            self.fp = io.BufferedReader(_DeadlineReader(self.fp, sock, remaining))


class _HTTPConnection(HTTPConnection):
    response_class = _DeadlineResponse


class _HTTPSConnection(HTTPSConnection):
    response_class = _DeadlineResponse


class _HTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOL_CLASSES: dict[str, type[HTTPConnectionPool]] = {
    "http": _HTTPConnectionPool,
    "https": _HTTPSConnectionPool,
}


def _arm(manager: Any) -> Any:
    """``manager`` (a urllib3 pool or proxy manager) making deadline-aware pools."""
    if isinstance(manager, PoolManager):
        manager.pool_classes_by_scheme = _POOL_CLASSES
    return manager


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose answers honour the deadline of :func:`calling_until`.

    Outside such a context it behaves like the stock adapter.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Build the pool manager, then make it use the deadline-aware pools."""
        super().init_poolmanager(*args, **kwargs)
        _arm(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """The proxy manager for ``proxy``, using the deadline-aware pools."""
        known = proxy in self.proxy_manager
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        return manager if known else _arm(manager)


def deadline_adapter(session: requests.Session, url: str) -> requests.adapters.BaseAdapter:
    """The adapter ``session`` sends ``url`` with; a stock one is swapped first.

    Raises:
        requests.exceptions.InvalidSchema: no adapter is mounted for ``url``.
    """
    adapter = session.get_adapter(url)
    if type(adapter) is not HTTPAdapter:
        return adapter
    with _SWAP_LOCK:
        adapter = session.get_adapter(url)
        if type(adapter) is not HTTPAdapter:
            return adapter
        prefix = next(key for key, value in session.adapters.items() if value is adapter)
        replacement = DeadlineAdapter(max_retries=adapter.max_retries)
        session.mount(prefix, replacement)
        adapter.close()
        logger.debug("mounted a DeadlineAdapter for %s", prefix)
        return replacement
