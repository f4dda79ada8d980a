"""ICS subscriptions against a real HTTP server on 127.0.0.1 (stdlib ``http.server``).

The server serves the corpus and misbehaves on request: truncated bodies, empty bodies,
HTML error pages, 304 answers, slow and huge bodies. None of them may read as an empty
calendar (which would delete everything on the other side).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import requests

from severa_ext.backends.base import CreateOp
from severa_ext.backends.ics import IcsSubscription
from severa_ext.errors import (
    AuthError,
    BackendError,
    BackendUnavailable,
    ConfigError,
    MalformedResponse,
    NotFound,
    ReadOnlyBackend,
    Throttled,
)
from severa_ext.sync.items import CalendarItem, Window

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parent.parent / "data" / "ics"
WINDOW = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
BASIC = (DATA / "basic.ics").read_bytes()


class QuietServer(ThreadingHTTPServer):
    """A test server that prints nothing when a client hangs up early.

    The default ``handle_error`` prints a traceback from the handler's thread; in
    CPython 3.11 formatting it calls ``ast.parse``, whose interpreter-wide state a
    concurrent ``ast.parse`` in the test thread (hypothesis reads sources) then finds
    corrupted (``SystemError: AST constructor recursion depth mismatch``).
    """

    def handle_error(self, request, client_address) -> None:
        pass


class Handler(BaseHTTPRequestHandler):
    requests_seen: ClassVar[list[dict[str, str]]] = []

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass

    def send_body(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", headers.pop("length", str(len(body))))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        Handler.requests_seen.append(dict(self.headers))
        path = self.path
        if path == "/basic.ics":
            if self.headers.get("If-None-Match") == '"v1"':
                self.send_response(304)
                self.end_headers()
                return
            self.send_body(200, BASIC, "text/calendar; charset=utf-8", ETag='"v1"')
        elif path == "/truncated.ics":
            self.send_body(200, BASIC[:200], "text/calendar", length=str(len(BASIC)))
        elif path == "/cut-calendar.ics":
            self.send_body(200, (DATA / "truncated.ics").read_bytes(), "text/calendar")
        elif path == "/empty.ics":
            self.send_body(200, b"", "text/calendar")
        elif path == "/error-page.ics":
            self.send_body(200, (DATA / "html_error.ics").read_bytes(), "text/html")
        elif path == "/html-as-calendar.ics":
            self.send_body(200, (DATA / "html_error.ics").read_bytes(), "text/calendar")
        elif path == "/bare-304.ics":
            self.send_response(304)
            self.end_headers()
        elif path == "/huge.ics":
            self.send_body(200, BASIC + b" " * 5000, "text/calendar")
        elif path == "/latin1.ics":
            self.send_body(
                200, (DATA / "latin1.ics").read_bytes(), "text/calendar; charset=iso-8859-1"
            )
        elif path == "/private.ics":
            self.send_body(401, b"no", "text/plain")
        elif path == "/busy.ics":
            self.send_body(429, b"slow down", "text/plain", Retry_After="7")
        elif path == "/broken.ics":
            self.send_body(503, b"down", "text/plain")
        else:
            self.send_body(404, b"not here", "text/plain")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_reads_a_feed_and_uses_conditional_get(server):
    feed = IcsSubscription(f"{server}/basic.ics", timeout=5, allow_http=True)
    first = feed.changes(None, WINDOW)
    assert [i.title for i in first.items] == ["Planning"]
    Handler.requests_seen.clear()
    second = feed.changes(first.cursor, WINDOW)
    assert Handler.requests_seen[0].get("If-None-Match") == '"v1"'
    assert second.items == first.items  # a 304 reuses the last body, never "empty"
    assert second.full


@pytest.mark.parametrize(
    ("path", "error", "fragment"),
    [
        ("/truncated.ics", BackendUnavailable, ""),
        ("/cut-calendar.ics", BackendError, "never closed"),
        ("/empty.ics", BackendError, "empty"),
        ("/error-page.ics", MalformedResponse, "HTML"),
        ("/html-as-calendar.ics", BackendError, "HTML"),
        ("/bare-304.ics", MalformedResponse, "304"),
        ("/huge.ics", MalformedResponse, "larger than"),
        ("/private.ics", AuthError, "401"),
        ("/busy.ics", Throttled, "429"),
        ("/broken.ics", BackendUnavailable, "503"),
        ("/nothing.ics", NotFound, "404"),
    ],
)
def test_bad_answers_are_errors_never_an_empty_calendar(server, path, error, fragment):
    feed = IcsSubscription(
        f"{server}{path}", timeout=5, max_bytes=len(BASIC) + 100, allow_http=True
    )
    with pytest.raises(error) as caught:
        feed.changes(None, WINDOW)
    assert fragment in str(caught.value)
    if error is Throttled:
        assert caught.value.retry_after == 7


def test_charset_from_the_content_type_is_used(server):
    feed = IcsSubscription(f"{server}/latin1.ics", timeout=5, allow_http=True)
    (item,) = feed.changes(None, WINDOW).items
    assert item.title == "Kokous Jyväskylässä"


def test_unreachable_server_is_unavailable():
    feed = IcsSubscription("http://127.0.0.1:9/feed.ics", timeout=2, allow_http=True)
    with pytest.raises(BackendUnavailable):
        feed.changes(None, WINDOW)


def test_webcal_means_https_and_other_schemes_are_refused():
    assert IcsSubscription("webcal://calendar.example.com/a.ics").url == (
        "https://calendar.example.com/a.ics"
    )
    with pytest.raises(ConfigError):
        IcsSubscription("ftp://example.com/a.ics")


def test_writes_are_refused(server):
    feed = IcsSubscription(
        f"{server}/basic.ics", session=requests.Session(), timeout=5, allow_http=True
    )
    item = CalendarItem(
        "x", datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 1, 1, tzinfo=UTC)
    )
    assert feed.capabilities.read_only
    with pytest.raises(ReadOnlyBackend):
        feed.create(item, "k")
    with pytest.raises(ReadOnlyBackend):
        feed.update("basic-1", item, None)
    with pytest.raises(ReadOnlyBackend):
        feed.delete("basic-1", None)
    (result,) = feed.apply_batch([CreateOp(item, "k")])
    assert isinstance(result.error, ReadOnlyBackend)
    feed.close()


class SlowHandler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/calendar")
        self.end_headers()
        for _ in range(40):  # a trickle: each chunk arrives well within the read timeout
            try:
                self.wfile.write(b"X-FILLER:" + b"x" * 64 + b"\r\n")
                self.wfile.flush()
            except OSError:  # the client gave up (the point of the test)
                return
            time.sleep(0.05)


def test_a_slow_download_hits_the_time_limit():
    httpd = QuietServer(("127.0.0.1", 0), SlowHandler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        feed = IcsSubscription(
            f"http://127.0.0.1:{httpd.server_address[1]}/slow.ics",
            timeout=5,
            max_seconds=0.3,
            allow_http=True,
        )
        with pytest.raises(BackendUnavailable, match=r"within 0\.3 s"):
            feed.changes(None, WINDOW)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
