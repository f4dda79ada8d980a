"""ICS subscriptions against the hostile HTTP server on 127.0.0.1 (issue 12).

Slow and huge bodies, a gzip bomb, redirects (to the same origin, to another host, in a
loop) and HTML instead of iCalendar: each is an error in bounded time and memory, and
nothing the session carries reaches another host.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from hostile.server import HostileServer, Reply, gzip_bomb, html_login, huge, slow
from severa_ext.backends.ics import MAX_REDIRECTS, IcsSubscription
from severa_ext.errors import BackendUnavailable, MalformedResponse
from severa_ext.sync.items import Window

pytestmark = pytest.mark.slow

WINDOW = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
FEED = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//hostile//EN\r\n"
    b"BEGIN:VEVENT\r\nUID:h1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Fine\r\n"
    b"DTSTART:20260601T090000Z\r\nDTEND:20260601T100000Z\r\nEND:VEVENT\r\n"
    b"END:VCALENDAR\r\n"
)
CALENDAR = "text/calendar; charset=utf-8"


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


def feed(url: str, **options) -> IcsSubscription:
    session = requests.Session()
    session.auth = ("reader", "feed-password")
    options.setdefault("timeout", 5)
    return IcsSubscription(url, session=session, allow_http=True, **options)


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status=status, headers=(("Location", location),), content_type="text/plain")


def test_a_slow_body_stops_at_the_total_deadline(hostile: HostileServer):
    hostile.route("/cal.ics", slow(FEED, byte_delay=0.05, content_type=CALENDAR))
    began = time.monotonic()
    with pytest.raises(BackendUnavailable, match="within"):
        feed(f"{hostile.url}/cal.ics", max_seconds=1.0).changes(None, WINDOW)
    assert time.monotonic() - began < 4


def test_a_huge_body_stops_at_the_cap(hostile: HostileServer):
    hostile.route("/cal.ics", huge(50 * 2**20, content_type=CALENDAR))
    with pytest.raises(MalformedResponse, match="larger than"):
        feed(f"{hostile.url}/cal.ics", max_bytes=2**20).changes(None, WINDOW)


def test_a_gzip_bomb_stops_at_the_cap_after_decompression(hostile: HostileServer):
    hostile.route("/cal.ics", gzip_bomb(200 * 2**20, content_type=CALENDAR))
    with pytest.raises(MalformedResponse, match="larger than"):
        feed(f"{hostile.url}/cal.ics", max_bytes=2**20).changes(None, WINDOW)


def test_html_instead_of_a_calendar_is_refused(hostile: HostileServer):
    hostile.route("/cal.ics", html_login())
    with pytest.raises(MalformedResponse, match="HTML"):
        feed(f"{hostile.url}/cal.ics").changes(None, WINDOW)


def test_a_same_origin_redirect_is_followed(hostile: HostileServer):
    hostile.route("/old.ics", redirect("/new.ics", 301))
    hostile.route("/new.ics", Reply(chunks=(FEED,), content_type=CALENDAR))
    listing = feed(f"{hostile.url}/old.ics").changes(None, WINDOW)
    assert [item.title for item in listing.items] == ["Fine"]


def test_a_redirect_to_another_host_is_refused_and_never_sent(hostile: HostileServer):
    with HostileServer() as elsewhere:
        elsewhere.route("/steal.ics", Reply(chunks=(FEED,), content_type=CALENDAR))
        hostile.route("/cal.ics", redirect(f"{elsewhere.url}/steal.ics"))
        with pytest.raises(MalformedResponse, match="points outside"):
            feed(f"{hostile.url}/cal.ics").changes(None, WINDOW)
        assert elsewhere.requests == []  # neither the password nor anything else
    assert hostile.requests[0].header("Authorization") is not None  # the host configured


def test_a_redirect_loop_is_bounded(hostile: HostileServer):
    hostile.route("/loop.ics", redirect("/loop.ics"))
    with pytest.raises(MalformedResponse, match="redirects"):
        feed(f"{hostile.url}/loop.ics").changes(None, WINDOW)
    assert len(hostile.requests) == MAX_REDIRECTS + 1
