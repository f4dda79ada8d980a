"""The total deadline of a call covers the status line and the headers (issue 12).

A server that trickles its status line and headers one byte at a time, each byte
well inside the per-read timeout, must not hold a call past its deadline: not on
Graph, EWS, Severa or an ICS subscription. Each test asks for a 1 s deadline with a
1 s per-read timeout and a head that would take a minute to arrive whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests

from hostile.server import HostileServer, json_reply, trickled_head, xml_reply
from severa_ext.backends._http import HttpLimits, send
from severa_ext.backends._http_deadline import DeadlineAdapter
from severa_ext.backends.ews import EwsBackend, basic_auth
from severa_ext.backends.graph import GraphBackend, StaticTokenProvider
from severa_ext.backends.ics import IcsSubscription
from severa_ext.backends.severa import SeveraBackend, SeveraCredentials
from severa_ext.errors import BackendUnavailable
from severa_ext.sync.items import Window

pytestmark = pytest.mark.slow

NOW = datetime(2026, 5, 4, 9, tzinfo=UTC)
WINDOW = Window(NOW - timedelta(days=30), NOW + timedelta(days=90))
LIMITS = HttpLimits(deadline=1.0)
# 0.2 s a byte, 300 bytes of padding: a minute for the whole head.
SLOW_HEAD = {"byte_delay": 0.2, "padding": 300}
BOUND = 3.0  # the deadline, the per-read timeout of the last byte, and slack


def _deadline_hit(call: Callable[[], object]) -> BackendUnavailable:
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as info:
        call()
    took = time.monotonic() - started
    assert took < BOUND, f"the call took {took:.1f} s"
    return info.value


def test_send_cuts_a_trickled_head_at_the_deadline(hostile: HostileServer):
    hostile.route("/x", trickled_head(**SLOW_HEAD))
    with requests.Session() as session:
        error = _deadline_hit(
            lambda: send(
                session,
                "GET",
                f"{hostile.url}/x",
                limits=LIMITS,
                timeout=1.0,
                backend="test",
                what="GET /x",
            )
        )
    assert error.code == "deadline"
    assert "within 1 s" in str(error)


def test_a_head_trickled_within_the_deadline_is_read(hostile: HostileServer):
    hostile.route("/x", trickled_head(json_reply({"ok": True}), byte_delay=0.002))
    with requests.Session() as session:
        answer = send(
            session,
            "GET",
            f"{hostile.url}/x",
            limits=HttpLimits(deadline=10.0),
            timeout=1.0,
            backend="test",
            what="GET /x",
        )
    assert (answer.status, answer.body) == (200, b'{"ok": true}')


def test_graph_is_bounded_by_the_deadline_before_the_headers(hostile: HostileServer):
    mailbox = "alice@contoso.com"
    hostile.route(f"/v1.0/users/{mailbox}/calendarView/delta", trickled_head(**SLOW_HEAD))
    with GraphBackend(
        mailbox,
        StaticTokenProvider("tok"),
        base_url=f"{hostile.url}/v1.0",
        timeout=1.0,
        resolve_sync_keys=False,
        limits=LIMITS,
    ) as backend:
        error = _deadline_hit(lambda: backend.changes(None, WINDOW))
    assert error.code == "deadline"


def test_ews_is_bounded_by_the_deadline_before_the_headers(hostile: HostileServer):
    hostile.route("/EWS/Exchange.asmx", trickled_head(xml_reply("<x/>"), **SLOW_HEAD))
    backend = EwsBackend(
        f"{hostile.url}/EWS/Exchange.asmx",
        "alice@contoso.com",
        auth=basic_auth("svc", "pw"),
        allow_loopback_http=True,
        timeout=1.0,
        limits=LIMITS,
    )
    with backend:
        error = _deadline_hit(lambda: backend.changes(None, WINDOW))
    assert error.code == "deadline"


def test_severa_is_bounded_by_the_deadline_before_the_headers(hostile: HostileServer):
    hostile.route("/v1/token", trickled_head(**SLOW_HEAD))
    backend = SeveraBackend(
        SeveraCredentials("client", "secret"),
        user_guid="u1",
        base_url=hostile.url,
        timeout=1.0,
        limits=LIMITS,
    )
    with backend:
        error = _deadline_hit(backend.user)
    assert error.code == "deadline"


def test_an_ics_subscription_is_bounded_by_the_deadline_before_the_headers(
    hostile: HostileServer,
):
    hostile.route("/cal.ics", trickled_head(**SLOW_HEAD))
    feed = IcsSubscription(f"{hostile.url}/cal.ics", allow_http=True, timeout=1.0, max_seconds=1.0)
    try:
        error = _deadline_hit(lambda: feed.changes(None, WINDOW))
    finally:
        feed.close()
    assert error.code == "deadline"


def _get(session: requests.Session, url: str) -> int:
    answer = send(session, "GET", url, limits=LIMITS, timeout=1.0, backend="test", what="GET")
    return answer.status


def test_a_stock_adapter_is_swapped_once_and_a_hosts_own_adapter_is_kept(hostile: HostileServer):
    class HostAdapter(requests.adapters.HTTPAdapter):
        pass

    hostile.route("/x", json_reply({}))
    with requests.Session() as session:
        own = HostAdapter()
        session.mount("http://127.0.0.1:1/", own)  # another prefix: kept as it is
        assert _get(session, f"{hostile.url}/x") == 200
        swapped = session.get_adapter(f"{hostile.url}/x")
        assert isinstance(swapped, DeadlineAdapter)
        assert _get(session, f"{hostile.url}/x") == 200
        assert session.get_adapter(f"{hostile.url}/x") is swapped
        assert session.adapters["http://127.0.0.1:1/"] is own
        session.mount(hostile.url, own)
        assert _get(session, f"{hostile.url}/x") == 200
        assert session.get_adapter(f"{hostile.url}/x") is own


def test_graph_token_calls_are_bounded_by_the_deadline_before_the_headers(
    hostile: HostileServer,
):
    """msal's own session has no timeout at all; the providers give msal this client."""
    from severa_ext.backends._msal_http import BoundedMsalClient

    discovery = "/tenant/v2.0/.well-known/openid-configuration"
    hostile.route(discovery, trickled_head(**SLOW_HEAD))
    hostile.route("/tenant/oauth2/v2.0/token", trickled_head(**SLOW_HEAD))
    with requests.Session() as session:
        client = BoundedMsalClient(session, timeout=1.0, limits=LIMITS)
        error = _deadline_hit(lambda: client.get(f"{hostile.url}{discovery}"))
        assert error.code == "deadline"
        error = _deadline_hit(
            lambda: client.post(f"{hostile.url}/tenant/oauth2/v2.0/token", data={"a": "b"})
        )
        assert error.code == "deadline"


def test_the_token_providers_hand_msal_the_bounded_client(graph_server):
    from severa_ext.backends._msal_http import BoundedMsalClient

    with graph_server.session() as session:
        tokens = graph_server.token_provider(session)
        assert tokens.token()  # a real token, fetched through the bounded client
        app = tokens._build()
        assert isinstance(app.http_client.http_client, BoundedMsalClient)  # under msal's throttle
