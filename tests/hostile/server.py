"""A hostile HTTP server on 127.0.0.1 for attacking the SDK's HTTP backends.

Import it from any test (``tests`` is on the path)::

    from hostile.server import HostileServer, gzip_bomb, json_reply

    with HostileServer() as server:
        server.route("/v1.0/users/x/events", json_reply({"value": []}))
        ...  # point a backend at server.url

Each route answers with scripted :class:`Reply` values, in order (the last one
repeats), or with a function of the request (for answers that must name the server's
own address, such as a next link pointing at itself). Every request is recorded in
:attr:`HostileServer.requests` (method, path with query, headers, body), so a test can
assert what the client sent, and where.

The reply builders cover what a hostile or broken server sends: :func:`huge` (a body
of any size, written without holding it in memory), :func:`gzip_bomb`,
:func:`slow` (bytes with a pause between each), :func:`endless` (no length, no end),
:func:`trickled_head` (the status line and headers one byte at a time),
:func:`deep_json`, :func:`html_login` (a login page instead of an API answer) and
plain :func:`json_reply` / :func:`xml_reply`. Every writer is bounded: a slow body has a
fixed length, an endless body stops after :data:`ENDLESS_CAP` bytes, and every write
stops as soon as the client hangs up.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import attrs

__all__ = [
    "ENDLESS_CAP",
    "HostileServer",
    "RecordedRequest",
    "Reply",
    "deep_json",
    "endless",
    "gzip_bomb",
    "html_login",
    "huge",
    "json_reply",
    "slow",
    "trickled_head",
    "within",
    "xml_reply",
]

ENDLESS_CAP = 2 * 2**30
"""The most bytes an "endless" body writes before the server gives up (2 GiB)."""

_BLOCK = 64 * 1024


@attrs.frozen
class Reply:
    """One scripted answer.

    Attributes:
        status: the HTTP status.
        chunks: the body, as blocks written one after another (a tuple of bytes).
        repeat: how many times ``chunks`` is written (big bodies from a small block).
        headers: extra headers, in order.
        content_type: the ``Content-Type`` header (``""``: none).
        byte_delay: seconds to wait before each byte (a slow body).
        send_length: send ``Content-Length`` (otherwise the body ends when the
            connection closes).
        head_delay: seconds to wait before each byte of the status line and the
            headers (a server that trickles its head).
    """

    status: int = 200
    chunks: tuple[bytes, ...] = ()
    repeat: int = 1
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"
    byte_delay: float = 0.0
    send_length: bool = True
    head_delay: float = 0.0

    @property
    def length(self) -> int:
        """The body's size in bytes."""
        return sum(len(chunk) for chunk in self.chunks) * self.repeat


