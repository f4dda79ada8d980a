"""The ICS backends and the activities file pass the shared backend contract."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from severa_ext.backends.activities import ActivityBackend
from severa_ext.backends.activities_file import ActivityFile, ActivityFileData
from severa_ext.backends.base import Backend
from severa_ext.backends.ics import IcsBackend, IcsSubscription
from severa_ext.clock import FixedClock
from severa_ext.domain import ActivityType, User
from severa_ext.sync.items import CalendarItem, Window, new_sync_key
from severa_ext.testing.contract import BackendContract


class TestIcsFileContract(BackendContract):
    supports_delta = False

    @pytest.fixture
    def backend(self, tmp_path) -> Iterator[Backend]:
        backend = IcsBackend(
            tmp_path / "contract.ics",
            create_missing=True,
            clock=FixedClock(datetime(2026, 5, 1, tzinfo=UTC)),
        )
        yield backend
        backend.close()

    def test_without_delta_every_listing_is_full(self, backend: Backend, window: Window) -> None:
        """The ICS file's one departure from the contract: "nothing changed" is empty.

        A backend without per-item deltas answers a cursor with a full listing, except
        that the ICS file answers an empty delta (``full=False``, no items, no
        removals) when its bytes, the window and the options are the ones the cursor
        was issued for (the same cursor), or when the file is exactly what its own
        writes made of that file for that cursor's consumer (the echo: the caller has
        every write's result; a new cursor). Any other change gives a full listing
        again, as the contract asks.
        """
        assert isinstance(backend, IcsBackend)
        stored = self._one(backend)
        first = backend.changes(None, window)
        quiet = backend.changes(first.cursor, window)
        assert (quiet.full, quiet.items, quiet.removed) == (False, (), ())
        assert quiet.cursor == first.cursor
        backend.delete(stored.id or "", stored.etag)
        echo = backend.changes(first.cursor, window)
        assert (echo.full, echo.items, echo.removed) == (False, (), ())
        assert echo.cursor != first.cursor
        edited = backend.path.read_bytes().replace(b"VERSION:2.0", b"VERSION:2.0\r\nX-EDITED:1")
        backend.path.write_bytes(edited)  # another tool, keeping our stamp line
        again = backend.changes(echo.cursor, window)
        assert again.full
        assert stored.id not in self._ids(again)
        assert again.cursor != echo.cursor


class _Feed(BaseHTTPRequestHandler):
    body = b""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/calendar")
        self.send_header("Content-Length", str(len(type(self).body)))
        self.end_headers()
        self.wfile.write(type(self).body)


@pytest.mark.slow
class TestIcsSubscriptionContract(BackendContract):
    """A read-only feed: items are seeded by writing a file the server then serves."""

    supports_delta = False
    supports_batch = False
    read_only = True

    @pytest.fixture
    def backend(self, tmp_path) -> Iterator[Backend]:
        handler = type("Feed", (_Feed,), {"body": b""})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        self._handler = handler
        self._folder = tmp_path
        writer = IcsBackend(tmp_path / "feed.ics", create_missing=True)
        handler.body = writer.path.read_bytes()
        feed = IcsSubscription(
            f"http://127.0.0.1:{httpd.server_address[1]}/feed.ics", timeout=5, allow_http=True
        )
        try:
            yield feed
        finally:
            feed.close()
            httpd.shutdown()
            httpd.server_close()
            thread.join(5)

    def seed(self, backend: Backend, items: Sequence[CalendarItem]) -> list[CalendarItem]:
        writer = IcsBackend(self._folder / "feed.ics")
        stored = [writer.create(item, new_sync_key()) for item in items]
        self._handler.body = writer.path.read_bytes()
        return stored


ACTIVITY_TYPES = (
    ActivityType("meeting", "Meeting"),
    ActivityType("personal", "Personal"),
)


class TestActivityFileContract(BackendContract):
    """``activities:PATH`` through the state helper's ActivityBackend."""

    content_fields = ("title", "start", "end", "location", "body", "private", "categories")
    supports_delta = True
    supports_batch = True

    @pytest.fixture
    def backend(self, tmp_path) -> Iterator[Backend]:
        store = ActivityFile.new(
            tmp_path / "activities.json",
            ActivityFileData(User("u-1", "alice@example.com"), ACTIVITY_TYPES),
        )
        backend = ActivityBackend(
            store, user_id="u-1", activity_types={t.id: t for t in ACTIVITY_TYPES}
        )
        yield backend
        backend.close()

    def sample_item(self, **changes) -> CalendarItem:
        changes.setdefault("activity_type", "meeting")
        return super().sample_item(**changes)
