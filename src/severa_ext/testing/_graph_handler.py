"""The HTTP side of the fake Graph server: parse a request, hand it over, write the answer.

:class:`GraphRequestHandler` reads one request, routes ``/v1.0/...`` to
:meth:`FakeGraphServer.handle_graph <severa_ext.testing.graph_server.FakeGraphServer.handle_graph>`
(after the wire switches for dropped connections and slow answers) and everything
else to the fake identity platform, and writes the JSON answer in one send. A bug
in the fake is recorded in ``FakeGraphServer.errors`` and answered with a 500.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from severa_ext.testing._graph_state import Answer, graph_error
from severa_ext.testing._loopback import LoopbackHandler

if TYPE_CHECKING:
    from severa_ext.testing.graph_server import FakeGraphServer

__all__ = ["GraphRequestHandler", "request_kind"]

logger = logging.getLogger(__name__)


class GraphRequestHandler(LoopbackHandler):
    """Parses one HTTP request and writes the fake's answer."""

    fake: FakeGraphServer
    log_name = "fake graph"
    # A buffered writer: headers and body leave in one send when the request ends
    # (no Nagle / delayed-ACK stall per answer).
    wbufsize = 1 << 16

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.fake._connected()

    def _answer(self, answer: Answer) -> None:
        status, headers, body = answer
        data = b"" if body is None else json.dumps(body).encode()
        content = {"Content-Type": "application/json"} if data else {}
        self.send_body(status, {**headers, **content}, data)

    def _dispatch(self, method: str) -> None:
        raw = self.read_body()
        fake = self.fake
        try:
            path = urlsplit(self.path).path
            if path.startswith("/v1.0/") or path == "/v1.0":
                target = self.path[len("/v1.0") :]
                kind = request_kind(method, path)
                fake._count(kind, len(raw))
                if fake._take("drop", path, kind) is not None:
                    self.drop()
                    return
                fake._enter()
                try:
                    slow = fake._take("slow", path)
                    if slow is not None:
                        fake.stopping.wait(slow.seconds)
                    body = json.loads(raw) if raw else None
                    answer = fake.handle_graph(method, target, dict(self.headers.items()), body)
                finally:
                    fake._leave()
            else:
                form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
                answer = fake.identity.handle(method, self.path, form)
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


def request_kind(method: str, path: str) -> str:
    """The kind of a Graph request (``"GET delta"``, ``"PATCH event"`` ...)."""
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