@attrs.frozen
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """A request header, looked up without regard to case."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


Responder = Callable[[RecordedRequest, "HostileServer"], Reply]


def within(seconds: float) -> Callable[[], bool]:
    """A check that less than ``seconds`` passed since this call (bounds a test's time)."""
    started = time.monotonic()
    return lambda: time.monotonic() - started < seconds


def json_reply(body: Any, *, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """A JSON answer."""
    return Reply(status=status, chunks=(json.dumps(body).encode(),), headers=headers)


def xml_reply(text: str, *, status: int = 200) -> Reply:
    """An XML (SOAP) answer."""
    return Reply(status=status, chunks=(text.encode(),), content_type="text/xml; charset=utf-8")


def huge(size: int, *, content_type: str = "application/json") -> Reply:
    """A body of ``size`` bytes (spaces after a ``{``: it is never valid JSON)."""
    block = b" " * _BLOCK
    return Reply(
        chunks=(b"{", block),
        repeat=max(1, size // _BLOCK),
        content_type=content_type,
    )


@functools.cache
def _bomb(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    zeros = bytes(2**20)
    parts = [packer.compress(zeros) for _ in range(max(1, size // len(zeros)))]
    parts.append(packer.flush())
    return b"".join(parts)


def gzip_bomb(size: int = 400 * 2**20, *, content_type: str = "application/json") -> Reply:
    """A small gzip body (``Content-Encoding: gzip``) that expands to ``size`` zero bytes."""
    return Reply(
        chunks=(_bomb(size),),
        headers=(("Content-Encoding", "gzip"),),
        content_type=content_type,
    )


def slow(body: bytes, *, byte_delay: float = 1.0, content_type: str = "application/json") -> Reply:
    """``body``, one byte every ``byte_delay`` seconds."""
    return Reply(chunks=(body,), byte_delay=byte_delay, content_type=content_type)


def endless(*, content_type: str = "application/json") -> Reply:
    """A body without a length that goes on until the client hangs up."""
    return Reply(
        chunks=(b"[" + b"0," * (_BLOCK // 2),),
        repeat=ENDLESS_CAP // _BLOCK,
        content_type=content_type,
        send_length=False,
    )


def trickled_head(
    reply: Reply | None = None, *, byte_delay: float = 1.0, padding: int = 0
) -> Reply:
    """``reply`` (an empty JSON object by default) with its status line and headers sent
    one byte every ``byte_delay`` seconds, after ``padding`` bytes of an extra header."""
    reply = reply if reply is not None else json_reply({})
    headers = reply.headers + ((("X-Padding", "p" * padding),) if padding else ())
    return attrs.evolve(reply, headers=headers, head_delay=byte_delay)


def deep_json(depth: int = 200_000) -> Reply:
    """JSON arrays nested ``depth`` levels deep."""
    return Reply(chunks=(b"[" * depth + b"]" * depth,))


def html_login(*, status: int = 200) -> Reply:
    """An HTML sign-in page, as a captive portal or a misrouted proxy sends."""
    page = (
        "<!DOCTYPE html><html><head><title>Sign in to your account</title></head>"
        "<body><form method='post' action='/login'><input name='loginfmt'>"
        "<input type='password' name='passwd'></form></body></html>"
    )
    return Reply(status=status, chunks=(page.encode(),), content_type="text/html; charset=utf-8")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the requests are recorded, not logged."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = RecordedRequest(self.command, self.path, dict(self.headers.items()), body)
        owner = self.server.owner
        reply = owner.reply_for(request)
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers:
            self.send_header(name, value)
        if reply.send_length:
            self.send_header("Content-Length", str(reply.length))
        self.send_header("Connection", "close")
        self.close_connection = True
        try:
            if reply.head_delay:
                self._trickle_head(reply.head_delay, owner.stopping)
            else:
                self.end_headers()
            for block in _blocks(reply, owner.stopping):
                self.wfile.write(block)
                if reply.byte_delay:
                    self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return

    def _trickle_head(self, delay: float, stopping: threading.Event) -> None:
        """Send the buffered status line and headers one byte every ``delay`` seconds."""
        head = b"".join(self._headers_buffer) + b"\r\n"
        self._headers_buffer = []
        for index in range(len(head)):
            if stopping.wait(delay):
                raise BrokenPipeError("the server is stopping")
            self.wfile.write(head[index : index + 1])
            self.wfile.flush()

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _answer


def _blocks(reply: Reply, stopping: threading.Event) -> Iterator[bytes]:
    for _ in range(reply.repeat):
        for chunk in reply.chunks:
            if not reply.byte_delay:
                yield chunk
                continue
            for index in range(len(chunk)):
                if stopping.wait(reply.byte_delay):
                    return
                yield chunk[index : index + 1]
        if stopping.is_set():
            return


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: HostileServer


class HostileServer:
    """The server: start it with ``with``, script it with :meth:`route`."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._routes: dict[str, list[Reply] | Responder] = {}
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def route(self, path: str, *replies: Reply | Responder) -> None:
        """Answer ``path`` (without query) with ``replies`` in order, or with a function."""
        if len(replies) == 1 and callable(replies[0]):
            self._routes[path] = replies[0]
        else:
            self._routes[path] = [reply for reply in replies if isinstance(reply, Reply)]

    def reply_for(self, request: RecordedRequest) -> Reply:
        """The next scripted reply for ``request`` (404 JSON if its path has none)."""
        with self._lock:
            self.requests.append(request)
            route = self._routes.get(request.path.split("?", 1)[0])
            if route is None:
                return json_reply({"error": {"code": "NotFound"}}, status=404)
            if callable(route):
                return route(request, self)
            return route.pop(0) if len(route) > 1 else route[0]

    def paths(self) -> list[str]:
        """The paths (with query) requested so far, in order."""
        with self._lock:
            return [request.path for request in self.requests]

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
