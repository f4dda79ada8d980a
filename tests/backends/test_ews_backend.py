"""The EWS backend over real HTTP against ``FakeEwsServer`` (S3, S5, S6, S7, S9).

Every test talks SOAP to a server on 127.0.0.1; nothing contacts Microsoft.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from severa_ext.backends._http import DEFAULT_RETRY_AFTER, MAX_RETRY_AFTER
from severa_ext.backends.base import Backend, CreateOp, DeleteOp, UpdateOp
from severa_ext.backends.ews import (
    EwsBackend,
    EwsCursor,
    basic_auth,
    msal_token_provider,
    ntlm_auth,
)
from severa_ext.errors import (
    AuthError,
    BackendError,
    BackendUnavailable,
    ConfigError,
    MalformedResponse,
    NotFound,
    Throttled,
    ValidationError,
    VersionConflict,
)
from severa_ext.sync.activation import ProbeStatus, addresses_match
from severa_ext.sync.content import Content
from severa_ext.sync.items import CalendarItem, ShowAs, Window, content_equal
from severa_ext.testing.ews_server import FakeEwsServer

pytestmark = pytest.mark.slow

ALICE = "alice@contoso.com"
HELSINKI = ZoneInfo("Europe/Helsinki")
WINDOW = Window(datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))


def timed(title: str, day: int, hour: int = 9, **fields) -> CalendarItem:
    start = datetime(2026, 5, day, hour, tzinfo=HELSINKI)
    return CalendarItem(title, start, start + timedelta(hours=1), **fields)


@pytest.fixture
def backend(ews_server):
    with ews_server.backend(ALICE) as ews:
        yield ews


# --- the protocol surface ---------------------------------------------------------


def test_backend_satisfies_the_protocol(backend):
    assert isinstance(backend, Backend)
    assert backend.name == f"ews:{ALICE}"
    assert backend.capabilities.delta
    assert backend.capabilities.sync_key_lookup


def test_create_get_find_round_trip_over_http_s3(backend, ews_server):
    item = timed("Planning", 4, location="Room 1", categories=("Blue", "Work"), body="Agenda")
    created = backend.create(item, "key-1")
    assert created.id
    assert created.etag
    assert created.sync_key == "key-1"
    assert content_equal(created, item)
    assert backend.get(created.id) == created
    assert backend.find("key-1") == (created,)
    assert backend.find("other") == ()
    # The user sees it in their calendar, with the same content.
    (seen,) = ews_server.calendar_items(ALICE)
    assert content_equal(seen, item)


def test_create_never_sends_invitations_and_always_anchors_and_impersonates_s7(backend, ews_server):
    backend.create(timed("x", 4), "k")
    backend.changes(None, WINDOW)
    assert {r.operation for r in ews_server.requests} >= {"CreateItem", "SyncFolderItems"}
    for request in ews_server.requests:
        assert request.anchor_mailbox == ALICE
        assert request.impersonated == ALICE
        assert request.server_version == "Exchange2016"
        assert request.soap_action.endswith(f'/messages/{request.operation}"')


def test_create_is_idempotent_per_sync_key_s3(backend, ews_server):
    first = backend.create(timed("Once", 4), "same-key")
    again = backend.create(timed("Once", 4), "same-key")
    assert again.id == first.id
    assert len(ews_server.calendar_items(ALICE)) == 1


def test_find_reports_duplicates_others_made_s3(backend, ews_server):
    ews_server.create_item(ALICE, timed("Dup", 4), sync_key="k")
    ews_server.create_item(ALICE, timed("Dup", 4), sync_key="k")
    assert len(backend.find("k")) == 2


def test_update_with_the_change_key_and_a_stale_one_is_a_conflict(backend):
    created = backend.create(timed("Draft", 4, location="A"), "k")
    updated = backend.update(created.id, created.evolve(title="Final", location=""), created.etag)
    assert (updated.title, updated.location) == ("Final", "")
    assert updated.etag != created.etag
    assert updated.sync_key == "k"
    with pytest.raises(VersionConflict) as info:
        backend.update(created.id, created.evolve(title="Lost"), created.etag)
    assert info.value.code == "ErrorIrresolvableConflict"
    assert backend.get(created.id).title == "Final"


def test_update_writes_only_changed_fields_and_keeps_the_users_zone(backend, ews_server):
    mine = ews_server.create_item(ALICE, timed("Users entry", 4))  # made in Helsinki time
    same_instant = mine.evolve(
        title="Renamed", start=mine.start.astimezone(UTC), end=mine.end.astimezone(UTC)
    )
    updated = backend.update(mine.id, same_instant, mine.etag)
    assert updated.title == "Renamed"
    assert updated.start.utcoffset() == timedelta(hours=3)  # still the user's zone
    assert updated.etag != mine.etag


def test_update_with_unchanged_content_writes_nothing(backend, ews_server):
    created = backend.create(timed("Stable", 4), "k")
    before = len([r for r in ews_server.requests if r.operation == "UpdateItem"])
    again = backend.update(created.id, created, created.etag)
    assert again.etag == created.etag
    assert len([r for r in ews_server.requests if r.operation == "UpdateItem"]) == before


def test_update_compares_through_the_one_content_value(backend, ews_server):
    """Issue 11 point 4: "same content" is severa_ext.sync.content, not a local rule.

    Spelling differences the content value takes out (trailing spaces, CRLF line ends,
    sub-second digits, category order) write nothing.
    """
    created = backend.create(timed("Stable", 4, body="a\nb", categories=("x", "y")), "k")
    before = len([r for r in ews_server.requests if r.operation == "UpdateItem"])
    respelt = created.evolve(
        title="Stable  ",
        body="a\r\nb \n",
        start=created.start.replace(microsecond=400),
        categories=("y", "x"),
    )
    assert Content.of(respelt) == Content.of(created)
    again = backend.update(created.id, respelt, created.etag)
    assert again.etag == created.etag
    assert len([r for r in ews_server.requests if r.operation == "UpdateItem"]) == before


def test_a_delta_and_a_get_of_one_version_give_one_content(backend, ews_server):
    """Issue 18 for EWS: SyncFolderItems answers ids only and every item is read by one
    GetItem with one property list, so a listing cannot read a property as empty
    that ``get()`` returns."""
    cursor = backend.changes(None, WINDOW).cursor
    mine = ews_server.create_item(
        ALICE,
        timed("Full", 5, body="Agenda\n1. budget", location="Room 4", private=True,
              categories=("Project",), show_as=ShowAs.TENTATIVE),
    )  # fmt: skip
    (seen,) = backend.changes(cursor, WINDOW).items
    assert Content.of(seen) == Content.of(backend.get(mine.id)) == Content.of(mine)
    assert seen.body == "Agenda\n1. budget"


def test_update_without_if_match_overwrites(backend, ews_server):
    created = backend.create(timed("Draft", 4), "k")
    ews_server.update_item(ALICE, created.id, timed("User edit", 4))
    forced = backend.update(created.id, created.evolve(title="Ours"), None)
    assert forced.title == "Ours"


def test_update_and_delete_of_a_missing_item_are_not_found(backend):
    with pytest.raises(NotFound):
        backend.update("AAMkADnope", timed("x", 4), "ck")
    with pytest.raises(NotFound):
        backend.delete("AAMkADnope", None)
    with pytest.raises(NotFound):
        backend.delete("AAMkADnope", "ck")


def test_delete_checks_the_change_key_then_moves_to_deleted_items(backend, ews_server):
    created = backend.create(timed("Gone", 4), "k")
    ews_server.update_item(ALICE, created.id, timed("Edited by user", 4))
    with pytest.raises(VersionConflict):
        backend.delete(created.id, created.etag)
    current = backend.get(created.id)
    backend.delete(created.id, current.etag)
    assert backend.get(created.id) is None
    assert ews_server.calendar_items(ALICE) == []
    assert backend.find("k") == ()


def test_apply_batch_reports_errors_per_op(backend):
    created = backend.create(timed("A", 4), "a")
    results = backend.apply_batch(
        [
            CreateOp(timed("B", 5), "b"),
            UpdateOp(created.id, created.evolve(title="A2"), "stale"),
            DeleteOp("AAMkADmissing", None),
        ]
    )
    assert results[0].ok
    assert results[0].item.sync_key == "b"
    assert isinstance(results[1].error, VersionConflict)
    assert isinstance(results[2].error, NotFound)


def test_apply_batch_needs_one_call_per_kind_of_write(backend, ews_server):
    first = backend.create(timed("One", 4), "one")
    second = backend.create(timed("Two", 5), "two")
    before = len(ews_server.requests)
    results = backend.apply_batch(
        [
            CreateOp(timed("Three", 6), "three"),
            UpdateOp(first.id, first.evolve(title="One!"), first.etag),
            CreateOp(timed("Four", 7), "four"),
            DeleteOp(second.id, second.etag),
            CreateOp(timed("Two again", 5), "two"),  # already there (S3): not a copy
        ]
    )
    assert [r.ok for r in results] == [True] * 5
    assert results[4].item.id == second.id
    assert [r.op for r in results][1].item_id == first.id
    sent = Counter(r.operation for r in ews_server.requests[before:])
    assert (sent["CreateItem"], sent["UpdateItem"], sent["DeleteItem"]) == (1, 1, 1)
    titles = sorted(i.title for i in ews_server.calendar_items(ALICE))
    assert titles == ["Four", "One!", "Three"]


def test_a_batch_the_server_refuses_fails_each_op_with_the_reason(backend, ews_server):
    ews_server.fail_next("ErrorMailboxStoreUnavailable", operation="CreateItem")
    results = backend.apply_batch([CreateOp(timed("A", 4), "a"), CreateOp(timed("B", 5), "b")])
    assert all(isinstance(r.error, BackendUnavailable) for r in results)
    assert ews_server.calendar_items(ALICE) == []


def test_private_item_round_trips_and_user_personal_entries_read_private_s9(backend, ews_server):
    created = backend.create(timed("Doctor", 4, private=True, show_as=ShowAs.OOF), "k")
    assert created.private
    assert created.show_as is ShowAs.OOF


def test_all_day_items_keep_their_dates(backend, ews_server):
    holiday = CalendarItem("Holiday", date(2026, 5, 6), date(2026, 5, 8))
    created = backend.create(holiday, "k")
    assert (created.start, created.end) == (date(2026, 5, 6), date(2026, 5, 8))
    # An all-day entry the user made in Helsinki time.
    ews_server.create_item(ALICE, CalendarItem("Vappu", date(2026, 5, 1), date(2026, 5, 2)))
    listing = backend.changes(None, WINDOW)
    assert {(i.title, i.start) for i in listing.items} == {
        ("Holiday", date(2026, 5, 6)),
        ("Vappu", date(2026, 5, 1)),
    }


# --- changes -----------------------------------------------------------------------


def test_full_listing_then_deltas(backend, ews_server):
    kept = ews_server.create_item(ALICE, timed("Kept", 4))
    edited = ews_server.create_item(ALICE, timed("Edited", 5))
    doomed = ews_server.create_item(ALICE, timed("Doomed", 6))
    next_year = datetime(2027, 1, 1, tzinfo=UTC)
    ews_server.create_item(ALICE, timed("Outside", 4).evolve(start=next_year, end=next_year))
    full = backend.changes(None, WINDOW)
    assert full.full
    assert {i.title for i in full.items} == {"Kept", "Edited", "Doomed"}
    assert full.cursor
    nothing = backend.changes(full.cursor, WINDOW)
    assert (nothing.items, nothing.removed, nothing.full) == ((), (), False)
    ews_server.update_item(ALICE, edited.id, timed("Edited twice", 5))
    ews_server.delete_item(ALICE, doomed.id)
    added = ews_server.create_item(ALICE, timed("Added", 7))
    delta = backend.changes(nothing.cursor, WINDOW)
    assert not delta.full
    assert {i.title for i in delta.items} == {"Edited twice", "Added"}
    assert set(delta.removed) == {doomed.id}
    assert kept.id not in {i.id for i in delta.items}
    assert added.id in {i.id for i in delta.items}


def test_a_cursor_for_another_window_or_unreadable_lists_in_full(backend, ews_server):
    ews_server.create_item(ALICE, timed("Kept", 4))
    cursor = backend.changes(None, WINDOW).cursor
    assert backend.changes(cursor, WINDOW).full is False
    later = Window(WINDOW.start + timedelta(days=1), WINDOW.end + timedelta(days=1))
    moved = backend.changes(cursor, later)
    assert moved.full
    assert [i.title for i in moved.items] == ["Kept"]
    assert EwsCursor.decode(moved.cursor).start == later.start
    for junk in ("not json", "[]", '{"start": 1}', "MTo0OkFRTWtD"):
        assert backend.changes(junk, WINDOW).full


def test_cursor_round_trips_and_refuses_foreign_text():
    cursor = EwsCursor(WINDOW.start, WINDOW.end, "H4sIAAAA")
    assert EwsCursor.decode(cursor.encode()) == cursor
    with pytest.raises(ValidationError, match="not an EWS cursor"):
        EwsCursor.decode('{"start": "x"}')


def test_an_item_moved_out_of_the_window_is_reported_removed_but_still_exists(backend, ews_server):
    moving = ews_server.create_item(ALICE, timed("Moving", 4))
    cursor = backend.changes(None, WINDOW).cursor
    later = datetime(2027, 3, 1, 9, tzinfo=UTC)
    ews_server.update_item(ALICE, moving.id, moving.evolve(start=later, end=later))
    delta = backend.changes(cursor, WINDOW)
    assert delta.removed == (moving.id,)
    assert backend.get(moving.id) is not None  # not a delete (invariant 5)


def test_sync_folder_items_pages_until_the_last_item(ews_server):
    with EwsBackend(
        ews_server.url, ALICE, allow_loopback_http=True, auth=ews_server.auth(), page_size=2
    ) as small:
        cursor = small.changes(None, WINDOW).cursor
        for day in range(1, 8):
            ews_server.create_item(ALICE, timed(f"Item {day}", day))
        delta = small.changes(cursor, WINDOW)
    assert len(delta.items) == 7
    syncs = [r for r in ews_server.requests if r.operation == "SyncFolderItems"]
    assert len(syncs) >= 1 + 4  # 7 changes in pages of 2


def test_calendar_view_pages_past_max_entries(ews_server):
    for day in range(1, 8):
        ews_server.create_item(ALICE, timed(f"Item {day}", day))
    with EwsBackend(
        ews_server.url, ALICE, allow_loopback_http=True, auth=ews_server.auth(), page_size=3
    ) as small:
        listing = small.changes(None, WINDOW)
    assert sorted(i.title for i in listing.items) == [f"Item {d}" for d in range(1, 8)]


def test_calendar_view_grows_its_page_when_many_items_share_a_start(ews_server):
    for number in range(5):
        ews_server.create_item(ALICE, timed(f"Same {number}", 4))
    with EwsBackend(
        ews_server.url, ALICE, allow_loopback_http=True, auth=ews_server.auth(), page_size=2
    ) as small:
        listing = small.changes(None, WINDOW)
    assert sorted(i.title for i in listing.items) == [f"Same {n}" for n in range(5)]


def test_invalid_sync_state_resyncs_in_full_without_duplicates(backend, ews_server):
    ews_server.create_item(ALICE, timed("One", 4))
    cursor = backend.changes(None, WINDOW).cursor
    ews_server.create_item(ALICE, timed("Two", 5))
    ews_server.invalidate_sync_states(ALICE)
    listing = backend.changes(cursor, WINDOW)
    assert listing.full
    assert sorted(i.title for i in listing.items) == ["One", "Two"]
    assert len({i.id for i in listing.items}) == 2
    # The new cursor works.
    assert backend.changes(listing.cursor, WINDOW).items == ()


def test_injected_invalid_sync_state_also_resyncs(backend, ews_server):
    ews_server.create_item(ALICE, timed("One", 4))
    cursor = backend.changes(None, WINDOW).cursor
    ews_server.fail_next("ErrorInvalidSyncStateData")
    listing = backend.changes(cursor, WINDOW)
    assert listing.full
    assert [i.title for i in listing.items] == ["One"]


def test_series_expand_to_occurrences_and_exceptions(backend, ews_server):
    first = CalendarItem(
        "Standup", datetime(2026, 5, 4, 9, tzinfo=UTC), datetime(2026, 5, 4, 9, 15, tzinfo=UTC)
    )
    master = ews_server.create_series(ALICE, first, count=4)
    listing = backend.changes(None, WINDOW)
    occurrences = sorted(listing.items, key=lambda i: i.start)
    assert [i.start.day for i in occurrences] == [4, 5, 6, 7]
    assert len({i.series_id for i in occurrences}) == 1
    assert all(i.original_start == i.start for i in occurrences)
    assert master not in {i.id for i in occurrences}  # the master itself is never listed
    # The user moves one occurrence and deletes another: a full listing comes back.
    moved = occurrences[1]
    later = timedelta(hours=2)
    late = moved.evolve(title="Standup (late)", start=moved.start + later, end=moved.end + later)
    ews_server.update_item(ALICE, moved.id, late)
    ews_server.delete_item(ALICE, occurrences[2].id)
    delta = backend.changes(listing.cursor, WINDOW)
    assert delta.full
    by_id = {i.id: i for i in delta.items}
    assert occurrences[2].id not in by_id
    assert by_id[moved.id].title == "Standup (late)"
    assert by_id[moved.id].original_start == moved.start
    # The engine can write to an occurrence too: it becomes an exception.
    last = by_id[occurrences[3].id]
    written = backend.update(last.id, last.evolve(location="Room 2"), last.etag)
    assert written.location == "Room 2"
    assert written.series_id == last.series_id
    # ... and delete one: it leaves the series, the others stay.
    backend.delete(written.id, written.etag)
    assert backend.get(written.id) is None
    remaining = backend.changes(None, WINDOW).items
    assert sorted(i.id for i in remaining) == sorted([occurrences[0].id, moved.id])


def test_malformed_change_list_loses_nothing_and_retries_cleanly(backend, ews_server):
    """A hostile answer mid-sync raises and returns no cursor: the next call sees it all."""
    cursor = backend.changes(None, WINDOW).cursor
    ews_server.create_item(ALICE, timed("New", 4))
    ews_server.fail_next("malformed:truncated", operation="GetItem")
    with pytest.raises(MalformedResponse):
        backend.changes(cursor, WINDOW)
    again = backend.changes(cursor, WINDOW)
    assert [i.title for i in again.items] == ["New"]


@pytest.mark.parametrize(
    "kind",
    [
        "malformed:entity-bomb",
        "malformed:external-entity",
        "malformed:truncated",
        "malformed:wrong-namespace",
        "malformed:html-login",
    ],
)
def test_hostile_server_answers_are_clear_backend_errors(backend, ews_server, kind):
    created = backend.create(timed("Safe", 4), "k")
    ews_server.fail_next(kind, operation="GetItem")
    with pytest.raises(MalformedResponse) as info:
        backend.get(created.id)
    assert isinstance(info.value, BackendError)
    assert info.value.backend == "ews"
    assert backend.get(created.id) == created  # nothing was changed on either side


# --- throttling ---------------------------------------------------------------------


def test_server_busy_is_throttled_with_back_off_milliseconds_never_waited_for(backend, ews_server):
    """The backend never sleeps or retries; the engine owns waiting (one retry policy)."""
    ews_server.fail_next("ErrorServerBusy", back_off_ms=1500)
    started = time.monotonic()
    with pytest.raises(Throttled) as info:
        backend.changes(None, WINDOW)
    assert time.monotonic() - started < 1.0
    assert info.value.retry_after == 1.5
    assert info.value.code == "ErrorServerBusy"
    assert ews_server.pending_faults == 0  # exactly one answer was asked for
    assert backend.changes(None, WINDOW).full  # what the engine does later


def test_http_503_is_throttled_with_its_retry_after(backend, ews_server):
    ews_server.fail_next("http503", back_off_ms=2000)
    with pytest.raises(Throttled) as info:
        backend.changes(None, WINDOW)
    assert info.value.retry_after == 2.0
    assert info.value.code == "503"


def test_connection_count_exceeded_is_throttled_with_the_default_wait(backend, ews_server):
    ews_server.fail_next("ErrorExceededConnectionCount")
    with pytest.raises(Throttled) as info:
        backend.get("AAMkADx")
    assert info.value.retry_after == DEFAULT_RETRY_AFTER
    assert info.value.code == "ErrorExceededConnectionCount"


def test_a_huge_back_off_is_bounded(backend, ews_server):
    ews_server.fail_next("ErrorServerBusy", back_off_ms=10**12)
    with pytest.raises(Throttled) as info:
        backend.get("AAMkADx")
    assert info.value.retry_after == MAX_RETRY_AFTER


def test_an_html_error_page_with_http_500_is_backend_unavailable(backend, ews_server):
    ews_server.fail_next("http500-html")
    with pytest.raises(BackendUnavailable, match="HTTP 500") as info:
        backend.get("AAMkADx")
    assert info.value.code == "500"


def test_transient_store_error_is_backend_unavailable(backend, ews_server):
    ews_server.fail_next("ErrorMailboxStoreUnavailable")
    with pytest.raises(BackendUnavailable) as info:
        backend.changes(None, WINDOW)
    assert info.value.code == "ErrorMailboxStoreUnavailable"


# --- set-up errors (S5, S7) ------------------------------------------------------------


def test_wrong_password_is_an_auth_error(ews_server):
    ews = EwsBackend(ews_server.url, ALICE, allow_loopback_http=True, auth=ews_server.auth("wrong"))
    with ews, pytest.raises(AuthError, match="HTTP 401") as info:
        ews.changes(None, WINDOW)
    assert "wrong" not in str(info.value)  # the password is never echoed


def test_missing_impersonation_right_names_the_role_s7(ews_server):
    ews_server.set_impersonation(ALICE, allowed=False)
    ews = EwsBackend(ews_server.url, ALICE, allow_loopback_http=True, auth=ews_server.auth())
    with ews, pytest.raises(AuthError, match="ApplicationImpersonation") as info:
        ews.changes(None, WINDOW)
    assert info.value.code == "ErrorImpersonateUserDenied"


def test_unknown_mailbox_gives_the_proxy_address_hint_s5(ews_server):
    ews = EwsBackend(
        ews_server.url, "bob@contoso.com", allow_loopback_http=True, auth=ews_server.auth()
    )
    with ews, pytest.raises(NotFound, match="primary SMTP address") as info:
        ews.changes(None, WINDOW)
    assert "migrated" in str(info.value)
    assert info.value.code == "ErrorNonExistentMailbox"


def test_alias_address_resolves_to_the_mailbox_s5(ews_server):
    ews_server.create_item(ALICE, timed("Via alias", 4))
    with EwsBackend(
        ews_server.url, "alice@contoso.fi", allow_loopback_http=True, auth=ews_server.auth()
    ) as ews:
        assert [i.title for i in ews.changes(None, WINDOW).items] == ["Via alias"]


def test_ews_disabled_on_the_server_is_said_clearly(backend, ews_server):
    ews_server.set_ews_disabled()
    with pytest.raises(BackendUnavailable, match="EWS looks disabled") as info:
        backend.changes(None, WINDOW)
    assert info.value.code == "EwsDisabled"


def test_unreachable_server_is_backend_unavailable():
    with FakeEwsServer() as server:
        url = server.url
    ews = EwsBackend(url, ALICE, auth=basic_auth("u", "p"), timeout=2, allow_loopback_http=True)
    with ews, pytest.raises(BackendUnavailable, match="cannot reach"):
        ews.get("x")


@pytest.mark.parametrize(
    "url",
    [
        "https://outlook.office365.com/EWS/Exchange.asmx",
        "https://OUTLOOK.OFFICE.COM/ews/exchange.asmx",
    ],
)
def test_exchange_online_is_refused_with_a_pointer_to_graph(url):
    with pytest.raises(ConfigError, match=r"severa_ext\.backends\.graph"):
        EwsBackend(url, ALICE, auth=basic_auth("u", "p"))


@pytest.mark.parametrize(
    ("url", "mailbox", "kwargs", "words"),
    [
        ("ftp://mail.contoso.com/EWS", ALICE, {}, "http"),
        ("https://mail.contoso.com/EWS/Exchange.asmx", "alice", {}, "SMTP address"),
        ("https://mail.contoso.com/EWS/Exchange.asmx", "a b@contoso.com", {}, "SMTP address"),
        ("https://svc:pw@mail.contoso.com/EWS/Exchange.asmx", ALICE, {}, "credentials"),
        ("https://mail.contoso.com/EWS/Exchange.asmx", ALICE, {"page_size": 513}, "512"),
        (
            "https://mail.contoso.com/EWS/Exchange.asmx",
            ALICE,
            {"auth": basic_auth("u", "p"), "token_provider": lambda: "t"},
            "not both",
        ),
    ],
)
def test_bad_configuration_is_a_config_error(url, mailbox, kwargs, words):
    with pytest.raises(ConfigError, match=words):
        EwsBackend(url, mailbox, **kwargs)


def test_repr_shows_no_secret(ews_server):
    ews = EwsBackend(
        ews_server.url, ALICE, allow_loopback_http=True, auth=basic_auth("svc", "Sup3r-Secret")
    )
    assert "Sup3r-Secret" not in repr(ews)
    assert ALICE in repr(ews)
    ews.close()


def test_ntlm_handshake_over_http_with_requests_ntlm():
    with FakeEwsServer(username="CONTOSO\\svc-sync", password="pw") as server:
        server.add_mailbox(ALICE)
        with EwsBackend(
            server.url, ALICE, allow_loopback_http=True, auth=ntlm_auth("CONTOSO\\svc-sync", "pw")
        ) as ews:
            assert ews.changes(None, WINDOW).full
        assert {r.auth_scheme for r in server.requests} == {"ntlm"}
        stranger = EwsBackend(
            server.url, ALICE, allow_loopback_http=True, auth=ntlm_auth("CONTOSO\\mallory", "pw")
        )
        with stranger, pytest.raises(AuthError, match="HTTP 401"):
            stranger.get("x")


# --- OAuth -----------------------------------------------------------------------------


class FakeMsalApp:
    """Stands in for msal.ConfidentialClientApplication (its acquire_token_for_client)."""

    def __init__(self, result):
        self.result = result
        self.scopes = []

    def acquire_token_for_client(self, scopes):
        self.scopes.append(scopes)
        return self.result


def test_bearer_token_from_msal_reaches_the_server_s7():
    app = FakeMsalApp({"access_token": "tok-123", "token_type": "Bearer"})
    with FakeEwsServer(tokens={"tok-123"}) as server:
        server.add_mailbox(ALICE)
        provider = msal_token_provider(app, ["https://mail.contoso.com/.default"])
        with EwsBackend(
            server.url, ALICE, allow_loopback_http=True, token_provider=provider
        ) as ews:
            assert ews.changes(None, WINDOW).full
        assert {r.auth_scheme for r in server.requests} == {"bearer"}
    assert app.scopes[0] == ["https://mail.contoso.com/.default"]


def test_msal_failure_is_an_auth_error_with_its_description():
    app = FakeMsalApp({"error": "invalid_client", "error_description": "AADSTS7000215 bad secret"})
    provider = msal_token_provider(app, ["s/.default"])
    with pytest.raises(AuthError, match="AADSTS7000215") as info:
        provider.token()
    assert info.value.code == "invalid_client"


class FakeCache:
    def __init__(self):
        self.entries = ["at-1"]
        self.removed = []

    def find(self, credential_type):
        assert credential_type == "AccessToken"
        return list(self.entries)

    def remove_at(self, entry):
        self.removed.append(entry)
        self.entries.remove(entry)


def test_msal_provider_drops_a_refused_token_from_the_cache():
    app = FakeMsalApp({"access_token": "t"})
    app.token_cache = FakeCache()
    provider = msal_token_provider(app, ["s/.default"])
    assert provider.token() == "t"
    assert app.token_cache.removed == []
    provider.invalidate()
    assert provider.token() == "t"
    assert app.token_cache.removed == ["at-1"]
    assert "s/.default" in repr(provider)


def test_session_is_injected_and_not_closed_by_the_backend(ews_server):
    session = requests.Session()
    with EwsBackend(
        ews_server.url, ALICE, allow_loopback_http=True, auth=ews_server.auth(), session=session
    ) as ews:
        ews.changes(None, WINDOW)
    assert session.adapters  # still usable
    assert session.get(ews_server.url, timeout=5).status_code == 405
    session.close()


class RotatingTokens:
    """A TokenProvider whose first token the server refuses."""

    def __init__(self, *tokens):
        self.tokens = list(tokens)
        self.invalidated = 0

    def token(self):
        return self.tokens[0]

    def invalidate(self):
        self.invalidated += 1
        if len(self.tokens) > 1:
            self.tokens.pop(0)


def test_refused_token_is_invalidated_and_retried_once():
    provider = RotatingTokens("expired", "fresh")
    with FakeEwsServer(tokens={"fresh"}) as server:
        server.add_mailbox(ALICE)
        with EwsBackend(
            server.url, ALICE, allow_loopback_http=True, token_provider=provider
        ) as ews:
            assert ews.changes(None, WINDOW).full
    assert provider.invalidated == 1


def test_a_token_refused_twice_is_an_auth_error():
    provider = RotatingTokens("expired")
    with FakeEwsServer(tokens={"fresh"}) as server:
        server.add_mailbox(ALICE)
        ews = EwsBackend(server.url, ALICE, allow_loopback_http=True, token_provider=provider)
        with ews, pytest.raises(AuthError, match="401"):
            ews.get("x")
    assert provider.invalidated == 1


# --- probing for activation (S5, S10) ------------------------------------------------


def test_probe_finds_the_mailbox_and_its_proxy_addresses_s5(backend):
    probe = backend.probe()
    assert probe.status is ProbeStatus.OK
    assert {"alice@contoso.com", "alice@contoso.fi"} <= set(probe.addresses)


def test_probe_through_an_alias_reports_the_primary_address_s5(ews_server):
    with EwsBackend(
        ews_server.url, "alice@contoso.fi", allow_loopback_http=True, auth=ews_server.auth()
    ) as ews:
        probe = ews.probe()
    assert probe.status is ProbeStatus.OK
    assert "alice@contoso.com" in probe.addresses


def test_probe_feeds_activation_where_an_alias_matches_the_users_email_s10(backend):
    probe = backend.probe()
    assert addresses_match("alice@contoso.fi", "alice@contoso.com", probe.addresses)


@pytest.mark.parametrize(
    ("setup", "status"),
    [
        (lambda s: None, ProbeStatus.UNKNOWN_USER),
        (lambda s: s.set_impersonation(ALICE, allowed=False), ProbeStatus.ACCESS_DENIED),
        (lambda s: s.set_ews_disabled(), ProbeStatus.EWS_DISABLED),
    ],
    ids=["unknown-user", "no-impersonation-right", "ews-disabled"],
)
def test_probe_reports_what_is_wrong_without_raising(ews_server, setup, status):
    setup(ews_server)
    target = "bob@contoso.com" if status is ProbeStatus.UNKNOWN_USER else ALICE
    with EwsBackend(ews_server.url, ALICE, allow_loopback_http=True, auth=ews_server.auth()) as ews:
        probe = ews.probe(target)
    assert probe.status is status
    assert probe.detail


def test_probe_with_a_wrong_password_is_bad_credentials(ews_server):
    with EwsBackend(
        ews_server.url, ALICE, allow_loopback_http=True, auth=ews_server.auth("nope")
    ) as ews:
        probe = ews.probe()
    assert probe.status is ProbeStatus.BAD_CREDENTIALS
    assert probe.code == "401"
