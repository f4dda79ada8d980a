"""``SeveraBackend`` against ``FakeSeveraServer`` over real HTTP, scenario by scenario:
the token flow, errors at the edge, paging bounds, deltas, the delete check, etag
checks before writes, the mapping (S8, S9, time zones, all-day, recurrence) and the
activation look-ups (S1, S10). Every exchange is validated against the published
API description."""

from __future__ import annotations

import logging
import time
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from severa_ext.backends._http import HttpLimits
from severa_ext.backends.severa import SeveraCursor, api_details
from severa_ext.clock import FixedClock
from severa_ext.errors import (
    ActivationError,
    AuthError,
    BackendUnavailable,
    BadItem,
    MalformedResponse,
    NotFound,
    Throttled,
    VersionConflict,
)
from severa_ext.sync.items import CalendarItem, Window
from severa_ext.sync.policy import SyncPolicy
from severa_ext.testing._severa_world import START, World, checked_world
from severa_ext.testing._severa_world import world as plain_world

pytestmark = pytest.mark.slow

HELSINKI = ZoneInfo("Europe/Helsinki")
WINDOW = Window(START - timedelta(days=30), START + timedelta(days=90))


@pytest.fixture
def clock():
    return FixedClock(START)


@pytest.fixture
def world(clock):
    with checked_world(clock) as made:
        yield made


def add(world: World, title: str, hours: int = 24, **fields) -> str:
    start = START + timedelta(hours=hours)
    made = world.server.add_activity(
        world.user.guid,
        title,
        start,
        start + timedelta(hours=1),
        type_guid=fields.pop("type_guid", world.meeting.guid),
        **fields,
    )
    return made.guid


def item(world: World, title: str = "Planning", **changes) -> CalendarItem:
    start = START + timedelta(days=2)
    values = {
        "title": title,
        "start": start,
        "end": start + timedelta(hours=1),
        "activity_type": world.meeting.guid,
        **changes,
    }
    return CalendarItem(**values)


# -- the token flow ----------------------------------------------------------------


def test_every_call_carries_client_id_and_bearer_token(world):
    backend = world.backend()
    add(world, "One")
    backend.changes(None, WINDOW)
    token_calls = [s for s in world.server.seen if s.kind == "POST token"]
    assert len(token_calls) == 1
    assert b'"scope": "activities:read activities:write' in token_calls[0].body
    for seen in world.server.seen:
        assert seen.headers["client_id"] == world.server.client_id
        if seen.kind != "POST token":
            assert seen.headers["authorization"].startswith("Bearer ")


def test_token_refreshed_before_expiry_and_once_after_401(world, clock):
    backend = world.backend()
    backend.changes(None, WINDOW)
    clock.advance(timedelta(seconds=3600 - 30))  # inside the refresh margin
    backend.get("no-such-activity")
    assert world.server.counts["POST refreshtoken"] == 1
    world.server.expire_tokens()
    backend.get("no-such-activity")  # 401, then a new token, then the answer
    assert world.server.counts["POST refreshtoken"] == 2
    assert world.server.counts["POST token"] == 1


