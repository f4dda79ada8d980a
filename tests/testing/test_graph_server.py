"""The fake Graph server speaks Graph's wire format to any HTTP client, and its fixture."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from severa_ext.errors import ConfigError, NotFound
from severa_ext.sync.items import CalendarItem, ShowAs, Window
from severa_ext.testing.graph_server import FakeGraphServer

pytestmark = pytest.mark.slow

MAILBOX = "alice@contoso.com"
EVENT = {
    "subject": "Raw",
    "start": {"dateTime": "2026-05-05T09:00:00", "timeZone": "FLE Standard Time"},
    "end": {"dateTime": "2026-05-05T10:00:00", "timeZone": "FLE Standard Time"},
    "body": {"contentType": "html", "content": "<p>Hello</p><p>World</p>"},
}


@pytest.fixture
def client(graph_server):
    """A raw requests session with an app-only token from the fake's token endpoint."""
    session = graph_server.session()
    response = session.post(
        f"{graph_server.authority}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": graph_server.client_id,
            "client_secret": graph_server.client_secret,
            "scope": "https://graph.microsoft.com/.default",
        },
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"
    session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    yield session
    session.close()


def url(server, path):
    return f"{server.base_url}/users/{MAILBOX}/{path}"


def test_openid_discovery_names_the_token_endpoint(graph_server):
    session = graph_server.session()
    config = session.get(
        f"{graph_server.authority}/v2.0/.well-known/openid-configuration", timeout=5
    ).json()
    assert config["token_endpoint"] == f"{graph_server.authority}/oauth2/v2.0/token"


def test_requests_without_a_valid_token_are_401(graph_server):
    response = requests.get(url(graph_server, "events"), timeout=5)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_token_endpoint_refuses_a_wrong_secret(graph_server):
    response = graph_server.session().post(
        f"{graph_server.authority}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": graph_server.client_id},
        timeout=5,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_events_crud_with_etags_and_if_match(client, graph_server):
    created = client.post(url(graph_server, "events"), json=EVENT, timeout=5)
    assert created.status_code == 201
    event = created.json()
    assert event["@odata.etag"] == f'W/"{event["changeKey"]}"'
    item_url = url(graph_server, f"events/{event['id']}")
    stale = {"If-Match": event["@odata.etag"]}
    patched = client.patch(item_url, json={"subject": "New"}, headers=stale, timeout=5)
    assert patched.status_code == 200
    assert patched.json()["subject"] == "New"
    again = client.patch(item_url, json={"subject": "Lost"}, headers=stale, timeout=5)
    assert again.status_code == 412
    assert again.json()["error"]["code"] == "ErrorIrresolvableConflict"
    assert client.delete(item_url, headers=stale, timeout=5).status_code == 412
    fresh = {"If-Match": patched.json()["@odata.etag"]}
    assert client.delete(item_url, headers=fresh, timeout=5).status_code == 204
    gone = client.get(item_url, timeout=5)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "ErrorItemNotFound"


def test_bad_event_bodies_are_400(client, graph_server):
    response = client.post(url(graph_server, "events"), json={"subject": "x"}, timeout=5)
    assert response.status_code == 400
    backwards = dict(EVENT, end={"dateTime": "2026-05-05T05:00:00", "timeZone": "UTC"})
    assert client.post(url(graph_server, "events"), json=backwards, timeout=5).status_code == 400


def test_prefer_headers_convert_zone_and_body(client, graph_server):
    created = client.post(url(graph_server, "events"), json=EVENT, timeout=5).json()
    response = client.get(
        url(graph_server, f"events/{created['id']}"),
        headers={"Prefer": 'outlook.timezone="UTC", outlook.body-content-type="text"'},
        timeout=5,
    ).json()
    assert response["start"]["dateTime"].startswith("2026-05-05T06:00:00")
    assert response["start"]["timeZone"] == "UTC"
    assert response["body"] == {"contentType": "text", "content": "Hello\nWorld"}


