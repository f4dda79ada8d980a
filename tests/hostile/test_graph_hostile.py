"""GraphBackend against a hostile server (issue 12): nothing a server sends is trusted.

Foreign links must never receive the bearer token, paging must end, bodies are capped
after decompression, slow bodies hit the total deadline, deep JSON and HTML pages are
``MalformedResponse``, and secrets a server echoes never reach an exception. Every
test is bounded in requests and in time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hostile.server import (
    HostileServer,
    Reply,
    deep_json,
    endless,
    gzip_bomb,
    html_login,
    huge,
    json_reply,
    slow,
    within,
)
from severa_ext.backends._http import MAX_RETRY_AFTER, HttpLimits
from severa_ext.backends.graph import GraphBackend, GraphCursor, StaticTokenProvider
from severa_ext.errors import (
    AuthError,
    BackendUnavailable,
    MalformedResponse,
    Throttled,
)
from severa_ext.sync.items import Window

pytestmark = pytest.mark.slow

MAILBOX = "alice@contoso.com"
TOKEN = "tok-SECRET-4f1c9a"
DELTA = f"/v1.0/users/{MAILBOX}/calendarView/delta"
EVENT = f"/v1.0/users/{MAILBOX}/events/e1"
NOW = datetime(2026, 5, 4, 9, tzinfo=UTC)
WINDOW = Window(NOW - timedelta(days=30), NOW + timedelta(days=90))
LIMITS = HttpLimits(max_body_bytes=2**20, deadline=2.0, max_pages=25)


def graph(server: HostileServer, **options) -> GraphBackend:
    options.setdefault("limits", LIMITS)
    return GraphBackend(
        MAILBOX,
        StaticTokenProvider(TOKEN),
        base_url=f"{server.url}/v1.0",
        timeout=1.0,
        resolve_sync_keys=False,
        **options,
    )


def event(event_id: str = "e1", **extra) -> dict:
    return {
        "id": event_id,
        "subject": "Plan",
        "body": {"contentType": "text", "content": "notes"},
        "start": {"dateTime": "2026-05-05T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-05-05T10:00:00", "timeZone": "UTC"},
        "location": {"displayName": ""},
        "isAllDay": False,
        "sensitivity": "normal",
        "showAs": "busy",
        "categories": [],
        "transactionId": "k1",
        **extra,
    }


# --- foreign links ------------------------------------------------------------------------


def test_a_foreign_next_link_is_refused_and_never_sent_the_token(hostile, evil):
    hostile.route(
        DELTA, json_reply({"value": [event()], "@odata.nextLink": f"{evil.url}/v1.0/x?s=1"})
    )
    with graph(hostile) as backend, pytest.raises(MalformedResponse, match="not followed") as info:
        backend.changes(None, WINDOW)
    assert info.value.code == "foreign-link"
    assert len(hostile.requests) == 1


def test_a_foreign_delta_link_is_refused_and_not_stored(hostile, evil):
    hostile.route(DELTA, json_reply({"value": [], "@odata.deltaLink": f"{evil.url}/v1.0/d?t=1"}))
    with graph(hostile) as backend, pytest.raises(MalformedResponse, match="not followed"):
        backend.changes(None, WINDOW)


def test_a_scheme_downgrade_is_a_foreign_link(hostile):
    https = hostile.url.replace("http://", "https://")
    hostile.route(DELTA, json_reply({"value": [], "@odata.deltaLink": f"{https}/v1.0/d"}))
    with graph(hostile) as backend, pytest.raises(MalformedResponse, match="not followed"):
        backend.changes(None, WINDOW)


def test_a_stored_foreign_cursor_gives_a_clean_full_round(hostile, evil):
    own = f"{hostile.url}{DELTA}?$deltatoken=fresh"
    hostile.route(DELTA, json_reply({"value": [event()], "@odata.deltaLink": own}))
    edited = GraphCursor(WINDOW.start, WINDOW.end, f"{evil.url}{DELTA}?$deltatoken=x").encode()
    with graph(hostile) as backend:
        result = backend.changes(edited, WINDOW)
    assert result.full
    assert [item.title for item in result.items] == ["Plan"]
    assert "startDateTime=" in hostile.paths()[0]  # started over from the base URL
    assert GraphCursor.decode(result.cursor).delta_link == own


def test_a_redirect_is_not_followed_with_the_token(hostile, evil):
    hostile.route(EVENT, Reply(status=307, headers=(("Location", f"{evil.url}/v1.0/steal"),)))
    with graph(hostile) as backend, pytest.raises(MalformedResponse):
        backend.get("e1")


# --- endless paging -----------------------------------------------------------------------


def test_a_next_link_pointing_at_itself_is_a_loop(hostile):
    def same_page(request, server):
        return json_reply({"value": [event()], "@odata.nextLink": server.url + request.path})

    hostile.route(DELTA, same_page)
    done_in_time = within(3)
    with graph(hostile) as backend, pytest.raises(MalformedResponse, match="loop") as info:
        backend.changes(None, WINDOW)
    assert info.value.code == "paging-loop"
    assert len(hostile.requests) == 2
    assert done_in_time()


def test_next_links_that_cycle_between_pages_are_a_loop(hostile):
    def ping_pong(request, server):
        page = "b" if "page=a" in request.path else "a"
        return json_reply({"value": [], "@odata.nextLink": f"{server.url}{DELTA}?page={page}"})

    hostile.route(DELTA, ping_pong)
    with graph(hostile) as backend, pytest.raises(MalformedResponse, match="loop"):
        backend.changes(None, WINDOW)
    assert len(hostile.requests) == 3


def test_endless_fresh_pages_stop_at_the_page_cap(hostile):
    def next_page(request, server):
        number = len(server.requests)
        return json_reply({"value": [], "@odata.nextLink": f"{server.url}{DELTA}?n={number}"})

    hostile.route(DELTA, next_page)
    done_in_time = within(10)
    with graph(hostile) as backend, pytest.raises(MalformedResponse, match="25 pages") as info:
        backend.changes(None, WINDOW)
    assert info.value.code == "too-many-pages"
    assert len(hostile.requests) == 25
    assert done_in_time()


# --- bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [huge(30 * 2**20), gzip_bomb(100 * 2**20), endless()],
    ids=["huge", "gzip-bomb", "endless"],
)
def test_oversized_answers_are_cut_at_the_cap(hostile, reply):
    hostile.route(DELTA, reply)
    done_in_time = within(5)
    with graph(hostile) as backend, pytest.raises(MalformedResponse, match="larger than") as info:
        backend.changes(None, WINDOW)
    assert info.value.code == "too-large"
    assert done_in_time()


def test_a_slow_body_hits_the_total_deadline(hostile):
    hostile.route(DELTA, slow(b'{"value": []}' * 10, byte_delay=0.1))
    done_in_time = within(4)
    with graph(hostile) as backend, pytest.raises(BackendUnavailable, match="within 2 s") as info:
        backend.changes(None, WINDOW)
    assert info.value.code == "deadline"
    assert done_in_time()


def test_deep_json_is_malformed_never_a_recursion_error(hostile):
    hostile.route(DELTA, deep_json(200_000))
    with graph(hostile, limits=HttpLimits()) as backend, pytest.raises(MalformedResponse):
        backend.changes(None, WINDOW)


@pytest.mark.parametrize(
    "reply",
    [
        html_login(),
        Reply(chunks=(b"<feed/>",), content_type="application/xml"),
        Reply(chunks=(b"value: []",), content_type="text/plain"),
    ],
    ids=["html-login", "xml", "text"],
)
def test_pages_that_are_not_json_are_malformed(hostile, reply):
    hostile.route(DELTA, reply)
    with graph(hostile) as backend, pytest.raises(MalformedResponse) as info:
        backend.changes(None, WINDOW)
    assert info.value.code == "not-json"


def test_a_page_of_the_wrong_shape_is_malformed(hostile):
    hostile.route(DELTA, json_reply([1, 2, 3]))
    with graph(hostile) as backend, pytest.raises(MalformedResponse, match="'value' list"):
        backend.changes(None, WINDOW)


def test_an_html_error_page_is_mapped_by_its_status(hostile):
    hostile.route(EVENT, html_login(status=503))
    with graph(hostile) as backend, pytest.raises(Throttled):
        backend.get("e1")


# --- what a server says back --------------------------------------------------------------


def test_secrets_a_server_echoes_never_reach_the_exception(hostile):
    echo = (
        f"token {TOKEN} refused for client_secret=s3cr3t-value; password: hunter2; "
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc"
    )
    hostile.route(
        EVENT,
        json_reply({"error": {"code": "ErrorAccessDenied", "message": echo}}, status=403),
    )
    with graph(hostile) as backend, pytest.raises(AuthError) as info:
        backend.get("e1")
    text = str(info.value)
    for secret in (TOKEN, "s3cr3t-value", "hunter2", "eyJhbGciOiJIUzI1NiJ9"):
        assert secret not in text
    assert info.value.code == "ErrorAccessDenied"
    assert "ErrorAccessDenied" in text


def test_a_very_long_error_text_is_cut(hostile):
    hostile.route(
        EVENT,
        json_reply({"error": {"code": "BadRequest", "message": "x" * 100_000}}, status=500),
    )
    with graph(hostile) as backend, pytest.raises(BackendUnavailable) as info:
        backend.get("e1")
    assert len(str(info.value)) < 1000


@pytest.mark.parametrize(
    ("value", "expected"),
    [("99999999999", MAX_RETRY_AFTER), ("soon", 1.0), ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0)],
)
def test_retry_after_from_a_server_is_bounded(hostile, value, expected):
    hostile.route(
        EVENT,
        json_reply(
            {"error": {"code": "TooManyRequests"}}, status=429, headers=(("Retry-After", value),)
        ),
    )
    with graph(hostile) as backend, pytest.raises(Throttled) as info:
        backend.get("e1")
    assert info.value.retry_after == expected
    assert len(hostile.requests) == 1  # reported, never waited for or retried here
