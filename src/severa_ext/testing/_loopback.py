"""What every fake server shares: a loopback HTTP server, a wire-fault queue, a request log.

* :class:`LoopbackServer`: a threaded ``http.server`` on ``127.0.0.1`` and a random
  port, served from a daemon thread; ``start`` / ``stop`` (idempotent), a context
  manager, ``port`` and a ``stopping`` event that slow answers wait on, so a stop is
  never held up by an injected delay.
* :class:`LoopbackHandler`: the request handler base (HTTP/1.1, quiet logging, every
  method to one ``_dispatch``, an answer written with its length, a dropped
  connection).
* :class:`FaultQueue`: the faults a test armed for the wire, oldest first, each for a
  number of matching requests; the fake's handler takes one per request.
* :class:`RequestLog`: what the fake received, with counts by request kind.

These are the fakes' own switches (a 429 with ``Retry-After``, an ``ErrorServerBusy``
fault, a dropped connection), so that a real backend's error translation runs;
:mod:`severa_ext.testing.faults` injects faults around any backend instead.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Self, TypeVar

import attrs

from severa_ext.errors import ConfigError

__all__ = ["FaultQueue", "LoopbackHandler", "LoopbackServer", "RequestLog"]

logger = logging.getLogger(__name__)

_F = TypeVar("_F")
_R = TypeVar("_R")


class LoopbackServer:
    """The lifecycle of a fake server on ``127.0.0.1`` (a random free port).

    A subclass says which handler class serves (:meth:`_handler`, bound to the fake)
    and may act once the port is known (:meth:`_started`) and after the server
    stopped (:meth:`_stopped`).
    """

    thread_name = "fake-server"

    def __init__(self) -> None:
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()
        """Set while the server stops: injected delays wait on it."""

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class, bound to this fake."""
        raise NotImplementedError

    def _started(self) -> None:
        """Called once the port is bound, before the first request is served."""

    def _stopped(self) -> None:
        """Called after the server stopped and released its port."""

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._httpd is not None

    def start(self) -> Self:
        """Bind a random port on 127.0.0.1 and serve in a daemon thread (idempotent)."""
        if self._httpd is not None:
            return self
        self.stopping.clear()
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        httpd.daemon_threads = True
        self._httpd = httpd
        self._started()
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        self.stopping.set()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._stopped()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port.

        Raises:
            ConfigError: the server is not started.
        """
        if self._httpd is None:
            raise ConfigError(f"{type(self).__name__} is not started")
        return int(self._httpd.server_address[1])


class LoopbackHandler(BaseHTTPRequestHandler):
    """The base of a fake's request handler: every method goes to :meth:`_dispatch`."""

    protocol_version = "HTTP/1.1"
    log_name = "fake server"

    def log_message(self, format: str, *args: Any) -> None:
        """Log at DEBUG only: test output stays quiet."""
        logger.debug(f"{self.log_name}: {format}", *args)

    def _dispatch(self, method: str) -> None:
        """Answer one request of ``method``."""
        raise NotImplementedError

    def read_body(self) -> bytes:
        """The request body (``Content-Length`` bytes)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_body(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        """Write a whole answer: status, ``headers``, ``Content-Length``, ``data``."""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def drop(self) -> None:
        """Close the connection without an answer."""
        self.close_connection = True
        with contextlib.suppress(OSError):  # the peer may have gone first
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


@attrs.define
class _Armed(Generic[_F]):
    fault: _F
    remaining: int


class FaultQueue(Generic[_F]):
    """Wire faults armed by a test, oldest first, each for ``count`` matching requests.

    Thread-safe: the handler threads take faults while the test arms more.
    """

    def __init__(self) -> None:
        self._armed: list[_Armed[_F]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._armed)

    def add(self, fault: _F, count: int = 1) -> None:
        """Arm ``fault`` for the next ``count`` requests it matches."""
        if count > 0:
            with self._lock:
                self._armed.append(_Armed(fault, count))

    def take(
        self, matches: Callable[[_F], bool], *, hold: Callable[[_F], bool] | None = None
    ) -> _F | None:
        """Use up one activation of the oldest fault that ``matches``; None if none does.

        ``hold`` may let the request through instead (``True``: no fault this time,
        e.g. a fault armed to strike after some requests).
        """
        with self._lock:
            for armed in self._armed:
                if not matches(armed.fault):
                    continue
                if hold is not None and hold(armed.fault):
                    return None
                armed.remaining -= 1
                if armed.remaining == 0:
                    self._armed.remove(armed)
                return armed.fault
        return None

    def clear(self) -> None:
        """Disarm everything."""
        with self._lock:
            self._armed.clear()

    @property
    def pending(self) -> int:
        """Activations not used yet."""
        with self._lock:
            return sum(armed.remaining for armed in self._armed)


class RequestLog(Generic[_R]):
    """What a fake received: entries (oldest first, at most ``cap``) and counts by kind."""

    def __init__(self, cap: int = 10_000) -> None:
        self.entries: list[_R] = []
        """The recorded requests (read under no lock: copy before iterating)."""
        self.counts: Counter[str] = Counter()
        """Requests by kind, including those past the cap."""
        self._cap = cap
        self._lock = threading.Lock()

    def record(self, entry: _R, kind: str) -> None:
        """Log one request of ``kind``."""
        with self._lock:
            self.counts[kind] += 1
            if len(self.entries) < self._cap:
                self.entries.append(entry)

    def snapshot(self) -> list[_R]:
        """A copy of the entries."""
        with self._lock:
            return list(self.entries)

    def clear(self) -> None:
        """Forget entries and counts."""
        with self._lock:
            self.entries.clear()
            self.counts.clear()