def test_transaction_id_deduplicates_and_extended_property_filter(client, graph_server):
    prop_id = "String {00020329-0000-0000-C000-000000000046} Name Key"
    body = dict(
        EVENT,
        transactionId="tx-1",
        singleValueExtendedProperties=[{"id": prop_id, "value": "v'1"}],
    )
    first = client.post(url(graph_server, "events"), json=body, timeout=5).json()
    second = client.post(url(graph_server, "events"), json=body, timeout=5).json()
    assert first["id"] == second["id"]
    client.post(url(graph_server, "events"), json=EVENT, timeout=5)
    found = client.get(
        url(graph_server, "events"),
        params={
            "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{prop_id}' "
            "and ep/value eq 'v''1')",
            "$expand": f"singleValueExtendedProperties($filter=id eq '{prop_id}')",
        },
        timeout=5,
    ).json()["value"]
    assert [e["id"] for e in found] == [first["id"]]
    assert found[0]["singleValueExtendedProperties"][0]["value"] == "v'1"
    bad = client.get(url(graph_server, "events"), params={"$filter": "subject eq 'x'"}, timeout=5)
    assert bad.status_code == 400


def test_batch_limits_ids_and_shuffled_answers(client, graph_server):
    requests_ = [
        {"id": str(i), "method": "POST", "url": f"/users/{MAILBOX}/events", "body": EVENT}
        for i in range(8)
    ]
    answer = client.post(f"{graph_server.base_url}/$batch", json={"requests": requests_}, timeout=5)
    assert answer.status_code == 200
    responses = answer.json()["responses"]
    assert sorted(int(r["id"]) for r in responses) == list(range(8))
    assert [r["id"] for r in responses] != [str(i) for i in range(8)]  # seeded shuffle
    assert all(r["status"] == 201 for r in responses)
    too_many = [dict(r, id=str(i)) for i, r in enumerate(requests_ * 3)]
    refused = client.post(f"{graph_server.base_url}/$batch", json={"requests": too_many}, timeout=5)
    assert refused.status_code == 400


def test_batch_depends_on_fails_dependents_with_424(client, graph_server):
    requests_ = [
        {"id": "1", "method": "DELETE", "url": f"/users/{MAILBOX}/events/missing"},
        {
            "id": "2",
            "method": "POST",
            "url": f"/users/{MAILBOX}/events",
            "body": EVENT,
            "dependsOn": ["1"],
        },
    ]
    responses = client.post(
        f"{graph_server.base_url}/$batch", json={"requests": requests_}, timeout=5
    ).json()["responses"]
    by_id = {r["id"]: r["status"] for r in responses}
    assert by_id == {"1": 404, "2": 424}


def test_throttling_inside_a_batch_carries_retry_after(client, graph_server):
    graph_server.throttle_in_batch(1, retry_after=7)
    requests_ = [{"id": "a", "method": "GET", "url": f"/users/{MAILBOX}/events"}]
    (inner,) = client.post(
        f"{graph_server.base_url}/$batch", json={"requests": requests_}, timeout=5
    ).json()["responses"]
    assert inner["status"] == 429
    assert inner["headers"]["Retry-After"] == "7"


def test_delta_pages_follow_next_link_to_delta_link(client, graph_server):
    for _ in range(5):
        client.post(url(graph_server, "events"), json=EVENT, timeout=5)
    link = url(
        graph_server,
        "calendarView/delta?startDateTime=2026-05-01T00:00:00Z&endDateTime=2026-06-01T00:00:00Z",
    )
    pages = []
    while True:
        page = client.get(link, headers={"Prefer": "odata.maxpagesize=2"}, timeout=5).json()
        pages.append(len(page["value"]))
        if "@odata.nextLink" in page:
            link = page["@odata.nextLink"]
            continue
        delta_link = page["@odata.deltaLink"]
        break
    assert pages == [2, 2, 1]
    assert client.get(delta_link, timeout=5).json()["value"] == []
    graph_server.lose_delta_tokens()
    lost = client.get(delta_link, timeout=5)
    assert lost.status_code == 410
    assert lost.json()["error"]["code"] == "syncStateNotFound"


def test_user_lookup_by_alias_and_unknown_users(client, graph_server):
    user = client.get(f"{graph_server.base_url}/users/ALICE@contoso.fi", timeout=5).json()
    assert user["mail"] == MAILBOX
    assert "smtp:alice@contoso.fi" in user["proxyAddresses"]
    missing = client.get(f"{graph_server.base_url}/users/bob@contoso.com", timeout=5)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "Request_ResourceNotFound"


def test_server_lifecycle_and_helpers():
    server = FakeGraphServer()
    with pytest.raises(ConfigError):
        _ = server.url
    with server:
        assert server.url.startswith("http://127.0.0.1:")
        with pytest.raises(NotFound):
            server.user_delete("nobody@x", "id")
        assert "port=" in repr(server)
    assert "stopped" in repr(server)
    server.stop()  # idempotent


