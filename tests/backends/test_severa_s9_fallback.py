"""S9 with Severa on side A over real HTTP: a Personal type Severa does not have (or
has deactivated) never keeps a private calendar entry out.

The private entry comes in with the default type, the engine journals one warning
(S6), ``check_settings`` returns the same warning instead of refusing the settings,
and no run fails for it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem, Capabilities
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.state import MemoryStateStore
from severa_ext.testing._severa_world import START, World, checked_world

pytestmark = pytest.mark.slow

HOUR = timedelta(hours=1)


@pytest.fixture
def world():
    with checked_world(FixedClock(START)) as made:
        yield made


def entry(title: str, days: int = 2, **fields: object) -> CalendarItem:
    start = START + timedelta(days=days)
    return CalendarItem(title, start, start + HOUR, **fields)  # type: ignore[arg-type]


def engine(world: World, calendar: MemoryBackend, policy: SyncPolicy, store=None) -> SyncEngine:
    return SyncEngine(
        world.backend(),
        calendar,
        store if store is not None else MemoryStateStore(),
        pair_id="alice",
        policy=policy,
        clock=world.clock,
        user_id="alice",
        sleep=lambda _: None,
    )


def types_of(world: World) -> dict[str, str]:
    """Activity name -> its type's name, for Alice's activities."""
    return {
        raw["name"]: raw["activityType"]["name"] for raw in world.server.activities(world.user.guid)
    }


def settings_warnings(store: MemoryStateStore) -> list[str]:
    return [e.message for e in store.journal(pair_id="alice") if e.operation == "settings"]


def test_s9_an_unknown_personal_type_falls_back_to_the_default_type(world):
    calendar = MemoryBackend("calendar", capabilities=Capabilities(delta=True), clock=world.clock)
    calendar.user_create(entry("Dentist", private=True))
    calendar.user_create(entry("Lunch with Bob", days=3))
    policy = SyncPolicy(default_type=world.meeting.guid, personal_type="no-such-type")
    assert world.backend().check_settings(policy) == (policy.for_types(())[1],)
    store = MemoryStateStore()
    sync = engine(world, calendar, policy, store)

    report = sync.run()
    assert report.ok, report.errors
    assert types_of(world) == {"Dentist": "Meeting", "Lunch with Bob": "Meeting"}
    (warning,) = settings_warnings(store)
    assert "'no-such-type'" in warning

    calendar.user_create(entry("Physio", private=True, days=4))
    world.clock.advance(HOUR)
    again = sync.run()
    assert again.ok, again.errors
    assert types_of(world)["Physio"] == "Meeting"
    assert len(settings_warnings(store)) == 1  # said once


def test_s9_a_personal_type_deactivated_between_runs_falls_back(world):
    calendar = MemoryBackend("calendar", capabilities=Capabilities(delta=True), clock=world.clock)
    policy = world.backend().settings_policy(["Meeting"])
    assert policy.personal_type == world.personal.guid
    store = MemoryStateStore()
    sync = engine(world, calendar, policy, store)
    calendar.user_create(entry("Dentist", private=True))
    assert sync.run().ok
    assert types_of(world)["Dentist"] == "Personal"
    assert settings_warnings(store) == []

    world.server.organisation.types[world.personal.guid].is_active = False  # an admin's edit
    world.clock.advance(HOUR)
    calendar.user_create(entry("Optician", private=True, days=5))
    report = sync.run()
    assert report.ok, report.errors
    assert types_of(world)["Optician"] == "Meeting"
    assert types_of(world)["Dentist"] == "Personal"  # a linked entry keeps its type
    (warning,) = settings_warnings(store)
    assert world.personal.guid in warning
    (checked,) = world.backend().check_settings(policy)
    assert checked == warning


def test_s9_a_personal_type_of_the_wrong_category_is_still_refused(world):
    from severa_ext.errors import ActivationError

    policy = SyncPolicy(default_type=world.meeting.guid, personal_type=world.travel.guid)
    with pytest.raises(ActivationError, match="not of the Personal category") as raised:
        world.backend().check_settings(policy)
    assert raised.value.reason == "settings-invalid"
