"""GraphBackend against the fake Graph server over real HTTP (S3, S4, S7, S9).

Throttling, stale etags, lost delta tokens, batches with inner failures in shuffled
order, expired tokens, dropped connections and slow answers; the msal flows.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import msal
import pytest

from severa_ext.backends.base import CreateOp, DeleteOp, UpdateOp
from severa_ext.backends.graph import DelegatedTokenProvider, GraphBackend, StaticTokenProvider
from severa_ext.errors import (
    AuthError,
    BackendUnavailable,
    NotFound,
    Throttled,
    VersionConflict,
)
from severa_ext.sync.activation import ProbeStatus
from severa_ext.sync.items import (
    CalendarItem,
    ShowAs,
    Window,
    content_equal,
    fingerprint,
    new_sync_key,
)

pytestmark = pytest.mark.slow

MAILBOX = "alice@contoso.com"
NOW = datetime(2026, 5, 4, 9, tzinfo=UTC)
WINDOW = Window(NOW - timedelta(days=30), NOW + timedelta(days=90))
HELSINKI = ZoneInfo("Europe/Helsinki")


def timed(title: str, day: int = 1, hour: int = 9, **fields) -> CalendarItem:
    start = (NOW + timedelta(days=day)).replace(hour=hour).astimezone(HELSINKI)
    return CalendarItem(title, start, start + timedelta(hours=1), **fields)


@pytest.fixture
def backend(graph_server):
    backend = graph_server.backend(MAILBOX, page_size=3, timeout=5)
    yield backend
    backend.close()


# -- writes and lookups ------------------------------------------------------------


def test_create_is_idempotent_per_transaction_id_s3(backend, graph_server):
    """A retried create with the same sync key returns the first event, not a copy."""
    first = backend.create(timed("Plan"), "key-1")
    again = backend.create(timed("Plan"), "key-1")
    assert again.id == first.id
    assert len(graph_server.events(MAILBOX)) == 1
    assert [i.id for i in backend.find("key-1")] == [first.id]
    assert backend.find("key-2") == ()


def test_find_reports_every_copy_of_a_sync_key_s3(backend, graph_server):
    """Another client that copied the extended property makes a duplicate find sees."""
    created = backend.create(timed("Plan"), "key-1")
    raw = next(e for e in graph_server.raw_events(MAILBOX) if e["id"] == created.id)
    copy = {k: raw[k] for k in ("subject", "start", "end", "singleValueExtendedProperties")}
    graph_server.user_create_raw(MAILBOX, copy)
    assert len(backend.find("key-1")) == 2


def test_copies_other_tools_made_show_their_sync_key_in_listings_s3(backend, graph_server):
    """Delta rounds carry no extended properties: the backend reads them for events
    without a transactionId, so a copy of ours is recognised as a duplicate."""
    created = backend.create(timed("Ours"), "key-1")
    first = backend.changes(None, WINDOW)
    copy_id = graph_server.user_create(MAILBOX, created.evolve(id=None, etag=None))
    graph_server.user_create(MAILBOX, timed("Theirs"))
    delta = backend.changes(first.cursor, WINDOW)
    keys = {i.id: i.sync_key for i in delta.items}
    assert keys[copy_id] == "key-1"
    assert sorted(keys.values(), key=str) == [None, "key-1"]
    plain = graph_server.backend(MAILBOX, resolve_sync_keys=False)
    assert {i.id: i.sync_key for i in plain.changes(None, WINDOW).items}[copy_id] is None


def test_update_sends_if_match_and_a_stale_etag_is_a_version_conflict(backend, graph_server):
    created = backend.create(timed("Plan"), "k")
    assert created.id is not None
    updated = backend.update(created.id, timed("Renamed"), created.etag)
    assert updated.title == "Renamed"
    assert updated.etag != created.etag
    with pytest.raises(VersionConflict) as info:
        backend.update(created.id, timed("Lost update"), created.etag)
    assert info.value.code == "ErrorIrresolvableConflict"
    with pytest.raises(VersionConflict):
        backend.delete(created.id, created.etag)
    assert backend.get(created.id).title == "Renamed"
    backend.delete(created.id, updated.etag)
    assert backend.get(created.id) is None
    with pytest.raises(NotFound):
        backend.delete(created.id, None)


def test_user_edits_in_outlook_html_read_back_as_text(backend, graph_server):
    item = timed("From Outlook", body="Line one\nLine two")
    event_id = graph_server.user_create(MAILBOX, item, html=True)
    got = backend.get(event_id)
    assert got.body == "Line one\nLine two"
    assert got.sync_key is None


# -- delta rounds ------------------------------------------------------------------------


def test_a_delta_entry_without_body_reads_the_body_not_an_empty_one(backend, graph_server):
    """Issue 18: one version of an item maps to one content, whatever delta left out."""
    cursor = backend.changes(None, WINDOW).cursor
    item = timed("Notes kept", body="Agenda:\n1. budget", location="Room 4")
    event_id = graph_server.user_create(MAILBOX, item)
    graph_server.omit_in_delta("body")
    graph_server.reset_stats()
    (seen,) = backend.changes(cursor, WINDOW).items
    assert seen.body == "Agenda:\n1. budget"
    assert content_equal(seen, backend.get(event_id))
    assert graph_server.counts()["POST $batch"] == 1  # one lookup for what was left out


@pytest.mark.parametrize(
    "omitted",
    [
        ("subject",),
        ("location", "categories"),
        ("sensitivity", "showAs"),
        ("body", "subject", "location", "isAllDay", "sensitivity", "showAs", "categories"),
    ],
)
def test_every_property_graph_may_omit_is_fetched_before_mapping(graph_server, omitted):
    backend = graph_server.backend(MAILBOX, resolve_sync_keys=False)
    item = timed(
        "Private review", body="text", location="Room 4", private=True,
        categories=("Project",), show_as=ShowAs.TENTATIVE,
    )  # fmt: skip
    event_id = graph_server.user_create(MAILBOX, item)
    graph_server.omit_in_delta(*omitted)
    (seen,) = backend.changes(None, WINDOW).items
    assert content_equal(seen, backend.get(event_id))
    assert content_equal(seen, item)


def test_complete_delta_entries_need_no_lookup(graph_server):
    backend = graph_server.backend(MAILBOX, resolve_sync_keys=False)
    graph_server.user_create(MAILBOX, timed("Whole"))
    graph_server.reset_stats()
    backend.changes(None, WINDOW)
    assert "POST $batch" not in graph_server.counts()


def test_an_event_gone_before_its_lookup_is_left_to_the_next_round(backend, graph_server):
    cursor = backend.changes(None, WINDOW).cursor
    event_id = graph_server.user_create(MAILBOX, timed("Short-lived"))
    graph_server.omit_in_delta("body")
    graph_server.fail(1, status=404, kinds=["GET event"], code="ErrorItemNotFound")
    delta = backend.changes(cursor, WINDOW)
    assert delta.items == ()
    graph_server.user_delete(MAILBOX, event_id)
    assert backend.changes(delta.cursor, WINDOW).removed == (event_id,)


def test_a_throttled_lookup_fails_the_round_without_advancing(backend, graph_server):
    cursor = backend.changes(None, WINDOW).cursor
    graph_server.user_create(MAILBOX, timed("Later"))
    graph_server.omit_in_delta("body")
    graph_server.throttle_in_batch(1, retry_after=3)
    with pytest.raises(Throttled) as info:
        backend.changes(cursor, WINDOW)
    assert info.value.retry_after == 3.0
    assert [i.title for i in backend.changes(cursor, WINDOW).items] == ["Later"]


def test_full_round_pages_to_the_delta_link_then_deltas(backend, graph_server):
    ids = [graph_server.user_create(MAILBOX, timed(f"E{i}", day=i)) for i in range(7)]
    graph_server.user_create(MAILBOX, timed("Outside", day=200))
    graph_server.reset_stats()
    full = backend.changes(None, WINDOW)
    assert full.full
    assert sorted(i.id for i in full.items) == sorted(ids)
    # 7 items, 3 per page; one $batch reads the sync-key property of the 7 user events.
    assert graph_server.counts() == {"GET delta": 3, "POST $batch": 1}

    quiet = backend.changes(full.cursor, WINDOW)
    assert (quiet.full, quiet.items, quiet.removed) == (False, (), ())

    graph_server.user_update(MAILBOX, ids[0], timed("Changed", day=0))
    graph_server.user_delete(MAILBOX, ids[1])
    delta = backend.changes(quiet.cursor, WINDOW)
    assert [i.title for i in delta.items] == ["Changed"]
    assert delta.removed == (ids[1],)


def test_replayed_and_repeated_entries_fold_into_one(backend, graph_server):
    """An entry that comes twice in one round (replay, several edits) is listed once."""
    ids = [graph_server.user_create(MAILBOX, timed(f"E{i}", day=i)) for i in range(8)]
    graph_server.replay_delta_entries()
    full = backend.changes(None, WINDOW)
    assert sorted(i.id for i in full.items) == sorted(ids)
    for title in ("v2", "v3"):
        graph_server.user_update(MAILBOX, ids[2], timed(title, day=2))
    delta = backend.changes(full.cursor, WINDOW)
    assert [(i.id, i.title) for i in delta.items] == [(ids[2], "v3")]


def test_an_item_moved_out_of_the_window_is_removed_but_still_exists(backend, graph_server):
    """Out-of-window ``@removed`` entries are not deletes: ``get`` still finds them."""
    event_id = graph_server.user_create(MAILBOX, timed("Moves", day=3))
    full = backend.changes(None, WINDOW)
    graph_server.user_update(MAILBOX, event_id, timed("Moves", day=300))
    delta = backend.changes(full.cursor, WINDOW)
    assert delta.removed == (event_id,)
    assert backend.get(event_id) is not None


def test_created_then_deleted_within_a_round_is_only_removed(backend, graph_server):
    full = backend.changes(None, WINDOW)
    event_id = graph_server.user_create(MAILBOX, timed("Short-lived"))
    graph_server.user_delete(MAILBOX, event_id)
    delta = backend.changes(full.cursor, WINDOW)
    assert delta.items == ()
    assert delta.removed == (event_id,)


@pytest.mark.parametrize(("status", "code"), [(410, "syncStateNotFound"), (400, "resyncRequired")])
def test_lost_delta_token_gives_a_full_resync_without_duplicates_s3(
    backend, graph_server, status, code
):
    """A 410 / resyncRequired answer starts a full round; linking by sync key and
    fingerprint then matches every item again, so nothing is created twice."""
    created = [backend.create(timed(f"E{i}", day=i), new_sync_key()) for i in range(4)]
    full = backend.changes(None, WINDOW)
    graph_server.lose_delta_tokens(status=status, code=code)
    resync = backend.changes(full.cursor, WINDOW)
    assert resync.full
    assert resync.removed == ()
    by_key = {i.sync_key: i for i in resync.items}
    assert set(by_key) == {c.sync_key for c in created}
    assert {fingerprint(i) for i in resync.items} == {fingerprint(c) for c in created}
    assert len(graph_server.events(MAILBOX)) == 4
    # The new cursor works as a normal delta cursor again.
    assert backend.changes(resync.cursor, WINDOW).items == ()


def test_a_moved_window_starts_a_full_round(backend, graph_server):
    graph_server.user_create(MAILBOX, timed("E"))
    full = backend.changes(None, WINDOW)
    moved = Window(WINDOW.start + timedelta(days=1), WINDOW.end + timedelta(days=1))
    again = backend.changes(full.cursor, moved)
    assert again.full
    assert len(again.items) == 1
    assert backend.changes("garbage", WINDOW).full


def test_series_occurrences_keep_master_id_and_original_start(backend, graph_server):
    start = datetime(2026, 5, 5, 9, tzinfo=UTC)
    master = graph_server.user_add_series(
        MAILBOX, CalendarItem("Weekly", start, start + timedelta(hours=1)), count=3
    )
    items = backend.changes(None, WINDOW).items
    assert {i.series_id for i in items} == {master}
    assert sorted(i.original_start for i in items) == [start + timedelta(weeks=n) for n in range(3)]
    # Editing one occurrence turns it into an exception with the same identity.
    occurrence = min(items, key=lambda i: i.original_start)
    edited = backend.update(occurrence.id, occurrence.evolve(title="Moved"), occurrence.etag)
    assert (edited.series_id, edited.original_start) == (master, start)


# -- batches ----------------------------------------------------------------------------


def test_batch_of_45_uses_three_calls_and_matches_shuffled_answers(backend, graph_server):
    graph_server.reset_stats()
    ops = [CreateOp(timed(f"B{i}", day=i % 20), f"key-{i}") for i in range(45)]
    results = backend.apply_batch(ops)
    assert [r.op for r in results] == ops
    assert all(r.ok for r in results)
    assert [r.item.sync_key for r in results] == [f"key-{i}" for i in range(45)]
    assert [r.item.title for r in results] == [f"B{i}" for i in range(45)]
    assert graph_server.counts() == {"POST $batch": 3}
    assert graph_server.inner_request_count == 45


def test_batch_inner_failures_do_not_fail_the_batch(backend):
    """The outer 200 hides inner 404/412 answers: each op gets its own error."""
    existing = backend.create(timed("Existing"), "k0")
    updated = backend.update(existing.id, timed("Changed"), existing.etag)
    ops = [
        CreateOp(timed("New"), "k1"),
        UpdateOp("no-such-id", timed("X"), None),
        UpdateOp(existing.id, timed("Stale"), existing.etag),
        DeleteOp(existing.id, updated.etag),
    ]
    results = backend.apply_batch(ops)
    assert results[0].ok
    assert isinstance(results[1].error, NotFound)
    assert isinstance(results[2].error, VersionConflict)
    assert results[3].ok
    assert backend.get(existing.id) is None


def test_throttled_inner_requests_are_reported_per_op_never_waited_for(backend, graph_server):
    """The backend never sleeps or retries: the engine owns waiting (one retry policy)."""
    graph_server.throttle_in_batch(3, retry_after=2)
    ops = [CreateOp(timed(f"T{i}"), f"t-{i}") for i in range(5)]
    started = time.monotonic()
    results = backend.apply_batch(ops)
    assert time.monotonic() - started < 1.5
    throttled = [r for r in results if isinstance(r.error, Throttled)]
    assert len(throttled) == 3
    assert all(r.error.retry_after == 2.0 for r in throttled)
    assert len(graph_server.events(MAILBOX)) == 2
    assert graph_server.counts()["POST $batch"] == 1
    again = backend.apply_batch([r.op for r in throttled])  # what the engine does later
    assert all(r.ok for r in again)
    assert len(graph_server.events(MAILBOX)) == 5


def test_a_failed_batch_call_marks_its_ops_and_keeps_earlier_results(graph_server):
    backend = graph_server.backend(MAILBOX, batch_size=2)
    graph_server.throttle(1, retry_after=5, path="$batch")
    ops = [CreateOp(timed(f"C{i}"), f"c-{i}") for i in range(4)]
    results = backend.apply_batch(ops)
    assert [isinstance(r.error, Throttled) for r in results] == [True, True, False, False]


# -- transport failures -----------------------------------------------------------------


def test_429_and_503_become_throttled_with_retry_after(backend, graph_server):
    graph_server.throttle(1, retry_after=3)
    with pytest.raises(Throttled) as info:
        backend.changes(None, WINDOW)
    assert info.value.retry_after == 3.0
    assert info.value.code == "TooManyRequests"
    graph_server.throttle(1, status=503, retry_after=4)
    with pytest.raises(Throttled) as info:
        backend.get("x")
    assert info.value.retry_after == 4.0
    assert backend.changes(None, WINDOW).full  # the next call goes through


def test_expired_token_is_reacquired_through_msal(backend, graph_server):
    backend.changes(None, WINDOW)
    issued = graph_server.tokens_issued
    graph_server.expire_tokens()
    backend.create(timed("After expiry"), "k")
    assert graph_server.tokens_issued == issued + 1


def test_dropped_connection_and_timeout_are_backend_unavailable(graph_server):
    backend = graph_server.backend(MAILBOX, timeout=0.3)
    backend.changes(None, WINDOW)  # warm up: token and discovery
    graph_server.drop_connections(1, path="/delta")
    with pytest.raises(BackendUnavailable):
        backend.changes(None, WINDOW)
    graph_server.slow(1.0, path="/events")
    with pytest.raises(BackendUnavailable) as info:
        backend.get("anything")
    assert "timed out" in str(info.value)


def test_at_most_four_requests_in_flight_per_mailbox(graph_server):
    """Two backends of one mailbox share the limit (Exchange Online's 4 per mailbox)."""
    backend = graph_server.backend(MAILBOX)
    other = graph_server.backend(MAILBOX)
    created = backend.create(timed("E"), "k")
    other.get(created.id)  # warm up the second backend's token
    graph_server.slow(0.15, count=12)
    threads = [
        threading.Thread(target=(backend, other)[n % 2].get, args=(created.id,)) for n in range(12)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 2 <= graph_server.max_in_flight <= 4


def test_mailbox_errors_carry_graph_codes_s4(graph_server):
    graph_server.add_mailbox("onprem@contoso.com", has_mailbox=False)
    graph_server.add_mailbox("denied@contoso.com", access=False)
    with pytest.raises(NotFound) as info:
        graph_server.backend("onprem@contoso.com").changes(None, WINDOW)
    assert info.value.code == "MailboxNotEnabledForRESTAPI"
    with pytest.raises(AuthError) as denied:
        graph_server.backend("denied@contoso.com").create(timed("x"), "k")
    assert denied.value.code == "ErrorAccessDenied"
    assert "access policy" in str(denied.value)


# -- auth --------------------------------------------------------------------------------


def test_wrong_client_secret_is_an_auth_error_without_the_secret(graph_server):
    from severa_ext.backends.graph import ClientCredentialsTokenProvider

    tokens = ClientCredentialsTokenProvider(
        graph_server.tenant_id,
        graph_server.client_id,
        client_secret="wrong-secret-value",
        authority_host=graph_server.authority_host,
        http_client=graph_server.session(),
        validate_authority=False,
    )
    backend = graph_server.backend(MAILBOX, tokens=tokens)
    with pytest.raises(AuthError) as info:
        backend.changes(None, WINDOW)
    assert info.value.code == "invalid_client"
    assert "wrong-secret-value" not in str(info.value)


def test_token_cache_is_shared_between_backends(graph_server):
    session = graph_server.session()
    tokens = graph_server.token_provider(session)
    first = graph_server.backend(MAILBOX, tokens=tokens, session=session)
    second = graph_server.backend(MAILBOX, tokens=tokens, session=session)
    first.changes(None, WINDOW)
    second.changes(None, WINDOW)
    assert graph_server.tokens_issued == 1


def test_delegated_provider_redeems_a_refresh_token_then_refreshes_silently(graph_server):
    refresh = graph_server.issue_refresh_token(MAILBOX)
    cache = msal.TokenCache()
    tokens = DelegatedTokenProvider(
        graph_server.client_id,
        username=MAILBOX,
        authority=graph_server.authority,
        refresh_token=refresh,
        token_cache=cache,
        http_client=graph_server.session(),
        validate_authority=False,
    )
    backend = graph_server.backend(MAILBOX, tokens=tokens)
    backend.create(timed("Mine"), "k")
    graph_server.expire_tokens()
    assert backend.get(backend.find("k")[0].id).title == "Mine"
    assert graph_server.tokens_issued == 2
    assert refresh not in repr(tokens)


def test_delegated_provider_without_account_asks_for_sign_in(graph_server):
    tokens = DelegatedTokenProvider(
        graph_server.client_id,
        username=MAILBOX,
        authority=graph_server.authority,
        http_client=graph_server.session(),
        validate_authority=False,
    )
    with pytest.raises(AuthError) as info:
        tokens.token()
    assert info.value.code == "interaction_required"


def test_host_brought_token_with_refresh_callback(graph_server):
    app_tokens = graph_server.token_provider()
    calls = []

    def refresh():
        calls.append(1)
        app_tokens.invalidate()
        return app_tokens.token()

    backend = GraphBackend(
        MAILBOX,
        StaticTokenProvider("not-a-valid-token", refresh=refresh),
        session=graph_server.session(),
        base_url=graph_server.base_url,
    )
    assert backend.changes(None, WINDOW).full
    assert calls == [1]


# -- probe -------------------------------------------------------------------------------


def test_probe_explains_each_mailbox_problem_s4_s5(backend, graph_server):
    graph_server.add_mailbox("onprem@contoso.com", has_mailbox=False)
    graph_server.add_mailbox("denied@contoso.com", access=False)
    graph_server.add_mailbox("booking@contoso.com", bookings=True)
    graph_server.add_mailbox("room@contoso.com", purpose="room")
    graph_server.add_mailbox("projector@contoso.com", purpose="equipment")
    graph_server.add_mailbox("team@contoso.com", purpose="shared")
    ok = backend.probe()
    assert ok.status is ProbeStatus.OK
    assert "smtp:alice@contoso.fi" in ok.addresses
    assert backend.probe("ALICE@contoso.fi").status is ProbeStatus.OK
    assert backend.probe("onprem@contoso.com").status is ProbeStatus.NO_MAILBOX
    assert backend.probe("onprem@contoso.com").code == "MailboxNotEnabledForRESTAPI"
    assert backend.probe("denied@contoso.com").status is ProbeStatus.ACCESS_DENIED
    assert backend.probe("booking@contoso.com").status is ProbeStatus.BOOKINGS
    assert backend.probe("room@contoso.com").status is ProbeStatus.ROOM_MAILBOX
    assert backend.probe("projector@contoso.com").status is ProbeStatus.ROOM_MAILBOX
    assert backend.probe("team@contoso.com").status is ProbeStatus.SHARED_MAILBOX
    assert backend.probe("nobody@contoso.com").status is ProbeStatus.UNKNOWN_USER
    graph_server.fail(3, status=500)
    assert backend.probe().status is ProbeStatus.UNAVAILABLE


def test_round_trip_keeps_every_field_through_the_server(backend):
    item = timed(
        "Full",
        location="Room 4",
        body="a  b\n\n\tc",
        private=True,
        categories=("Red", "Blue"),
    )
    created = backend.create(item, "k")
    assert content_equal(item, created)
    assert content_equal(item, backend.get(created.id))


def test_certificate_credentials_sign_a_client_assertion(graph_server):
    """App-only auth with a certificate: msal signs a JWT assertion with the key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from severa_ext.backends.graph import ClientCredentialsTokenProvider

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    tokens = ClientCredentialsTokenProvider(
        graph_server.tenant_id,
        graph_server.client_id,
        certificate={"private_key": pem, "thumbprint": "A1" * 20},
        authority_host=graph_server.authority_host,
        http_client=graph_server.session(),
        validate_authority=False,
    )
    backend = graph_server.backend(MAILBOX, tokens=tokens)
    assert backend.changes(None, WINDOW).full
    assert "PRIVATE KEY" not in repr(tokens)


def test_times_are_read_in_utc_whatever_zone_the_event_has(backend, graph_server):
    """Every request prefers outlook.timezone="UTC": Graph resolves the event's zone."""
    event_id = graph_server.user_create(MAILBOX, timed("Helsinki meeting"))
    item = backend.get(event_id)
    assert item.start.utcoffset().total_seconds() == 0
    assert item.start == timed("Helsinki meeting").start
    raw = next(e for e in graph_server.raw_events(MAILBOX) if e["id"] == event_id)
    assert raw["start"]["timeZone"] == "FLE Standard Time"  # stored as written


@pytest.mark.parametrize(
    ("zone", "wall", "fold"),
    [
        ("Europe/Helsinki", datetime(2026, 10, 25, 3, 30), 1),  # ambiguous (autumn)
        ("Europe/Helsinki", datetime(2026, 3, 29, 3, 30), 0),  # nonexistent (spring)
        ("America/New_York", datetime(2026, 11, 1, 1, 30), 0),
        ("America/New_York", datetime(2026, 3, 8, 2, 30), 1),
    ],
)
def test_dst_edge_times_survive_a_real_http_round_trip_x3(backend, zone, wall, fold):
    """X3: the instant of an ambiguous/nonexistent local time survives create + find."""
    start = wall.replace(tzinfo=ZoneInfo(zone), fold=fold)
    end = (start.astimezone(UTC) + timedelta(hours=1)).astimezone(ZoneInfo(zone))
    backend.create(CalendarItem("Edge", start, end), "dst-key")
    (found,) = backend.find("dst-key")
    assert found.start == start.astimezone(UTC)
    assert found.end == end.astimezone(UTC)


def test_answers_read_whole_give_their_connection_back_to_the_pool(graph_server):
    """Bounded streaming reads must not cost a new TCP connection per call."""
    with graph_server.backend(MAILBOX) as backend:
        backend.probe()  # the token endpoint and the first Graph calls
        opened = graph_server.connection_count
        for _ in range(10):
            backend.probe()
    assert graph_server.connection_count == opened
