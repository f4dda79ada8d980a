"""S9: a Personal type that does not exist never keeps a private entry out.

S9 says everything in the calendar always comes in, and private entries get the
Personal type *if such a type exists*. When ``personal_type`` names a type side A
does not have, private entries get the default type, the engine journals one warning
(S6), and the activation check reports the same warning; no run fails for it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from severa_ext.backends.activities import ActivityBackend, MemoryActivityStore
from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.domain import ActivityCategory, ActivityType, User
from severa_ext.errors import BackendUnavailable
from severa_ext.sync.activation import (
    ActivationService,
    MailboxProbe,
    MemoryActivationStore,
    OrganisationSettings,
    ProbeStatus,
    ServerKind,
    settings_warnings,
)
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.protocol import ActivityTypeSource
from severa_ext.sync.state import MemoryStateStore

NOW = datetime(2026, 5, 4, 8, tzinfo=UTC)
TYPES = {
    "meeting": ActivityType("meeting", "Meeting"),
    "other": ActivityType("other", "Other"),
    "task": ActivityType("task", "Project task", ActivityCategory.PROJECT_TASK),
}
MISSPELT = SyncPolicy(outgoing_types={"meeting"}, default_type="other", personal_type="holiday")


class Pair:
    """The activity adapter (side A, no Personal type) and a memory calendar."""

    def __init__(self, policy: SyncPolicy = MISSPELT) -> None:
        self.clock = FixedClock(NOW)
        self.activities = MemoryActivityStore(clock=self.clock)
        self.a = ActivityBackend(self.activities, user_id="alice", activity_types=TYPES)
        self.b = MemoryBackend("calendar", clock=self.clock)
        self.store = MemoryStateStore()
        self.policy = policy

    def engine(self) -> SyncEngine:
        return SyncEngine(
            self.a,
            self.b,
            self.store,
            pair_id="alice",
            policy=self.policy,
            clock=self.clock,
            user_id="alice",
            sleep=lambda _: None,
        )

    def event(self, title: str, **fields: object) -> None:
        self.clock.advance(timedelta(minutes=1))
        start = NOW + timedelta(days=1)
        item = CalendarItem(title, start, start + timedelta(hours=1), **fields)  # type: ignore[arg-type]
        self.b.user_create(item)

    def types(self) -> dict[str, str]:
        return {a.title: a.activity_type_id for a in self.activities.activities()}

    def warnings(self) -> list[str]:
        entries = self.store.journal(pair_id="alice")
        return [e.message for e in entries if e.operation == "settings"]


def test_s9_for_types_clears_an_unknown_personal_type_and_says_why() -> None:
    policy, warning = MISSPELT.for_types({"meeting", "other"})
    assert policy.personal_type is None
    assert policy.default_type == "other"
    assert warning is not None
    assert "'holiday'" in warning
    assert "'other'" in warning
    assert "(S9)" in warning


def test_s9_for_types_keeps_a_known_personal_type_and_a_calendar_policy() -> None:
    known = SyncPolicy(default_type="other", personal_type="meeting")
    assert known.for_types({"meeting", "other"}) == (known, None)
    calendars = SyncPolicy.calendars()
    assert calendars.for_types(set()) == (calendars, None)


def test_s9_the_activity_adapter_names_the_types_an_entry_may_get() -> None:
    backend = ActivityBackend(MemoryActivityStore(), user_id="alice", activity_types=TYPES)
    assert isinstance(backend, ActivityTypeSource)
    assert backend.activity_type_ids() == {"meeting", "other"}  # never a project task (S8)


def test_s9_a_private_entry_comes_in_with_the_default_type() -> None:
    pair = Pair()
    pair.event("Dentist", private=True)
    pair.event("Workshop")
    report = pair.engine().run()
    assert report.ok, report.errors
    assert pair.types() == {"Dentist": "other", "Workshop": "other"}
    (activity,) = (a for a in pair.activities.activities() if a.title == "Dentist")
    assert activity.is_private  # the entry keeps its private flag
    (warning,) = pair.warnings()
    assert "'holiday'" in warning
    (entry,) = (e for e in pair.store.journal(pair_id="alice") if e.operation == "settings")
    assert (entry.level, entry.side, entry.user_id) == ("warning", "a", "alice")


def test_s9_the_fallback_is_journaled_once_and_no_run_fails() -> None:
    pair = Pair()
    engine = pair.engine()
    for title in ("Dentist", "Physio", "Optician"):
        pair.event(title, private=True)
        report = engine.run()
        assert report.ok, report.errors
    pair.event("Massage", private=True)
    assert pair.engine().run().ok  # a new engine (a new process) on the same state
    names = ("Dentist", "Physio", "Optician", "Massage")
    assert pair.types() == dict.fromkeys(names, "other")
    assert len(pair.warnings()) == 1


def test_s9_a_plan_and_a_dry_run_journal_nothing() -> None:
    pair = Pair()
    pair.event("Dentist", private=True)
    engine = pair.engine()
    plan = engine.plan()
    assert len(plan.records) > 0
    engine.run(dry_run=True)
    assert pair.warnings() == []
    assert pair.types() == {}


def test_s9_a_personal_type_that_exists_is_used_and_nothing_is_journaled() -> None:
    pair = Pair(
        SyncPolicy(outgoing_types={"meeting"}, default_type="other", personal_type="meeting")
    )
    pair.event("Dentist", private=True)
    assert pair.engine().run().ok
    assert pair.types() == {"Dentist": "meeting"}
    assert pair.warnings() == []


class _Unreadable:
    """A side A whose types cannot be read: the engine keeps the configured policy."""

    def __init__(self, backend: ActivityBackend) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> object:
        return getattr(self._backend, name)

    def activity_type_ids(self) -> frozenset[str]:
        raise BackendUnavailable("types are down", backend="activities")


def test_s9_unreadable_types_keep_the_policy_and_journal_no_warning() -> None:
    pair = Pair(
        SyncPolicy(outgoing_types={"meeting"}, default_type="other", personal_type="meeting")
    )
    pair.a = _Unreadable(pair.a)  # type: ignore[assignment]
    pair.event("Dentist", private=True)
    assert pair.engine().run().ok
    assert pair.types() == {"Dentist": "meeting"}
    assert pair.warnings() == []


# -- the activation check ------------------------------------------------------------

ALICE = User("alice", "alice@example.com", "Alice")
SETTINGS = OrganisationSettings(
    addon_active=True, server_kind=ServerKind.GRAPH, credentials_ref="graph", policy=MISSPELT
)


def _probe(mailbox: str) -> MailboxProbe:
    return MailboxProbe(mailbox, ProbeStatus.OK, addresses=(mailbox,))


def test_s9_settings_warnings_name_the_missing_personal_type() -> None:
    (warning,) = settings_warnings(SETTINGS, {"meeting", "other"})
    assert "'holiday'" in warning
    assert settings_warnings(SETTINGS, {"holiday", "other"}) == ()
    assert settings_warnings(OrganisationSettings(), set()) == ()


def test_s9_activation_turns_sync_on_and_journals_the_warning() -> None:
    journal = MemoryStateStore()
    service = ActivationService(
        SETTINGS,
        _probe,
        MemoryActivationStore(),
        clock=FixedClock(NOW),
        journal=journal,
        activity_types=lambda: {"meeting", "other"},
    )
    activation = service.activate(ALICE, ALICE, "alice@example.com", confirmed=True)
    assert activation.user_id == "alice"
    assert service.is_active("alice")
    (warning,) = service.warnings()
    entries = [e for e in journal.journal() if e.operation == "settings"]
    assert [(e.level, e.message) for e in entries] == [("warning", warning)]


def test_s9_activation_survives_unreadable_types() -> None:
    def down() -> set[str]:
        raise BackendUnavailable("Severa is down", backend="severa")

    journal = MemoryStateStore()
    service = ActivationService(
        SETTINGS,
        _probe,
        MemoryActivationStore(),
        clock=FixedClock(NOW),
        journal=journal,
        activity_types=down,
    )
    service.activate(ALICE, ALICE, "alice@example.com", confirmed=True)
    assert service.is_active("alice")
    (entry,) = (e for e in journal.journal() if e.operation == "settings")
    assert "could not be read" in entry.message


def test_s9_without_activity_types_there_are_no_warnings() -> None:
    service = ActivationService(SETTINGS, _probe, MemoryActivationStore(), clock=FixedClock(NOW))
    assert service.warnings() == ()
