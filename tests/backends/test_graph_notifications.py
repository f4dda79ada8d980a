"""Graph change notifications over real HTTP: subscriptions on the fake Graph server, the
receiver served by a real WSGI server on 127.0.0.1 (issue 15, S11: a notification makes
the pair due early; the delta round of the engine is what syncs).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import attrs
import pytest
import requests

from severa_ext.backends.graph_notifications import (
    MAX_EVENT_SUBSCRIPTION_MINUTES,
    GraphSubscriptions,
    MemoryNotificationSink,
    MemorySubscriptionStore,
    NotificationReceiver,
    ReceiverLimits,
    SignalKind,
    Subscription,
    due_for_renewal,
    structure_subscription,
    unstructure_subscription,
)
from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.errors import BackendUnavailable, BadItem, ConfigError, NotFound, Throttled
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem, Capabilities
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.state import MemoryStateStore
from severa_ext.testing.graph_server import FakeGraphServer

pytestmark = pytest.mark.slow

ALICE = "alice@contoso.com"
NOW = datetime(2026, 5, 4, 8, tzinfo=UTC)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


@attrs.define
class Served:
    url: str
    receiver: NotificationReceiver
    store: MemorySubscriptionStore
    sink: MemoryNotificationSink


def serve(app) -> tuple[str, WSGIServer, threading.Thread]:
    httpd = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    return f"http://127.0.0.1:{httpd.server_address[1]}", httpd, thread


@pytest.fixture
def served() -> Iterator[Served]:
    store, sink = MemorySubscriptionStore(), MemoryNotificationSink()
    receiver = NotificationReceiver(store, sink, limits=ReceiverLimits(max_body_bytes=64 * 1024))
    url, httpd, thread = serve(receiver.wsgi)
    try:
        yield Served(f"{url}/graph/notify", receiver, store, sink)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def graph(clock) -> Iterator[FakeGraphServer]:
    with FakeGraphServer(clock=clock) as server:
        server.add_mailbox(ALICE)
        yield server
        assert not server.errors


@pytest.fixture
def subscribe(graph, served, clock):
    client = graph.graph_subscriptions(clock=clock, lifetime=timedelta(hours=48))

    def make(**kwargs) -> Subscription:
        subscription = client.create(
            ALICE, served.url, pair="alice", lifecycle_url=f"{served.url}?lifecycle=1", **kwargs
        )
        served.store.put(subscription)
        return subscription

    make.client = client  # type: ignore[attr-defined]
    yield make
    client.close()


def post(url: str, body: object, **kwargs) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(
        url, data=data, headers={"Content-Type": "application/json"}, timeout=5, **kwargs
    )


# --- the handshake --------------------------------------------------------------------


def test_the_validation_token_is_echoed_as_plain_text(served):
    token = "Validation: Testing client application reachability <script>alert(1)</script>"
    answer = requests.post(served.url, params={"validationToken": token}, timeout=5)
    assert answer.status_code == 200
    assert answer.text == token
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert served.receiver.counts.validations == 1


def test_an_overlong_validation_token_is_refused(served):
    answer = requests.post(served.url, params={"validationToken": "x" * 1025}, timeout=5)
    assert answer.status_code == 400
    assert "x" * 100 not in answer.text


def test_only_post_is_answered(served):
    answer = requests.get(served.url, params={"validationToken": "abc"}, timeout=5)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "POST"


# --- subscriptions -----------------------------------------------------------------------


def test_create_validates_the_receiver_then_subscribes(graph, served, subscribe):
    subscription = subscribe()
    assert graph.subscriptions.ids() == [subscription.id]
    # Graph validated both URLs before creating the subscription.
    assert [status for _, status in graph.subscriptions.validations] == [200, 200]
    assert subscription.resource == "users/alice@contoso.com/events"
    assert subscription.expires == NOW + timedelta(hours=48)
    assert graph.subscriptions.client_state(subscription.id) == subscription.client_state
    assert len(subscription.client_state) >= 40
    assert subscription.client_state not in repr(subscription)
    assert served.receiver.counts.validations == 2


def test_a_receiver_that_fails_the_handshake_gets_no_subscription(graph, clock):
    def wrong(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"not the token"]

    url, httpd, thread = serve(wrong)
    client = graph.graph_subscriptions(clock=clock)
    try:
        with pytest.raises(BadItem, match="ValidationError"):
            client.create(ALICE, url)
        assert graph.subscriptions.ids() == []
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
        client.close()


def test_an_unreachable_receiver_gets_no_subscription(graph, clock):
    with graph.graph_subscriptions(clock=clock) as client, pytest.raises(BadItem):
        client.create(ALICE, "http://127.0.0.1:9/nothing-listens")
    assert graph.subscriptions.ids() == []


def test_a_lifetime_longer_than_graph_allows_is_refused(graph):
    with pytest.raises(ConfigError, match="4230"):
        graph.graph_subscriptions(lifetime=timedelta(minutes=MAX_EVENT_SUBSCRIPTION_MINUTES + 1))


def test_delete_ends_the_subscription_and_a_second_delete_is_quiet(graph, subscribe):
    subscription = subscribe()
    subscribe.client.delete(subscription)
    assert graph.subscriptions.ids() == []
    subscribe.client.delete(subscription)


def test_the_record_round_trips_through_cattrs(subscribe):
    subscription = subscribe()
    data = unstructure_subscription(subscription)
    assert json.loads(json.dumps(data)) == data
    assert structure_subscription(data) == subscription
    with pytest.raises(ConfigError):
        structure_subscription({**data, "expires": "yesterday"})
    with pytest.raises(ConfigError):
        structure_subscription({**data, "expires": "2026-05-04T08:00:00"})  # naive


# --- renewal -------------------------------------------------------------------------


def test_renewal_is_due_within_the_margin_and_renew_extends_the_subscription(
    graph, subscribe, clock
):
    subscription = subscribe()
    margin = timedelta(hours=6)
    assert due_for_renewal([subscription], now=clock.now(), margin=margin) == ()
    clock.advance(timedelta(hours=43))
    assert due_for_renewal([subscription], now=clock.now(), margin=margin) == (subscription,)
    renewed = subscribe.client.renew(subscription)
    assert renewed.expires == clock.now() + timedelta(hours=48)
    assert renewed.client_state == subscription.client_state
    assert due_for_renewal([renewed], now=clock.now(), margin=margin) == ()
    # Past the old expiry the renewed subscription still lives on the fake.
    clock.advance(timedelta(hours=10))
    assert graph.subscriptions.ids() == [subscription.id]


def test_due_for_renewal_orders_by_expiry_and_includes_expired_ones(subscribe):
    first = subscribe()
    late = attrs.evolve(first, id="late", expires=NOW + timedelta(hours=50))
    gone = attrs.evolve(first, id="gone", expires=NOW - timedelta(minutes=1))
    due = due_for_renewal([late, first, gone], now=NOW, margin=timedelta(days=3))
    assert [s.id for s in due] == ["gone", first.id, "late"]


def test_an_expired_subscription_cannot_be_renewed_and_sends_nothing(
    graph, served, subscribe, clock
):
    subscription = subscribe()
    clock.advance(timedelta(hours=49))
    with pytest.raises(NotFound):
        subscribe.client.renew(subscription)
    graph.user_create(ALICE, CalendarItem("Late", NOW, NOW + timedelta(hours=1)))
    assert graph.subscriptions.wait_delivered()
    assert graph.subscriptions.deliveries == []
    assert served.sink.signals == ()


# --- change notifications and the engine ------------------------------------------------


def test_a_changed_event_makes_the_pair_due_and_the_delta_round_syncs_it(
    graph, served, subscribe, clock
):
    severa = MemoryBackend("severa", capabilities=Capabilities(delta=True), clock=clock)
    state = MemoryStateStore()
    with graph.backend(ALICE, timeout=5) as backend:
        engine = SyncEngine(
            severa, backend, state, pair_id="alice", policy=SyncPolicy.calendars(), clock=clock,
            sleep=lambda seconds: None,
        )  # fmt: skip
        event_id = graph.user_create(ALICE, CalendarItem("Planning", NOW, NOW + timedelta(hours=1)))
        assert engine.run().ok
        subscribe()
        graph.reset_stats()
        before = severa.all_items()

        graph.user_update(
            ALICE, event_id, CalendarItem("Planning, moved", NOW, NOW + timedelta(hours=2))
        )
        assert graph.subscriptions.wait_delivered()

        assert [(s.kind, s.pair) for s in served.sink.signals] == [(SignalKind.CHANGED, "alice")]
        assert served.sink.due_pairs() == {"alice"}
        # The notification wrote nothing and read nothing: no Graph request, no change.
        assert graph.request_count == 0
        assert severa.all_items() == before

        assert engine.run().ok
        assert [i.title for i in severa.all_items()] == ["Planning, moved"]


def test_a_write_by_the_engine_is_notified_too(graph, served, subscribe, clock):
    subscribe()
    with graph.backend(ALICE, timeout=5) as backend:
        backend.create(CalendarItem("From Severa", NOW, NOW + timedelta(hours=1)), "key-1")
    assert graph.subscriptions.wait_delivered()
    assert [d.status for d in graph.subscriptions.deliveries] == [202]
    assert served.sink.due_pairs() == {"alice"}


def test_several_notifications_in_one_body_give_one_signal(served, subscribe):
    subscription = subscribe()
    entry = {"subscriptionId": subscription.id, "clientState": subscription.client_state,
             "changeType": "updated", "resource": "Users/x/Events/y"}  # fmt: skip
    assert post(served.url, {"value": [entry, entry, entry]}).status_code == 202
    assert len(served.sink.signals) == 1
    assert served.receiver.counts.accepted == 3


# --- forged and hostile posts -------------------------------------------------------


def test_a_wrong_client_state_is_ignored_with_202(served, subscribe, caplog):
    subscription = subscribe()
    forged = {"subscriptionId": subscription.id, "clientState": "guess", "changeType": "updated"}
    answer = post(served.url, {"value": [forged]})
    assert answer.status_code == 202
    assert answer.content == b""
    assert served.sink.signals == ()
    assert served.receiver.counts.ignored == 1
    assert subscription.client_state not in caplog.text


def test_an_unknown_subscription_is_ignored_with_202(served):
    answer = post(served.url, {"value": [{"subscriptionId": "nope", "clientState": "x"}]})
    assert answer.status_code == 202
    assert served.sink.signals == ()
    assert served.receiver.counts.ignored == 1


def test_an_oversized_body_is_refused_before_it_is_read(served):
    answer = post(served.url, b"{" + b" " * (64 * 1024) + b"}")
    assert answer.status_code == 413
    assert served.receiver.counts.refused == 1


def test_a_deeply_nested_body_is_refused(served):
    deep = b'{"value": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert post(served.url, deep).status_code == 400
    assert post(served.url, b"not json").status_code == 400
    assert post(served.url, {"value": "nope"}).status_code == 400
    assert served.receiver.counts.refused == 3
    assert served.sink.signals == ()


# --- lifecycle notifications ----------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ("reauthorizationRequired", SignalKind.REAUTHORIZE),
        ("missed", SignalKind.RESYNC),
        ("subscriptionRemoved", SignalKind.RECREATE),
    ],
)
def test_lifecycle_notifications_become_signals(graph, served, subscribe, event, kind):
    subscription = subscribe()
    graph.subscriptions.lifecycle(subscription.id, event)
    assert graph.subscriptions.wait_delivered()
    assert [(s.kind, s.subscription_id) for s in served.sink.signals] == [(kind, subscription.id)]
    alive = graph.subscriptions.ids()
    assert alive == ([] if event == "subscriptionRemoved" else [subscription.id])


def test_a_removed_subscription_is_created_again_and_notifies_again(graph, served, subscribe):
    first = subscribe()
    graph.subscriptions.lifecycle(first.id, "subscriptionRemoved")
    assert graph.subscriptions.wait_delivered()
    (signal,) = served.sink.signals
    assert signal.kind is SignalKind.RECREATE
    with pytest.raises(NotFound):
        subscribe.client.renew(first)
    served.store.remove(first.id)
    second = subscribe()
    served.sink.clear()
    graph.user_create(ALICE, CalendarItem("After", NOW, NOW + timedelta(hours=1)))
    assert graph.subscriptions.wait_delivered()
    assert [s.subscription_id for s in served.sink.signals] == [second.id]


def test_an_unknown_lifecycle_event_is_ignored(served, subscribe):
    subscription = subscribe()
    entry = {"subscriptionId": subscription.id, "clientState": subscription.client_state,
             "lifecycleEvent": "somethingNew"}  # fmt: skip
    assert post(served.url, {"value": [entry]}).status_code == 202
    assert served.sink.signals == ()
    assert served.receiver.counts.ignored == 1


def test_graph_subscriptions_repr_holds_no_secret(graph):
    client = graph.graph_subscriptions()
    assert graph.client_secret not in repr(client)
    assert isinstance(client, GraphSubscriptions)
    client.close()


def test_renew_due_renews_the_due_and_recreates_the_gone(graph, served, subscribe, clock):
    kept = subscribe()
    clock.advance(timedelta(hours=1))
    later = subscribe()
    removed = subscribe()
    graph.subscriptions.lifecycle(removed.id, "subscriptionRemoved")
    assert graph.subscriptions.wait_delivered()
    clock.advance(timedelta(hours=44))  # kept is 3 h from its end, the others 4 h

    fresh = subscribe.client.renew_due(
        [kept, later, removed], margin=timedelta(hours=3, minutes=30)
    )
    assert [s.id for s in fresh] == [kept.id]
    assert fresh[0].expires == clock.now() + timedelta(hours=48)

    fresh = subscribe.client.renew_due([later, removed], margin=timedelta(hours=5))
    by_pair = {s.id: s for s in fresh}
    assert later.id in by_pair
    (recreated,) = [s for s in fresh if s.id != later.id]
    assert recreated.id != removed.id
    assert recreated.client_state != removed.client_state
    assert (recreated.pair, recreated.mailbox) == (removed.pair, removed.mailbox)
    assert sorted(graph.subscriptions.ids()) == sorted([kept.id, later.id, recreated.id])


def test_no_secret_reaches_the_logs_in_a_whole_round_trip(graph, served, subscribe, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    subscription = subscribe()
    graph.user_create(ALICE, CalendarItem("Logged", NOW, NOW + timedelta(hours=1)))
    assert graph.subscriptions.wait_delivered()
    post(served.url, {"value": [{"subscriptionId": subscription.id, "clientState": "no"}]})
    subscribe.client.renew(subscription)
    assert served.sink.signals
    assert subscription.client_state not in caplog.text
    assert graph.client_secret not in caplog.text


def test_changes_in_another_mailbox_notify_nobody(graph, served, subscribe):
    subscribe()
    graph.add_mailbox("bob@contoso.com")
    graph.user_create("bob@contoso.com", CalendarItem("Bob's", NOW, NOW + timedelta(hours=1)))
    assert graph.subscriptions.wait_delivered()
    assert graph.subscriptions.deliveries == []
    assert served.sink.signals == ()


def test_subscription_calls_share_the_backends_error_mapping_and_token_refresh(
    graph, served, subscribe
):
    subscription = subscribe()
    graph.throttle(1, retry_after=7, kinds=["PATCH subscription"])
    with pytest.raises(Throttled) as caught:
        subscribe.client.renew(subscription)
    assert caught.value.retry_after == 7
    graph.expire_tokens()  # the next call gets 401, takes a fresh token, and succeeds
    issued = graph.tokens_issued
    assert subscribe.client.renew(subscription).id == subscription.id
    assert graph.tokens_issued == issued + 1
    graph.fail(1, status=500, kinds=["DELETE subscription"])
    with pytest.raises(BackendUnavailable):
        subscribe.client.delete(subscription)
    assert graph.subscriptions.ids() == [subscription.id]


def test_renewing_on_schedule_keeps_one_live_subscription(served):
    """Property: after every ``renew_due`` the record is live on the fake and expires
    beyond the margin, and its id changes only when its expiry had passed before."""
    from hypothesis import given
    from hypothesis import strategies as st

    clock = FixedClock(NOW)
    lifetime, margin = timedelta(hours=48), timedelta(hours=6)
    with FakeGraphServer(clock=clock) as graph:
        graph.add_mailbox(ALICE)
        client = graph.graph_subscriptions(clock=clock, lifetime=lifetime)
        steps = st.lists(st.integers(min_value=0, max_value=60 * 60), min_size=1, max_size=6)

        @given(steps=steps)
        def run(steps):
            graph.subscriptions.expire_all()
            clock.current = NOW
            record = client.create(ALICE, served.url, pair="alice")
            for minutes in steps:
                clock.advance(timedelta(minutes=minutes))
                was_expired = record.expires <= clock.now()
                (fresh,) = client.renew_due([record], margin=margin) or (record,)
                assert (fresh.id != record.id) == was_expired
                assert fresh.expires > clock.now() + margin
                assert fresh.id in graph.subscriptions.ids()
                record = fresh

        run()
        client.close()
        assert not graph.errors


def test_a_flood_of_forged_entries_logs_one_line(served, subscribe, caplog):
    import logging

    subscription = subscribe()
    forged = [{"subscriptionId": subscription.id, "clientState": f"guess-{i}"} for i in range(300)]
    unknown = [{"subscriptionId": f"x{i}", "clientState": "y"} for i in range(200)]
    with caplog.at_level(logging.WARNING, logger="severa_ext.backends._graph_receiver"):
        assert post(served.url, {"value": [*forged, *unknown, 7]}).status_code == 202
    (line,) = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert "'wrong client state': 300" in line
    assert "'unknown subscription': 200" in line
    assert "'not an object': 1" in line
    assert served.receiver.counts.ignored == 501
    assert served.sink.signals == ()