def test_graph_server_fixture_through_pytester(pytester):
    """A host's suite gets a started server with alice's mailbox and a wired backend."""
    pytester.makepyfile(
        """
        from datetime import UTC, datetime, timedelta
        from severa_ext.sync.items import CalendarItem, Window

        def test_sync_through_the_fixture(graph_server):
            backend = graph_server.backend("alice@contoso.com")
            start = datetime(2026, 5, 5, 9, tzinfo=UTC)
            backend.create(CalendarItem("Hi", start, start + timedelta(hours=1)), "k")
            window = Window(start - timedelta(days=1), start + timedelta(days=1))
            assert [i.title for i in backend.changes(None, window).items] == ["Hi"]
            assert len(graph_server.events("alice@contoso.com")) == 1

        def test_fresh_tenant_per_test(graph_server):
            assert graph_server.events("alice@contoso.com") == []
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_fixture_fails_a_test_when_the_fake_breaks(pytester):
    pytester.makepyfile(
        """
        def test_breaks_the_fake(graph_server):
            graph_server.errors.append("boom")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)


def test_faults_target_request_kinds_also_inside_batches(graph_server):
    """A fault aimed at "PATCH event" hits the PATCH inside a $batch, not the envelope."""
    from datetime import UTC, datetime, timedelta

    from severa_ext.backends.base import CreateOp, UpdateOp
    from severa_ext.errors import VersionConflict
    from severa_ext.sync.items import CalendarItem

    backend = graph_server.backend(MAILBOX)
    start = datetime(2026, 5, 5, 9, tzinfo=UTC)
    item = CalendarItem("A", start, start + timedelta(hours=1))
    stored = backend.create(item, "k1")
    graph_server.fail(1, status=412, kinds=["PATCH event"], code="ErrorIrresolvableConflict")
    results = backend.apply_batch(
        [CreateOp(item.evolve(title="B"), "k2"), UpdateOp(stored.id, item.evolve(title="C"), None)]
    )
    assert results[0].ok
    assert isinstance(results[1].error, VersionConflict)
    graph_server.throttle(5, kinds=["GET delta"])
    graph_server.clear_faults()
    assert backend.get(stored.id).title == "A"


def test_side_driver_edits_and_faults(graph_server):
    """The state machine's Graph driver: user edits land in the mailbox; faults arm."""
    from datetime import UTC, datetime, timedelta

    from severa_ext.backends.memory import Fault, InjectedCrash
    from severa_ext.clock import FixedClock
    from severa_ext.errors import Throttled
    from severa_ext.sync.items import CalendarItem, Window
    from severa_ext.testing.graph_server import graph_driver

    clock = FixedClock(datetime(2026, 5, 4, tzinfo=UTC))
    driver = graph_driver()(clock)
    try:
        start = datetime(2026, 5, 5, 9, tzinfo=UTC)
        created = driver.user_create(CalendarItem("Mine", start, start + timedelta(hours=1)))
        assert created.last_modified == clock.now()
        assert driver.user_update(created.id, title="Renamed").title == "Renamed"
        window = Window(start - timedelta(days=2), start + timedelta(days=2))
        assert driver.inject("changes", Fault.throttle(3.0))
        with pytest.raises(Throttled):
            driver.backend.changes(None, window)
        assert not driver.inject("changes", Fault.stale_etag())
        assert driver.inject("get", Fault.crash_after_write())
        with pytest.raises(InjectedCrash):
            driver.backend.get(created.id)
        driver.user_delete(created.id)
        assert driver.snapshot() == []
        assert driver.write_count() == 0
    finally:
        driver.close()


# --- the fake's own wire code (issue 11, point 7) ------------------------------------------
#
# The fake reads and writes Graph JSON with its own code (``testing/_graph_wire``), not
# with the backend's mapping, so a mapping bug made on both sides fails here: each test
# pins one documented wire document.

HELSINKI = ZoneInfo("Europe/Helsinki")
PACIFIC = "Pacific Standard Time"
REVIEW = CalendarItem(
    "Review",
    datetime(2026, 5, 5, 12, tzinfo=HELSINKI),
    datetime(2026, 5, 5, 13, tzinfo=HELSINKI),
    location="Room 4",
    body="Agenda\n1. budget",
    private=True,
    show_as=ShowAs.TENTATIVE,
    categories=("Project",),
)


def _content(item):
    return (
        item.title, item.start, item.end, item.location, item.body, item.private,
        item.show_as, item.categories,
    )  # fmt: skip


