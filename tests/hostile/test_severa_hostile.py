"""SeveraBackend against a hostile server (issue 12): nothing a server sends is trusted.

The bearer token and the ``Client_Id`` go only to the configured base URL (redirects
are not followed), paging by ``NextPageToken`` ends (a repeated token is a loop, fresh
tokens stop at the page cap), bodies are capped after decompression, slow bodies hit
the total deadline, deep JSON and HTML sign-in pages are ``MalformedResponse``, and the
secrets a server echoes never reach an exception. Every test is bounded in requests
and in time.
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
from severa_ext.backends.severa import SeveraBackend, SeveraCredentials
from severa_ext.errors import (
    AuthError,
    BackendUnavailable,
    MalformedResponse,
    Throttled,
)
from severa_ext.sync.items import Window

pytestmark = pytest.mark.slow

CLIENT_ID = "client-4711"
SECRET = "s3cr3t-CLIENT-value"
TOKEN = "tok-SEVERA-9c1f"
REFRESH = "ref-SEVERA-77aa"
USER = "u-1"
NOW = datetime(2026, 5, 4, 9, tzinfo=UTC)
WINDOW = Window(NOW - timedelta(days=30), NOW + timedelta(days=90))
LIMITS = HttpLimits(max_body_bytes=2**20, deadline=2.0, max_pages=20)
TOKEN_REPLY = json_reply(
    {"access_token": TOKEN, "access_token_expires_in": 3600, "refresh_token": REFRESH}
)
USER_REPLY = json_reply({"guid": USER, "email": "alice@contoso.com", "timezone": "UTC"})
TYPES_REPLY = json_reply([{"guid": "t-1", "name": "Meeting", "isDefault": True}])


def severa(server: HostileServer, **options) -> SeveraBackend:
    options.setdefault("limits", LIMITS)
    return SeveraBackend(
        SeveraCredentials(CLIENT_ID, SECRET),
        user_guid=USER,
        base_url=server.url,
        timeout=1.0,
        **options,
    )


def signed_in(server: HostileServer) -> None:
    """The token, user and activity-type routes answer as a sane server does."""
    server.route("/v1/token", TOKEN_REPLY)
    server.route(f"/v1/users/{USER}", USER_REPLY)
    server.route("/v1/activitytypes", TYPES_REPLY)


def activity(guid: str = "act-1") -> dict:
    return {
        "guid": guid,
        "name": "Plan",
        "startDateTime": "2026-05-05T09:00:00",
        "endDateTime": "2026-05-05T10:00:00",
        "activityType": {"guid": "t-1"},
        "ownerUser": {"guid": USER},
    }


def _listing(server: HostileServer) -> list[str]:
    return [path for path in server.paths() if path.startswith("/v1/activities")]


# --- foreign hosts ------------------------------------------------------------------------


def test_a_redirect_of_the_token_route_is_not_followed_with_the_secret(hostile, evil):
    hostile.route("/v1/token", Reply(status=307, headers=(("Location", f"{evil.url}/v1/token"),)))
    with severa(hostile) as backend, pytest.raises(MalformedResponse):
        backend.user()
    assert len(hostile.requests) == 1  # and the evil fixture saw nothing


def test_a_redirect_of_an_api_call_is_not_followed_with_the_token(hostile, evil):
    signed_in(hostile)
    hostile.route(
        "/v1/activities", Reply(status=302, headers=(("Location", f"{evil.url}/v1/steal"),))
    )
    with severa(hostile) as backend, pytest.raises(MalformedResponse):
        backend.changes(None, WINDOW)


def test_the_token_and_client_id_go_only_to_the_base_url(hostile):
    signed_in(hostile)
    hostile.route("/v1/activities", json_reply([activity()]))
    with severa(hostile) as backend:
        backend.changes(None, WINDOW)
    api_calls = [r for r in hostile.requests if r.path != "/v1/token"]
    assert api_calls
    for request in api_calls:
        assert request.header("Authorization") == f"Bearer {TOKEN}"
        assert request.header("Client_Id") == CLIENT_ID


def test_an_item_id_from_the_server_cannot_leave_the_api_path(hostile):
    signed_in(hostile)
    with severa(hostile) as backend:
        assert backend.get("../../admin/steal?x=1") is None  # a 404 here, never elsewhere
    (asked,) = [p for p in hostile.paths() if p.startswith("/v1/activities/")]
    assert asked == "/v1/activities/..%2F..%2Fadmin%2Fsteal%3Fx%3D1"


# --- endless paging -----------------------------------------------------------------------


def test_a_repeated_next_page_token_is_a_loop(hostile):
    signed_in(hostile)
    hostile.route("/v1/activities", json_reply([activity()], headers=(("NextPageToken", "same"),)))
    done_in_time = within(3)
    with severa(hostile) as backend, pytest.raises(MalformedResponse, match="loop"):
        backend.changes(None, WINDOW)
    assert len(_listing(hostile)) == 2
    assert done_in_time()


def test_tokens_that_cycle_between_pages_are_a_loop(hostile):
    signed_in(hostile)

    def ping_pong(request, server):
        token = "b" if "pageToken=a" in request.path else "a"
        return json_reply([], headers=(("NextPageToken", token),))

    hostile.route("/v1/activities", ping_pong)
    with severa(hostile) as backend, pytest.raises(MalformedResponse, match="loop"):
        backend.changes(None, WINDOW)
    assert len(_listing(hostile)) == 3


def test_endless_fresh_page_tokens_stop_at_the_page_cap(hostile):
    signed_in(hostile)

    def next_page(request, server):
        return json_reply([], headers=(("NextPageToken", f"t{len(server.requests)}"),))

    hostile.route("/v1/activities", next_page)
    done_in_time = within(10)
    with severa(hostile) as backend, pytest.raises(MalformedResponse, match="20 pages"):
        backend.changes(None, WINDOW)
    assert len(_listing(hostile)) == 20
    assert done_in_time()


def test_a_token_route_that_always_refuses_is_asked_a_bounded_number_of_times(hostile):
    hostile.route("/v1/token", TOKEN_REPLY)
    hostile.route(f"/v1/users/{USER}", json_reply({"error": {"type": "x"}}, status=401))
    with severa(hostile) as backend, pytest.raises(AuthError):
        backend.user()
    # token, call (401), refresh (refused here), token, call (401): then it gives up
    assert [r.path for r in hostile.requests] == [
        "/v1/token",
        f"/v1/users/{USER}",
        "/v1/refreshtoken",
        "/v1/token",
        f"/v1/users/{USER}",
    ]


# --- bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [huge(30 * 2**20), gzip_bomb(100 * 2**20), endless()],
    ids=["huge", "gzip-bomb", "endless"],
)
def test_oversized_answers_are_cut_at_the_cap(hostile, reply):
    signed_in(hostile)
    hostile.route("/v1/activities", reply)
    done_in_time = within(5)
    with severa(hostile) as backend, pytest.raises(MalformedResponse, match="larger than") as info:
        backend.changes(None, WINDOW)
    assert info.value.code == "too-large"
    assert done_in_time()


def test_an_oversized_token_answer_is_cut_at_the_cap(hostile):
    hostile.route("/v1/token", gzip_bomb(100 * 2**20))
    with severa(hostile) as backend, pytest.raises(MalformedResponse, match="larger than"):
        backend.user()


def test_a_slow_body_hits_the_total_deadline(hostile):
    signed_in(hostile)
    hostile.route("/v1/activities", slow(b"[]" + b" " * 100, byte_delay=0.1))
    done_in_time = within(4)
    with severa(hostile) as backend, pytest.raises(BackendUnavailable, match="within 2 s") as info:
        backend.changes(None, WINDOW)
    assert info.value.code == "deadline"
    assert done_in_time()


@pytest.mark.parametrize("route", ["/v1/token", f"/v1/users/{USER}", "/v1/activities"])
def test_deep_json_is_malformed_never_a_recursion_error(hostile, route):
    signed_in(hostile)
    hostile.route(route, deep_json(200_000))
    with severa(hostile, limits=HttpLimits()) as backend, pytest.raises(MalformedResponse):
        backend.changes(None, WINDOW)


@pytest.mark.parametrize("route", ["/v1/token", f"/v1/users/{USER}", "/v1/activities"])
def test_an_html_sign_in_page_is_malformed(hostile, route):
    signed_in(hostile)
    hostile.route(route, html_login())
    with severa(hostile) as backend, pytest.raises(MalformedResponse, match="not valid JSON"):
        backend.changes(None, WINDOW)


def test_an_html_error_page_is_mapped_by_its_status(hostile):
    signed_in(hostile)
    hostile.route("/v1/activities", html_login(status=503))
    with severa(hostile) as backend, pytest.raises(BackendUnavailable):
        backend.changes(None, WINDOW)


@pytest.mark.parametrize(
    "body",
    [[1, 2, 3], {"guid": 5}, "text", None],
    ids=["list", "number-guid", "string", "null"],
)
def test_a_user_of_the_wrong_shape_is_malformed(hostile, body):
    signed_in(hostile)
    hostile.route(f"/v1/users/{USER}", json_reply(body))
    with severa(hostile) as backend, pytest.raises(MalformedResponse):
        backend.user()


def test_a_page_that_is_not_a_list_is_malformed(hostile):
    signed_in(hostile)
    hostile.route("/v1/activities", json_reply({"value": []}))
    with severa(hostile) as backend, pytest.raises(MalformedResponse, match="JSON array"):
        backend.changes(None, WINDOW)


@pytest.mark.parametrize(
    "body",
    [{}, {"access_token": 5}, [TOKEN], "text", None],
    ids=["empty", "number", "list", "string", "null"],
)
def test_a_token_answer_of_the_wrong_shape_is_malformed(hostile, body):
    hostile.route("/v1/token", json_reply(body))
    with severa(hostile) as backend, pytest.raises(MalformedResponse, match="access_token"):
        backend.user()


@pytest.mark.parametrize("lifetime", [1e308, -5, 10**30, "forever", True])
def test_an_absurd_token_lifetime_is_bounded(hostile, lifetime):
    hostile.route(
        "/v1/token", json_reply({"access_token": TOKEN, "access_token_expires_in": lifetime})
    )
    hostile.route(f"/v1/users/{USER}", USER_REPLY)
    with severa(hostile) as backend:
        assert backend.user().guid == USER


# --- what a server says back --------------------------------------------------------------


def test_secrets_a_server_echoes_never_reach_the_exception(hostile):
    echo = (
        f"client {CLIENT_ID} with client_secret={SECRET} refused; password: hunter2; "
        f"Authorization: Bearer {TOKEN}; refresh_token={REFRESH}"
    )
    model = {"error": {"type": "InvalidClient", "details": [{"message": echo}]}}
    hostile.route("/v1/token", json_reply(model, status=400))
    with severa(hostile) as backend, pytest.raises(AuthError) as info:
        backend.user()
    text = str(info.value)
    for secret in (SECRET, "hunter2", TOKEN, REFRESH):
        assert secret not in text
    assert info.value.code == "InvalidClient"
    assert "InvalidClient" in text


def test_secrets_echoed_by_an_api_call_never_reach_the_exception(hostile):
    signed_in(hostile)
    model = {"error": {"type": "Forbidden", "details": [{"message": f"token {TOKEN} denied"}]}}
    hostile.route("/v1/activities", json_reply(model, status=403))
    with severa(hostile) as backend, pytest.raises(AuthError) as info:
        backend.changes(None, WINDOW)
    assert TOKEN not in str(info.value)
    assert "Forbidden" in str(info.value)


def test_a_very_long_error_text_is_cut(hostile):
    signed_in(hostile)
    details = [{"message": "x" * 40_000} for _ in range(20)]  # 800 kB: under the cap
    hostile.route("/v1/activities", json_reply({"error": {"details": details}}, status=500))
    with severa(hostile) as backend, pytest.raises(BackendUnavailable) as info:
        backend.changes(None, WINDOW)
    assert len(str(info.value)) < 3000


@pytest.mark.parametrize(
    ("value", "expected"),
    [("99999999999", MAX_RETRY_AFTER), ("soon", 1.0), ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0)],
)
def test_retry_after_from_a_server_is_bounded(hostile, value, expected):
    signed_in(hostile)
    hostile.route(
        "/v1/activities",
        json_reply({"error": {"type": "TooMany"}}, status=429, headers=(("Retry-After", value),)),
    )
    with severa(hostile) as backend, pytest.raises(Throttled) as info:
        backend.changes(None, WINDOW)
    assert info.value.retry_after == expected
    assert len(_listing(hostile)) == 1  # reported, never waited for or retried here
