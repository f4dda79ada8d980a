"""Property tests of the notification receiver: whatever is posted, it answers and never
raises, and without the subscription's client state no pair is ever made due."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from severa_ext.backends.graph_notifications import (
    MemoryNotificationSink,
    MemorySubscriptionStore,
    NotificationReceiver,
    ReceiverLimits,
    SignalKind,
    Subscription,
    due_for_renewal,
)

SECRET = "s3cr3t-client-state-0123456789abcdef"
KNOWN = Subscription(
    id="sub-1",
    pair="alice",
    mailbox="alice@contoso.com",
    resource="users/alice@contoso.com/events",
    notification_url="https://host.example/notify",
    lifecycle_url=None,
    expires=datetime(2026, 5, 6, tzinfo=UTC),
    client_state=SECRET,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
wrong_states = json_values.filter(lambda v: v != SECRET)
lifecycle_events = st.sampled_from(["missed", "subscriptionRemoved", "x"]) | json_values
forged_entries = st.fixed_dictionaries(
    {"subscriptionId": st.sampled_from(["sub-1", "sub-2", ""]) | json_values,
     "clientState": wrong_states},
    optional={"lifecycleEvent": lifecycle_events, "changeType": json_values,
              "resource": json_values},
)  # fmt: skip
bodies = (
    st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.lists(forged_entries | json_values, max_size=6).map(
        lambda entries: json.dumps({"value": entries}).encode()
    )
)


def make() -> tuple[NotificationReceiver, MemoryNotificationSink]:
    sink = MemoryNotificationSink()
    receiver = NotificationReceiver(
        MemorySubscriptionStore([KNOWN]), sink, limits=ReceiverLimits(max_json_depth=6)
    )
    return receiver, sink


@given(body=bodies)
def test_a_body_without_the_client_state_never_marks_a_pair(body):
    receiver, sink = make()
    answer = receiver.handle("POST", {}, {"Content-Type": "application/json"}, body)
    assert answer.status in {202, 400}
    assert sink.signals == ()
    assert SECRET.encode() not in answer.body


@given(
    noise=st.lists(forged_entries | json_values, max_size=4),
    lifecycle=st.sampled_from([None, "missed", "subscriptionRemoved", "reauthorizationRequired"]),
)
def test_one_genuine_entry_among_noise_gives_exactly_its_signal(noise, lifecycle):
    receiver, sink = make()
    genuine = {"subscriptionId": "sub-1", "clientState": SECRET}
    if lifecycle is not None:
        genuine["lifecycleEvent"] = lifecycle
    body = json.dumps({"value": [*noise, genuine]}).encode()
    answer = receiver.handle("POST", {}, {}, body)
    if answer.status == 400:  # the noise nested deeper than the receiver's bound
        assert sink.signals == ()
        return
    assert answer.status == 202
    expected = SignalKind.CHANGED if lifecycle is None else SignalKind(lifecycle)
    assert [(s.kind, s.pair) for s in sink.signals] == [(expected, "alice")]


@given(token=st.text(min_size=1, max_size=300), method=st.sampled_from(["POST", "GET", "PUT"]))
def test_the_handshake_echoes_any_token_and_only_on_post(token, method):
    receiver, sink = make()
    answer = receiver.handle(method, {"validationToken": token}, {}, b"")
    if method != "POST":
        assert answer.status == 405
    else:
        assert answer.status == 200
        assert answer.body == token.encode("utf-8", "replace")
        assert dict(answer.headers)["Content-Type"].startswith("text/plain")
    assert sink.signals == ()


@given(
    offsets=st.lists(st.integers(min_value=-10_000, max_value=10_000), max_size=12),
    margin=st.integers(min_value=0, max_value=5_000),
)
def test_due_for_renewal_is_exactly_those_within_the_margin_soonest_first(offsets, margin):
    from datetime import timedelta

    import attrs

    now = datetime(2026, 5, 4, tzinfo=UTC)
    records = [
        attrs.evolve(KNOWN, id=f"s{i}", expires=now + timedelta(minutes=m))
        for i, m in enumerate(offsets)
    ]
    due = due_for_renewal(records, now=now, margin=timedelta(minutes=margin))
    assert {s.id for s in due} == {f"s{i}" for i, m in enumerate(offsets) if m <= margin}
    assert [s.expires for s in due] == sorted(s.expires for s in due)