def test_a_user_event_is_stored_as_the_documented_json(graph_server):
    event_id = graph_server.user_create(MAILBOX, REVIEW)
    (raw,) = graph_server.raw_events(MAILBOX)
    assert {key: raw[key] for key in (
        "subject", "start", "end", "location", "isAllDay", "sensitivity", "showAs",
        "categories", "body",
    )} == {
        "subject": "Review",
        "start": {"dateTime": "2026-05-05T12:00:00.0000000", "timeZone": "FLE Standard Time"},
        "end": {"dateTime": "2026-05-05T13:00:00.0000000", "timeZone": "FLE Standard Time"},
        "location": {"displayName": "Room 4"},
        "isAllDay": False,
        "sensitivity": "private",
        "showAs": "tentative",
        "categories": ["Project"],
        "body": {"contentType": "text", "content": "Agenda\n1. budget"},
    }  # fmt: skip
    with graph_server.backend(MAILBOX) as backend:
        assert _content(backend.get(event_id)) == _content(REVIEW)


def test_a_documented_graph_event_reads_the_same_in_the_fake_and_the_backend(graph_server):
    # The shape of the example in Graph's "Get event" documentation.
    event_id = graph_server.user_create_raw(
        MAILBOX,
        {
            "subject": "Let's go for lunch",
            "body": {"contentType": "html", "content": "<html><body><p>Does noon work "
                     "for you?</p><p>Thanks &amp; see you</p></body></html>"},
            "start": {"dateTime": "2026-05-15T12:00:00.0000000", "timeZone": PACIFIC},
            "end": {"dateTime": "2026-05-15T14:00:00.0000000", "timeZone": PACIFIC},
            "location": {"displayName": "Harry's Bar"},
            "sensitivity": "personal",
            "showAs": "oof",
            "isAllDay": False,
            "categories": ["Red category"],
        },
    )  # fmt: skip
    pacific = ZoneInfo("America/Los_Angeles")
    expected = (
        "Let's go for lunch",
        datetime(2026, 5, 15, 12, tzinfo=pacific),
        datetime(2026, 5, 15, 14, tzinfo=pacific),
        "Harry's Bar",
        "Does noon work for you?\nThanks & see you",
        True,
        ShowAs.OOF,
        ("Red category",),
    )
    (stored,) = graph_server.events(MAILBOX)
    assert _content(stored) == expected
    with graph_server.backend(MAILBOX) as backend:
        assert _content(backend.get(event_id)) == expected


def test_what_the_backend_writes_is_the_documented_json(graph_server):
    with graph_server.backend(MAILBOX) as backend:
        backend.create(REVIEW, "key-1")
    (raw,) = graph_server.raw_events(MAILBOX)
    assert raw["start"] == {"dateTime": "2026-05-05T12:00:00", "timeZone": "FLE Standard Time"}
    assert raw["sensitivity"] == "private"
    assert raw["showAs"] == "tentative"
    assert raw["transactionId"] == "key-1"
    assert raw["body"]["contentType"] == "html"
    (stored,) = graph_server.events(MAILBOX)  # read back by the fake's own code
    assert _content(stored) == _content(REVIEW)
    assert stored.sync_key == "key-1"


def test_an_all_day_event_is_midnight_to_midnight(graph_server):
    day = CalendarItem("Holiday", date(2026, 6, 19), date(2026, 6, 20))
    graph_server.user_create(MAILBOX, day)
    (raw,) = graph_server.raw_events(MAILBOX)
    assert raw["isAllDay"] is True
    assert raw["start"]["dateTime"].startswith("2026-06-19T00:00:00")
    assert raw["end"]["dateTime"].startswith("2026-06-20T00:00:00")
    with graph_server.backend(MAILBOX) as backend:
        (item,) = backend.changes(None, Window(
            datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)
        )).items  # fmt: skip
    assert (item.start, item.end) == (date(2026, 6, 19), date(2026, 6, 20))


# --- subscriptions and change notifications (issue 15) --------------------------------


class _Capture:
    """A tiny receiver of its own: echoes validation tokens (or not), records posts."""

    def __init__(self, *, echo=True):
        self.echo = echo
        self.posts = []
        self.validations = []

    def __call__(self, environ, start_response):
        from urllib.parse import parse_qs

        query = parse_qs(environ.get("QUERY_STRING", ""))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        if "validationToken" in query:
            token = query["validationToken"][0]
            self.validations.append((token, environ.get("CONTENT_TYPE")))
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [token.encode() if self.echo else b"nope"]
        self.posts.append(json.loads(body))
        start_response("202 Accepted", [("Content-Length", "0")])
        return [b""]