def test_token_route_failure_is_a_clear_auth_error_without_secrets(world, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = world.backend()
    wrong._transport.credentials = type(wrong._transport.credentials)(
        world.server.client_id, "not-the-secret"
    )
    with pytest.raises(AuthError) as raised:
        wrong.changes(None, WINDOW)
    text = str(raised.value)
    assert "token route refused the API client" in text
    assert "AuthenticationRequired" in text
    assert raised.value.code == "AuthenticationRequired"
    secret = world.server.client_secret
    assert secret not in text
    assert secret not in repr(world.credentials())
    assert "not-the-secret" not in repr(wrong._transport.credentials)
    assert secret not in caplog.text


def test_a_throttled_or_failing_token_route_is_transient(world):
    backend = world.backend()
    world.server.throttle(retry_after=4, kinds=["POST token"])
    with pytest.raises(Throttled) as raised:
        backend.user()
    assert raised.value.retry_after == 4
    world.server.fail(status=502, kinds=["POST token"])
    with pytest.raises(BackendUnavailable):
        backend.user()
    assert backend.user().email == "alice@example.com"


def test_tokens_never_in_repr_or_logs(world, caplog):
    caplog.set_level(logging.DEBUG)
    backend = world.backend()
    backend.changes(None, WINDOW)
    token = backend._transport._token
    assert token is not None
    for text in (repr(backend), repr(backend._transport), repr(token), caplog.text):
        assert token.access not in text
        assert world.server.client_secret not in text


# -- errors at the edge ------------------------------------------------------------------


def test_429_with_retry_after_is_throttled_and_the_backend_does_not_sleep(world):
    backend = world.backend()
    backend.user()
    world.server.throttle(retry_after=7, kinds=["GET activities"])
    began = time.monotonic()
    with pytest.raises(Throttled) as raised:
        backend.changes(None, WINDOW)
    assert raised.value.retry_after == 7
    assert time.monotonic() - began < 2


def test_503_with_retry_after_is_throttled_without_is_unavailable(world):
    backend = world.backend()
    backend.user()
    world.server.throttle(retry_after=3, status=503, kinds=["GET activities"])
    with pytest.raises(Throttled) as raised:
        backend.changes(None, WINDOW)
    assert raised.value.retry_after == 3
    world.server.fail(status=503, kinds=["GET activities"])
    with pytest.raises(BackendUnavailable):
        backend.changes(None, WINDOW)


def test_dropped_connection_slow_answer_and_malformed_body(world):
    backend = world.backend(timeout=0.5)
    backend.user()
    world.server.drop_connections(kinds=["GET activities"])
    with pytest.raises(BackendUnavailable):
        backend.changes(None, WINDOW)
    world.server.slow(2.0, kinds=["GET activities"])
    with pytest.raises(BackendUnavailable):
        backend.changes(None, WINDOW)
    world.check.skip_bodies_of.add(200)
    world.server.malformed(kinds=["GET activities"])
    with pytest.raises(MalformedResponse):
        backend.changes(None, WINDOW)
    world.check.skip_bodies_of.clear()
    world.check.problems.clear()  # the injected broken body is not the fake's drift


def test_exception_model_details_are_kept_on_the_error(world):
    backend = world.backend()
    backend.activity_types()
    world.travel.is_active = False  # an administrator turns the type off meanwhile
    with pytest.raises(BadItem) as raised:
        backend.create(item(world, activity_type=world.travel.guid), "key-1")
    assert raised.value.code == "InvalidParameter"
    assert any("activityType" in line for line in api_details(raised.value))
    assert "is not active" in str(raised.value)


def test_a_location_severa_cannot_store_is_refused_before_sending(world):
    backend = world.backend()
    backend.user()
    world.server.reset_stats()
    with pytest.raises(BadItem, match="1000"):
        backend.create(item(world, location="x" * 1001), "key-1")
    assert world.server.counts["POST activities"] == 0


def test_body_size_is_bounded(world):
    backend = world.backend(limits=HttpLimits(max_body_bytes=2000))
    for n in range(20):
        add(world, f"Entry {n}", hours=n + 1)
    with pytest.raises(MalformedResponse, match="larger than 2000 bytes"):
        backend.changes(None, WINDOW)


# -- paging --------------------------------------------------------------------------------


def test_listing_follows_pages_to_the_last(world):
    ids = {add(world, f"Entry {n}", hours=n + 1) for n in range(23)}
    backend = world.backend(page_size=5)
    changes = backend.changes(None, WINDOW)
    assert {i.id for i in changes.items} == ids
    assert changes.full
    assert world.server.counts["GET activities"] == 5


def test_a_page_token_loop_is_detected(world):
    for n in range(4):
        add(world, f"Entry {n}", hours=n + 1)
    backend = world.backend(page_size=2)
    backend.user()
    world.server.loop_page_tokens()
    with pytest.raises(MalformedResponse, match="repeated a page token"):
        backend.changes(None, WINDOW)


def test_page_count_is_bounded(world):
    for n in range(6):
        add(world, f"Entry {n}", hours=n + 1)
    backend = world.backend(page_size=1, limits=HttpLimits(max_pages=3))
    with pytest.raises(MalformedResponse, match="more than 3 pages"):
        backend.changes(None, WINDOW)


# -- deltas and the delete check ---------------------------------------------------------------


def test_a_no_change_delta_costs_one_request(world, clock):
    for n in range(30):
        add(world, f"Entry {n}", hours=n + 1)
    clock.advance(timedelta(hours=1))  # the activities were made before the first sync
    backend = world.backend(page_size=10)
    first = backend.changes(None, WINDOW)
    clock.advance(timedelta(minutes=10))
    world.server.reset_stats()
    quiet = backend.changes(first.cursor, WINDOW)
    assert not quiet.full
    assert quiet.items == ()
    assert world.server.request_count == 1, world.server.counts
    assert "changedSince" in world.server.seen[0].query


def test_delta_lists_changes_and_reports_moves_out_of_the_window(world, clock):
    kept = add(world, "Kept")
    moved = add(world, "Moved")
    backend = world.backend()
    first = backend.changes(None, WINDOW)
    clock.advance(timedelta(minutes=10))
    world.server.edit_activity(kept, name="Kept, renamed")
    far = (START + timedelta(days=400)).isoformat()
    world.server.edit_activity(moved, startDateTime=far, endDateTime=far)
    delta = backend.changes(first.cursor, WINDOW)
    assert [i.title for i in delta.items] == ["Kept, renamed"]
    assert delta.removed == (moved,)


def test_a_severa_delete_is_seen_by_the_next_delete_check(world, clock):
    gone = add(world, "Deleted in Severa")
    backend = world.backend(delete_check_interval=timedelta(hours=1))
    listing = backend.changes(None, WINDOW)
    world.server.delete_activity(gone)
    clock.advance(timedelta(minutes=30))
    delta = backend.changes(listing.cursor, WINDOW)
    assert not delta.full  # inside the interval: no delete check yet
    clock.advance(timedelta(minutes=31))
    check = backend.changes(delta.cursor, WINDOW)
    assert check.full
    assert gone not in {i.id for i in check.items}


def test_a_failed_listing_is_never_read_as_deletes(world, clock):
    for n in range(6):
        add(world, f"Entry {n}", hours=n + 1)
    backend = world.backend(page_size=2, delete_check_interval=timedelta(0))
    first = backend.changes(None, WINDOW)
    world.server.throttle(retry_after=1, kinds=["GET activities"])
    with pytest.raises(Throttled):
        backend.changes(first.cursor, WINDOW)
    world.server.fail(status=500, kinds=["GET activities"])
    with pytest.raises(BackendUnavailable):
        backend.changes(first.cursor, WINDOW)
    again = backend.changes(first.cursor, WINDOW)
    assert again.full
    assert len(again.items) == 6


def test_a_listing_with_unreadable_activities_is_not_a_delete_check(world, clock):
    add(world, "Fine")
    odd = add(world, "Odd", type_guid=world.travel.guid)
    # An activity whose type is not in the type list cannot be mapped.
    world.server.organisation.types.pop(world.travel.guid)
    backend = world.backend(delete_check_interval=timedelta(0))
    listing = backend.changes(None, WINDOW)
    assert not listing.full
    assert [p.item_ref for p in backend.problems] == [odd]
    assert SeveraCursor.decode(listing.cursor or "").checked.year == 1970  # check again


# -- writes -----------------------------------------------------------------------------


def test_a_newer_edit_in_severa_is_never_overwritten(world, clock):
    backend = world.backend()
    created = backend.create(item(world), "key-1")
    assert created.id is not None
    clock.advance(timedelta(seconds=5))
    world.server.edit_activity(created.id, name="Edited in Severa")
    with pytest.raises(VersionConflict):
        backend.update(created.id, item(world, "From the calendar"), created.etag)
    with pytest.raises(VersionConflict):
        backend.delete(created.id, created.etag)
    assert world.server.activity(created.id)["name"] == "Edited in Severa"


def test_update_is_a_json_patch_of_replace_operations_and_keeps_the_key(world):
    backend = world.backend()
    created = backend.create(item(world, body="Agenda"), "key-1")
    assert created.id is not None
    backend.update(created.id, item(world, "Renamed", body="Agenda"), created.etag)
    patch = next(s for s in world.server.seen if s.kind == "PATCH activity")
    assert b'"op": "Replace", "path": "/name", "value": "Renamed"' in patch.body
    assert b"notes" not in patch.body  # unchanged fields are not sent
    stored = world.server.activity(created.id)
    assert stored["notes"].endswith("[severa-ext:sync-key=key-1]")
    assert backend.get(created.id).body == "Agenda"


def test_delete_then_not_found(world):
    backend = world.backend()
    created = backend.create(item(world), "key-1")
    assert created.id is not None
    backend.delete(created.id, created.etag)
    with pytest.raises(NotFound):
        backend.delete(created.id, None)


# -- mapping ------------------------------------------------------------------------------


def test_times_without_offset_are_read_in_the_users_zone(clock):
    with plain_world(clock) as world:  # no spec check: the description wants offsets
        world.server.organisation.offsets = False
        guid = add(world, "Local")
        raw = world.server.activity(guid)
        assert "+" not in raw["startDateTime"][10:]
        fetched = world.backend().get(guid)
        assert fetched is not None
        assert fetched.start == START + timedelta(hours=24)


def test_all_day_activities_are_dates_in_the_users_zone(world):
    backend = world.backend()
    day = date(2026, 5, 10)
    made = backend.create(item(world, start=day, end=day + timedelta(days=2)), "key-all-day")
    raw = world.server.activity(made.id)
    assert raw["isAllDay"] is True
    assert raw["startDateTime"].startswith("2026-05-10T00:00:00")
    assert (made.start, made.end) == (day, day + timedelta(days=2))


def test_project_tasks_are_marked_and_never_created_from_the_calendar(world):
    task = add(world, "Implement", type_guid=world.task.guid)
    phased = add(world, "Phase work", phase={"guid": "phase-1", "name": "Build"})
    backend = world.backend()
    by_id = {i.id: i for i in backend.changes(None, WINDOW).items}
    assert by_id[task].project_task
    assert by_id[phased].project_task
    with pytest.raises(BadItem, match="project task"):
        backend.create(item(world, activity_type=world.task.guid), "key-task")


def test_personal_category_is_the_private_flag(world):
    backend = world.backend()
    made = backend.create(item(world, private=True, activity_type=world.personal.guid), "k")
    assert made.private
    assert world.server.activity(made.id)["activityType"]["category"] == "Personal"


def test_recurring_occurrences_and_exceptions(world):
    series = world.server.add_activity(
        world.user.guid,
        "Weekly",
        START + timedelta(days=1),
        START + timedelta(days=1, hours=1),
        type_guid=world.meeting.guid,
        recurrence={
            "frequency": "Weekly",
            "pattern": {"weekly": {"interval": 1, "tuesday": True}},
            "range": {"maxOccurrences": 4},
        },
    )
    backend = world.backend()
    listed = [i for i in backend.changes(None, WINDOW).items if i.series_id == series.guid]
    assert len(listed) == 4
    assert series.guid not in {i.id for i in listed}  # the series itself is not an entry
    first = sorted(listed, key=lambda i: i.start)[0]
    assert first.id is not None
    backend.update(first.id, first.evolve(title="Moved once"), first.etag)
    raw = world.server.activity(first.id)
    assert raw["recurrenceType"] == "Exception"
    assert world.server.activity(series.guid)["recurrence"]["exceptions"]


# -- activation and settings -----------------------------------------------------------------


def test_user_is_found_by_email_case_insensitively_with_the_zone(world):
    backend = world.backend(user_email="ALICE@Example.com")
    user = backend.user()
    assert user.guid == world.user.guid
    assert user.zone == HELSINKI


def test_unknown_user_is_an_activation_error(world):
    with pytest.raises(ActivationError) as raised:
        world.backend(user_email="bob@example.com").user()
    assert raised.value.reason == "unknown-user"


def test_settings_are_checked_against_the_activity_types(world):
    backend = world.backend()
    policy = backend.settings_policy(["Meeting"])
    assert policy.default_type == world.meeting.guid
    assert policy.personal_type == world.personal.guid
    with pytest.raises(ActivationError, match="project task") as raised:
        backend.check_settings(
            SyncPolicy(outgoing_types={world.task.guid}, default_type=world.meeting.guid)
        )
    assert raised.value.reason == "settings-invalid"
    with pytest.raises(ActivationError, match="not of the Personal category"):
        backend.check_settings(
            SyncPolicy(default_type=world.meeting.guid, personal_type=world.travel.guid)
        )
    with pytest.raises(ActivationError, match="not an active"):
        backend.check_settings(SyncPolicy(default_type="no-such-type"))
    # S9: a Personal type Severa lacks is a warning, not a refusal (private entries
    # get the default type).
    (warning,) = backend.check_settings(
        SyncPolicy(default_type=world.meeting.guid, personal_type="no-such-type")
    )
    assert "'no-such-type'" in warning
    assert backend.check_settings(policy) == ()


def test_a_user_given_by_guid(world):
    backend = world.backend(user_email=None, user_guid=world.user.guid)
    assert backend.user().email == "alice@example.com"
    missing = world.backend(user_email=None, user_guid="no-such-user")
    with pytest.raises(ActivationError) as raised:
        missing.user()
    assert raised.value.reason == "unknown-user"


def test_odd_rows_are_problems_not_crashes(world):
    backend = world.backend()
    backend.user()
    world.check.skip_bodies_of.add(200)
    world.server.malformed(
        body=b'[{"name": "no guid", "activityType": null}, {"guid": "g", "activityType": 5}]',
        kinds=["GET activities"],
    )
    listing = backend.changes(None, WINDOW)
    world.check.skip_bodies_of.clear()
    world.check.problems.clear()  # the odd rows were asked for
    assert listing.items == ()
    assert not listing.full  # not a delete check
    assert len(backend.problems) == 2
