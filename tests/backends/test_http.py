"""The bounded HTTP helpers every backend shares (``severa_ext.backends._http``).

Bodies, time, JSON depth, link targets and ``Retry-After`` values all come from an
untrusted server: each is bounded here once. The server side is the reusable hostile
server of ``tests/hostile``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from hostile.server import (
    HostileServer,
    Reply,
    deep_json,
    endless,
    gzip_bomb,
    huge,
    json_reply,
    slow,
)
from severa_ext.backends._http import (
    MAX_RETRY_AFTER,
    Deadline,
    HttpLimits,
    parse_json,
    parse_retry_after,
    require_same_origin,
    safe_url,
    same_origin,
    send,
)
from severa_ext.errors import BackendUnavailable, ConfigError, MalformedResponse

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield hostile


def _get(server: HostileServer, limits: HttpLimits, path: str = "/x", timeout: float = 5.0):
    with requests.Session() as session:
        return send(
            session,
            "GET",
            server.url + path,
            limits=limits,
            timeout=timeout,
            backend="test",
            what="page",
        )


# --- HttpLimits -------------------------------------------------------------------------


def test_limits_have_documented_defaults():
    limits = HttpLimits()
    assert limits.max_body_bytes == 64 * 2**20
    assert limits.deadline == 120.0
    assert limits.max_pages == 10_000
    assert limits.max_json_depth == 64


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_body_bytes", 0),
        ("max_body_bytes", True),
        ("max_body_bytes", 1.5),
        ("deadline", 0),
        ("deadline", -1.0),
        ("deadline", float("inf")),
        ("deadline", float("nan")),
        ("deadline", "10"),
        ("max_pages", -3),
        ("max_json_depth", 0),
    ],
)
def test_limits_refuse_values_that_are_not_positive(field, value):
    with pytest.raises(ConfigError, match=field):
        HttpLimits(**{field: value})


# --- bodies -------------------------------------------------------------------------------


def test_a_body_within_the_cap_is_read_whole(server):
    server.route("/x", json_reply({"value": [1, 2, 3]}, headers=(("ETag", "W/1"),)))
    answer = _get(server, HttpLimits())
    assert answer.status == 200
    assert answer.body == b'{"value": [1, 2, 3]}'
    assert answer.header("etag") == "W/1"
    assert answer.content_type == "application/json"


def test_a_body_over_the_cap_is_refused_without_reading_it_all(server):
    server.route("/x", huge(50 * 2**20))
    started = time.monotonic()
    with pytest.raises(MalformedResponse, match="larger than 1048576 bytes") as caught:
        _get(server, HttpLimits(max_body_bytes=2**20))
    assert caught.value.code == "too-large"
    assert time.monotonic() - started < 5


def test_a_body_without_length_or_end_stops_at_the_cap(server):
    server.route("/x", endless())
    with pytest.raises(MalformedResponse, match="larger than"):
        _get(server, HttpLimits(max_body_bytes=4 * 2**20))


def test_a_gzip_bomb_stops_at_the_cap_after_decompression(server):
    bomb = gzip_bomb(100 * 2**20)
    assert bomb.length < 2**20  # small on the wire
    server.route("/x", bomb)
    started = time.monotonic()
    with pytest.raises(MalformedResponse, match="larger than 2097152 bytes"):
        _get(server, HttpLimits(max_body_bytes=2 * 2**20))
    assert time.monotonic() - started < 5


def test_a_gzip_body_within_the_cap_is_decompressed(server):
    server.route("/x", gzip_bomb(2**20))
    assert _get(server, HttpLimits()).body == bytes(2**20)


def test_a_body_that_is_not_the_gzip_it_claims_is_malformed(server):
    server.route("/x", Reply(chunks=(b"not gzip at all",), headers=(("Content-Encoding", "gzip"),)))
    with pytest.raises(MalformedResponse, match="content encoding"):
        _get(server, HttpLimits())


def test_a_slow_body_is_cut_at_the_total_deadline(server):
    # One byte every 0.2 s: each read is well within the 5 s read timeout, and the
    # whole body would take 40 s; the 1 s deadline stops it.
    server.route("/x", slow(b"x" * 200, byte_delay=0.2))
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="within 1 s") as caught:
        _get(server, HttpLimits(deadline=1.0), timeout=5.0)
    assert caught.value.code == "deadline"
    assert time.monotonic() - started < 3


def test_a_server_that_does_not_answer_times_out():
    with HostileServer() as server:
        server.route("/x", slow(b"{}", byte_delay=3.0))
        with pytest.raises(BackendUnavailable):
            _get(server, HttpLimits(deadline=0.5), timeout=0.3)


def test_a_refused_connection_is_unavailable():
    with HostileServer() as server:
        url = server.url
    with requests.Session() as session, pytest.raises(BackendUnavailable, match="request failed"):
        send(session, "GET", url, limits=HttpLimits(), timeout=1, backend="test", what="page")


def test_redirects_are_not_followed(server):
    server.route("/x", Reply(status=302, headers=(("Location", "http://example.invalid/"),)))
    answer = _get(server, HttpLimits())
    assert answer.status == 302
    assert server.paths() == ["/x"]


def test_deadline_timeout_shrinks_to_what_is_left():
    now = [100.0]
    deadline = Deadline.start(10.0, clock=lambda: now[0])
    assert deadline.timeout(30.0) == 10.0
    now[0] = 108.0
    assert deadline.timeout(30.0) == pytest.approx(2.0)
    now[0] = 111.0
    assert deadline.timeout(30.0) == 0.001
    with pytest.raises(BackendUnavailable, match="within 10 s"):
        deadline.check("delta", backend="graph")


# --- JSON ---------------------------------------------------------------------------------


def test_json_within_the_depth_is_parsed():
    assert parse_json(b'{"a": [{"b": 1}]}', max_depth=3, what="x", backend="t") == {"a": [{"b": 1}]}


@pytest.mark.parametrize("depth", [5, 500, 200_000])
def test_json_deeper_than_the_bound_is_malformed_never_recursion_error(depth):
    text = "[" * depth + "]" * depth
    with pytest.raises(MalformedResponse, match="nest"):
        parse_json(text, max_depth=4, what="delta", backend="graph")


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b"<html></html>", b"\xff\xfe\x00", b"1" * 5000, b'{"a": NaN'],
)
def test_text_that_is_not_json_is_malformed(data):
    with pytest.raises(MalformedResponse, match="not valid JSON"):
        parse_json(data, max_depth=64, what="delta", backend="graph")


def test_deep_json_from_a_server_is_malformed(server):
    server.route("/x", deep_json(200_000))
    answer = _get(server, HttpLimits())
    with pytest.raises(MalformedResponse):
        parse_json(answer.body, max_depth=64, what="page", backend="test")


@given(
    st.recursive(
        st.none() | st.integers() | st.text(max_size=3),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner),
        max_leaves=20,
    )
)
def test_json_depth_bound_matches_the_nesting(value):
    import json

    def depth(node):
        if isinstance(node, dict):
            return 1 + max((depth(child) for child in node.values()), default=0)
        if isinstance(node, list):
            return 1 + max((depth(child) for child in node), default=0)
        return 0

    text = json.dumps(value)
    actual = depth(value)
    assert parse_json(text, max_depth=max(actual, 1), what="x", backend="t") == value
    if actual > 1:
        with pytest.raises(MalformedResponse):
            parse_json(text, max_depth=actual - 1, what="x", backend="t")


# --- origins ------------------------------------------------------------------------------

BASE = "https://graph.microsoft.com/v1.0"


@pytest.mark.parametrize(
    "url",
    [
        "https://graph.microsoft.com/v1.0/users/a/events/delta?$deltatoken=x",
        "https://GRAPH.microsoft.com:443/beta/other",
        "HTTPS://graph.microsoft.com/",
    ],
)
def test_same_origin_urls_are_followed(url):
    assert same_origin(url, BASE)
    assert require_same_origin(url, BASE, what="nextLink", backend="graph") == url


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/v1.0/users/a/events/delta",
        "http://graph.microsoft.com/v1.0/x",  # scheme downgrade
        "https://graph.microsoft.com:8443/v1.0/x",  # other port
        "https://graph.microsoft.com@evil.example/v1.0/x",  # user info trick
        "https://graph.microsoft.com.evil.example/v1.0/x",
        "//evil.example/x",
        "/v1.0/relative",
        "ftp://graph.microsoft.com/x",
        "https://graph.microsoft.com:99999/x",  # port out of range
        "",
    ],
)
def test_foreign_urls_are_refused_naming_no_query(url):
    assert not same_origin(url, BASE)
    with pytest.raises(MalformedResponse, match="not followed") as caught:
        require_same_origin(url + "?token=SECRET", BASE, what="nextLink", backend="graph")
    assert "SECRET" not in str(caught.value)
    assert caught.value.code == "foreign-link"


def test_a_link_that_is_not_a_string_is_refused():
    with pytest.raises(MalformedResponse, match="int"):
        require_same_origin(7, BASE, what="deltaLink", backend="graph")


def test_safe_url_drops_user_info_query_and_fragment():
    assert (
        safe_url("https://user:pw@host.example:8443/p/a?sig=SECRET#frag")
        == "https://host.example:8443/p/a"
    )


# --- Retry-After --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("99999999", MAX_RETRY_AFTER),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),  # in the past
        ("Sun, 01 Mar 2027 12:00:00 GMT", MAX_RETRY_AFTER),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(value, expected):
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    "value",
    [None, "", "soon", "-5", "1.5e9", "9" * 5000, "Sun, 99 Foo 2026", "NaN", "inf"],
)
def test_retry_after_garbage_is_none(value):
    assert parse_retry_after(value, now=NOW) is None


def test_retry_after_takes_a_naive_now_as_utc():
    later = (NOW + timedelta(seconds=10)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(later, now=NOW.replace(tzinfo=None)) == 10.0


@given(st.text(max_size=40))
def test_retry_after_never_raises_and_stays_bounded(value):
    seconds = parse_retry_after(value, now=NOW)
    assert seconds is None or 0.0 <= seconds <= MAX_RETRY_AFTER