@pytest.fixture
def capture():
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    app = _Capture()
    httpd = make_server("127.0.0.1", 0, app, handler_class=Quiet)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    app.url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    yield app
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _subscription(capture, **changes):
    expires = datetime.now(UTC) + timedelta(hours=24)
    body = {
        "changeType": "created,updated,deleted",
        "notificationUrl": capture.url,
        "resource": f"users/{MAILBOX}/events",
        "expirationDateTime": expires.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "clientState": "client-state-1",
    }
    body.update(changes)
    return body


def test_a_subscription_is_created_after_the_handshake(client, graph_server, capture):
    answer = client.post(f"{graph_server.base_url}/subscriptions", json=_subscription(capture))
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["resource"] == f"users/{MAILBOX}/events"
    assert created["clientState"] == "client-state-1"
    ((token, content_type),) = capture.validations
    assert token.startswith("Validation: ")
    assert content_type.startswith("text/plain")
    got = client.get(f"{graph_server.base_url}/subscriptions/{created['id']}", timeout=5)
    assert got.json()["id"] == created["id"]


def test_a_failed_handshake_refuses_the_subscription(client, graph_server, capture):
    capture.echo = False
    answer = client.post(f"{graph_server.base_url}/subscriptions", json=_subscription(capture))
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "ValidationError"
    assert graph_server.subscriptions.ids() == []


@pytest.mark.parametrize(
    "changes",
    [
        {"expirationDateTime": "2000-01-01T00:00:00Z"},
        {"expirationDateTime": "4231 minutes ahead"},
        {"expirationDateTime": "soon"},
        {"resource": "users/nobody@contoso.com/events"},
        {"resource": "me/messages"},
        {"changeType": "moved"},
        {"notificationUrl": "https://example.com/hook"},
        {"clientState": "x" * 129},
    ],
)
def test_bad_subscriptions_are_400(client, graph_server, capture, changes):
    if changes.get("expirationDateTime") == "4231 minutes ahead":  # one minute too far
        too_far = datetime.now(UTC) + timedelta(minutes=4231)
        changes = {"expirationDateTime": too_far.isoformat()}
    answer = client.post(
        f"{graph_server.base_url}/subscriptions", json=_subscription(capture, **changes)
    )
    assert answer.status_code == 400
    assert graph_server.subscriptions.ids() == []


def test_renew_delete_and_notifications(client, graph_server, capture):
    base = f"{graph_server.base_url}/subscriptions"
    sid = client.post(base, json=_subscription(capture, changeType="updated")).json()["id"]
    later = (datetime.now(UTC) + timedelta(hours=60)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    renewed = client.patch(f"{base}/{sid}", json={"expirationDateTime": later}, timeout=5)
    assert renewed.status_code == 200
    assert renewed.json()["expirationDateTime"] == later

    created = client.post(url(graph_server, "events"), json=EVENT, timeout=5).json()
    client.patch(url(graph_server, f"events/{created['id']}"), json={"subject": "New"}, timeout=5)
    assert graph_server.subscriptions.wait_delivered()
    # Only "updated" was subscribed to: the create sent nothing.
    ((entry,),) = [post["value"] for post in capture.posts]
    assert entry["subscriptionId"] == sid
    assert entry["clientState"] == "client-state-1"
    assert entry["changeType"] == "updated"
    assert entry["resourceData"]["id"] == created["id"]
    assert entry["resource"].endswith(f"/Events/{created['id']}")

    assert client.delete(f"{base}/{sid}", timeout=5).status_code == 204
    assert client.delete(f"{base}/{sid}", timeout=5).status_code == 404
    graph_server.user_delete(MAILBOX, created["id"])
    assert graph_server.subscriptions.wait_delivered()
    assert len(capture.posts) == 1


def test_lifecycle_notifications_on_demand(client, graph_server, capture):
    body = _subscription(capture, lifecycleNotificationUrl=f"{capture.url}?lifecycle")
    sid = client.post(f"{graph_server.base_url}/subscriptions", json=body).json()["id"]
    assert len(capture.validations) == 2
    graph_server.subscriptions.lifecycle(sid, "missed")
    graph_server.subscriptions.lifecycle(sid, "subscriptionRemoved")
    assert graph_server.subscriptions.wait_delivered()
    events = [post["value"][0]["lifecycleEvent"] for post in capture.posts]
    assert events == ["missed", "subscriptionRemoved"]
    assert graph_server.subscriptions.ids() == []
    with pytest.raises(ValueError):
        graph_server.subscriptions.lifecycle(sid, "bogus")
