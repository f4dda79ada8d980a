"""The sync engine with Severa on side A over real HTTP, scenario by scenario.

Side A is ``SeveraBackend`` against ``FakeSeveraServer`` (every exchange validated
against the published API description); side B is the memory calendar, an ICS file,
Graph (``graph_server``) and EWS (``FakeEwsServer``). Pinned here: both ways (S11),
project tasks stay home (S8), private entries get the Personal type (S9), a Severa
delete arrives within the delete-check bound and a failed listing deletes nothing,
and a crash between a create and its record never makes a second activity.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from severa_ext.backends.ews import EwsBackend
from severa_ext.backends.ics import IcsBackend
from severa_ext.backends.memory import Fault, InjectedCrash, MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem, Capabilities
from severa_ext.sync.links import Link
from severa_ext.sync.state import MemoryStateStore
from severa_ext.testing._severa_world import START, World, checked_world
from severa_ext.testing.ews_server import FakeEwsServer
from severa_ext.testing.faults import FaultyBackend

pytestmark = pytest.mark.slow

HOUR = timedelta(hours=1)


@pytest.fixture
def clock():
    return FixedClock(START)


@pytest.fixture
def world(clock):
    with checked_world(clock) as made:
        yield made


def engine_for(world: World, a, b, store=None, **options) -> SyncEngine:
    backend = world.backend()
    policy = backend.settings_policy(["Meeting"])
    return SyncEngine(
        a,
        b,
        store if store is not None else MemoryStateStore(),
        pair_id="alice",
        policy=policy,
        clock=world.clock,
        sleep=lambda _: None,
        **options,
    )


def severa_entry(world: World, title: str, days: int = 2, **fields) -> str:
    start = START + timedelta(days=days)
    return world.server.add_activity(
        world.user.guid,
        title,
        start,
        start + HOUR,
        type_guid=fields.pop("type_guid", world.meeting.guid),
        **fields,
    ).guid


def calendar_entry(title: str, days: int = 3, **fields) -> CalendarItem:
    start = START + timedelta(days=days)
    return CalendarItem(title, start, start + HOUR, **fields)


def names(world: World) -> dict[str, str]:
    """Activity name -> its type's category, for Alice's activities."""
    return {
        raw["name"]: raw["activityType"]["category"]
        for raw in world.server.activities(world.user.guid)
    }


# -- memory calendar on side B -------------------------------------------------------------


def test_both_ways_with_s8_and_s9(world, clock):
    calendar = MemoryBackend("calendar", capabilities=Capabilities(delta=True), clock=clock)
    severa_entry(world, "Customer meeting")
    severa_entry(world, "Implement feature", type_guid=world.task.guid)
    severa_entry(world, "Phase work", phase={"guid": "p1", "name": "Build"})
    severa_entry(world, "Travel day", type_guid=world.travel.guid)  # not an outgoing type
    calendar.user_create(calendar_entry("Dentist", private=True))
    calendar.user_create(calendar_entry("Lunch with Bob"))
    engine = engine_for(world, world.backend(), calendar)

    report = engine.run()
    assert not report.errors
    titles = sorted(i.title for i in calendar.all_items())
    assert titles == ["Customer meeting", "Dentist", "Lunch with Bob"]  # S8: no tasks
    categories = names(world)
    assert categories["Dentist"] == "Personal"  # S9: private entries get Personal
    assert categories["Lunch with Bob"] == "CalendarEntry"  # ...others the default type

    again = engine.run()
    assert sum(again.created.values()) + sum(again.updated.values()) == 0


def test_edits_travel_both_ways(world, clock):
    calendar = MemoryBackend("calendar", capabilities=Capabilities(delta=True), clock=clock)
    guid = severa_entry(world, "Review")
    engine = engine_for(world, world.backend(), calendar)
    engine.run()
    clock.advance(HOUR)
    world.server.edit_activity(guid, name="Review, moved", location="Room 2")
    engine.run()
    (copy,) = calendar.all_items()
    assert (copy.title, copy.location) == ("Review, moved", "Room 2")
    clock.advance(HOUR)
    calendar.user_update(str(copy.id), body="Agenda from the calendar")
    engine.run()
    stored = world.server.activity(guid)
    assert stored is not None
    assert stored["notes"].startswith("Agenda from the calendar")


def test_a_severa_delete_reaches_the_calendar_within_the_bound(world, clock):
    calendar = MemoryBackend("calendar", capabilities=Capabilities(delta=True), clock=clock)
    guid = severa_entry(world, "Cancelled")
    severa_entry(world, "Kept")
    engine = engine_for(world, world.backend(delete_check_interval=HOUR), calendar)
    engine.run()
    world.server.delete_activity(guid)
    clock.advance(timedelta(minutes=20))
    engine.run()
    assert "Cancelled" in {i.title for i in calendar.all_items()}  # not yet checked
    clock.advance(timedelta(minutes=41))  # the bound: one interval after the last check
    report = engine.run()
    assert report.deleted["b"] == 1
    assert [i.title for i in calendar.all_items()] == ["Kept"]


def test_a_failed_listing_deletes_nothing(world, clock):
    calendar = MemoryBackend("calendar", capabilities=Capabilities(delta=True), clock=clock)
    for n in range(5):
        severa_entry(world, f"Entry {n}", days=n + 1)
    backend = world.backend(page_size=2, delete_check_interval=timedelta(0))
    engine = engine_for(world, backend, calendar)
    engine.run()
    # The delete check keeps failing (past the engine's retries): nothing may be read
    # as deleted, however many activities the listing did not bring.
    world.server.fail(50, status=500, kinds=["GET activities"], after=1)  # page 2 on
    report = engine.run()
    world.server.clear_faults()
    assert report.errors
    assert sum(report.deleted.values()) == 0
    assert len(calendar.all_items()) == 5


def test_crash_between_create_and_record_never_duplicates(world, clock):
    calendar = MemoryBackend("calendar", capabilities=Capabilities(delta=True), clock=clock)
    calendar.user_create(calendar_entry("Made in the calendar"))
    store = MemoryStateStore()
    crashing = FaultyBackend(world.backend())
    crashing.inject("create", Fault.crash_after_write())
    with pytest.raises(InjectedCrash):
        engine_for(world, crashing, calendar, store).run()
    assert list(names(world)) == ["Made in the calendar"]  # the create reached Severa
    # A new process: a new backend and engine over the same state.
    report = engine_for(world, world.backend(), calendar, store).run()
    assert not report.errors
    assert list(names(world)) == ["Made in the calendar"]  # found, not made again
    assert sum(report.created.values()) == 0
    link = next(iter(store.links("alice")))
    assert link.a_id is not None
    assert isinstance(link, Link)  # settled: no intent left


def test_the_journal_keeps_the_api_error_but_no_secret(world, clock):
    calendar = MemoryBackend("calendar", capabilities=Capabilities(delta=True), clock=clock)
    store = MemoryStateStore()
    backend = world.backend()
    engine = engine_for(world, backend, calendar, store)
    backend.user()  # signed in: a token exists
    world.server.fail(50, status=500, kinds=["GET activities"])
    report = engine.run()
    assert report.errors
    text = " ".join(entry.message for entry in store.journal(pair_id="alice"))
    assert "HTTP 500 InternalSystemError" in text  # the ExceptionModel's type (S6)
    assert world.server.client_secret not in text
    token = backend._transport.tokens._token
    assert token is not None
    assert token.access not in text


# -- other calendars on side B ----------------------------------------------------------------


def _round_trip(world: World, calendar, engine: SyncEngine, listed) -> None:
    severa_entry(world, "From Severa")
    calendar.create(calendar_entry("From the calendar"), "seed-key-1")
    first = engine.run()
    assert not first.errors, first.errors
    assert {"From Severa", "From the calendar"} <= {i.title for i in listed()}
    assert {"From Severa", "From the calendar"} <= set(names(world))
    again = engine.run()
    assert sum(again.created.values()) + sum(again.updated.values()) == 0


def test_ics_file_on_side_b(world, clock, tmp_path):
    ics = IcsBackend(tmp_path / "alice.ics", clock=clock, create_missing=True)
    engine = engine_for(world, world.backend(), ics)

    def listed():
        return ics.changes(None, engine.policy.window(clock.now())).items

    _round_trip(world, ics, engine, listed)
    ics.close()


def test_graph_on_side_b(world, graph_server):
    graph = graph_server.backend("alice@contoso.com", timeout=10)
    engine = engine_for(world, world.backend(), graph)
    _round_trip(world, graph, engine, lambda: graph_server.events("alice@contoso.com"))
    graph.close()


def test_ews_on_side_b(world, clock):
    with FakeEwsServer(clock=clock) as server:
        server.add_mailbox("alice@contoso.com")
        ews = EwsBackend(
            server.url, "alice@contoso.com", auth=server.auth(), allow_loopback_http=True
        )
        engine = engine_for(world, world.backend(), ews)
        _round_trip(world, ews, engine, lambda: server.calendar_items("alice@contoso.com"))
        ews.close()
