"""The engine-neutral runner: who is synced (S1, S2), failures journaled with the user
(S6), back-off, and change notifications that only make a pair due early."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severa_ext.backends.graph_notifications import Signal, SignalKind
from severa_ext.backends.memory import Fault, MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.domain import User
from severa_ext.errors import ConfigError
from severa_ext.runner import (
    MemoryScheduleStore,
    OpenPair,
    Pair,
    Runner,
    RunStatus,
    SchedulePolicy,
)
from severa_ext.sync.activation import (
    Activation,
    ActivationService,
    MailboxProbe,
    MemoryActivationStore,
    OrganisationSettings,
    ProbeStatus,
    ServerKind,
)
from severa_ext.sync.items import CalendarItem
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.sqlite import SQLiteStateStore
from severa_ext.sync.state import MemoryStateStore

NOW = datetime(2026, 5, 4, 8, tzinfo=UTC)
POLICY = SyncPolicy(outgoing_types={"meeting"}, default_type="other")
ORG = OrganisationSettings(
    addon_active=True, server_kind=ServerKind.GRAPH, credentials_ref="graph", policy=POLICY
)
SCHEDULE = SchedulePolicy(interval=timedelta(minutes=15), backoff=timedelta(minutes=1))


class MemoryPairs:
    """Each user's two memory calendars, kept across runs; counts how often opened."""

    def __init__(self, clock):
        self.clock = clock
        self.sides: dict[str, tuple[MemoryBackend, MemoryBackend]] = {}
        self.opened: list[str] = []
        self.broken: set[str] = set()

    def side(self, user_id):
        if user_id not in self.sides:
            self.sides[user_id] = (
                MemoryBackend(f"severa-{user_id}", clock=self.clock),
                MemoryBackend(f"calendar-{user_id}", clock=self.clock),
            )
        return self.sides[user_id]

    def open(self, pair: Pair, gate) -> OpenPair:
        self.opened.append(pair.user_id)
        if pair.user_id in self.broken:
            raise ConfigError("graph: the client secret file /run/secrets/graph is empty")
        a, b = self.side(pair.user_id)
        return OpenPair(a, b)


@pytest.fixture
def world(tmp_path):
    clock = FixedClock(NOW)
    activations = MemoryActivationStore()
    state = SQLiteStateStore(tmp_path / "state.db")
    pairs = MemoryPairs(clock)
    org = {"settings": ORG}
    runner = Runner(
        lambda: org["settings"],
        activations,
        state,
        pairs,
        MemoryScheduleStore(),
        policy=SCHEDULE,
        clock=clock,
        engine_options={"sleep": lambda _: None},
    )
    yield runner, activations, pairs, clock, org
    state.close()


def _activate(store, *users):
    for user in users:
        store.put(Activation(user, f"{user}@contoso.com", ServerKind.GRAPH, NOW))


def _meeting(title):
    start = NOW + timedelta(days=1)
    return CalendarItem(title, start, start + timedelta(hours=1), activity_type="meeting")


def test_only_users_with_sync_on_are_due_s2(world):
    runner, activations, _pairs, _clock, _org = world
    _activate(activations, "alice", "bob")
    assert [p.user_id for p in runner.due_pairs()] == ["alice", "bob"]
    activations.remove("bob")
    assert [p.pair_id for p in runner.due_pairs()] == ["user:alice"]


def test_a_deactivated_user_is_never_synced_even_when_already_queued_s2(world):
    """The user turned sync off between the fan-out and the run: nothing is opened."""
    runner, activations, pairs, clock, _org = world
    _activate(activations, "bob")
    pairs.side("bob")[0].user_create(_meeting("Bob's meeting"))
    queued = runner.due_pairs()
    service = ActivationService(
        ORG, lambda m: MailboxProbe(m, ProbeStatus.OK), activations, clock=clock
    )
    bob = User(id="bob", name="Bob", email="bob@contoso.com")
    service.deactivate(bob, bob)
    run = runner.run_pair(queued[0].pair_id)
    assert run.status is RunStatus.INACTIVE
    assert "sync is off (S2)" in run.message
    assert pairs.opened == []
    assert pairs.side("bob")[1].writes.total() == 0


def test_nobody_syncs_without_the_add_on_or_the_settings_s1(world):
    runner, activations, pairs, _clock, org = world
    _activate(activations, "alice")
    for changed in (
        OrganisationSettings(addon_active=False, server_kind=ServerKind.GRAPH,
                             credentials_ref="graph", policy=POLICY),
        OrganisationSettings(addon_active=True, server_kind=ServerKind.GRAPH, policy=POLICY),
    ):  # fmt: skip
        org["settings"] = changed
        assert runner.due_pairs() == []
        assert runner.run_pair("user:alice").status is RunStatus.INACTIVE
    assert pairs.opened == []


def test_a_user_activated_for_another_server_kind_waits_for_reactivation(world):
    runner, activations, _pairs, _clock, org = world
    _activate(activations, "alice")
    org["settings"] = OrganisationSettings(
        addon_active=True, server_kind=ServerKind.EWS, credentials_ref="ews", policy=POLICY
    )
    assert runner.due_pairs() == []
    assert "turn sync on again" in runner.run_pair("user:alice").message


def test_a_clean_run_syncs_and_is_due_again_after_the_interval_s11(world):
    runner, activations, pairs, clock, _org = world
    _activate(activations, "alice")
    severa, calendar = pairs.side("alice")
    severa.user_create(_meeting("Planning"))
    run = runner.run_pair("user:alice")
    assert run.status is RunStatus.SYNCED
    assert [i.title for i in calendar.all_items()] == ["Planning"]
    assert run.schedule.due == NOW + SCHEDULE.interval
    assert runner.due_pairs() == []
    clock.advance(SCHEDULE.interval)
    assert [p.user_id for p in runner.due_pairs()] == ["alice"]


def test_a_failure_is_journaled_with_the_user_and_backs_off_s6(world):
    runner, activations, pairs, clock, _org = world
    _activate(activations, "alice")
    pairs.broken.add("alice")
    dues = []
    for _ in range(4):
        run = runner.run_pair("user:alice")
        assert run.status is RunStatus.FAILED
        dues.append(run.schedule.due - clock.now())
    assert dues == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    entries = runner.state.journal(pair_id="user:alice")
    assert len(entries) == 4
    assert {(e.user_id, e.operation, e.error_type) for e in entries} == {
        ("alice", "open", "ConfigError")
    }
    assert "client secret file" in entries[0].message  # the exact message (S6)
    pairs.broken.clear()
    run = runner.run_pair("user:alice")
    assert (run.status, run.schedule.failures) == (RunStatus.SYNCED, 0)


def test_item_failures_back_off_too_partial_s6(world):
    runner, activations, pairs, _clock, _org = world
    _activate(activations, "alice")
    severa, calendar = pairs.side("alice")
    severa.user_create(_meeting("Planning"))
    calendar.inject("create", Fault.unavailable(), times=50)
    run = runner.run_pair("user:alice")
    assert run.status is RunStatus.PARTIAL
    assert run.schedule.failures == 1
    assert any(e.user_id == "alice" for e in runner.state.journal(pair_id="user:alice"))


def test_a_pair_whose_lease_is_held_is_busy_not_failed(world):
    runner, activations, _pairs, _clock, _org = world
    _activate(activations, "alice")
    runner.state.acquire("user:alice", "another-host:1:abc", now=NOW, ttl=timedelta(hours=1))
    run = runner.run_pair("user:alice")
    assert (run.status, run.schedule.failures) == (RunStatus.BUSY, 0)
    assert run.schedule.due == NOW + SCHEDULE.busy_delay
    entries = runner.state.journal(pair_id="user:alice")
    assert [e.level for e in entries] == ["warning"]  # the engine notes the refusal, no error


def test_a_change_notification_makes_the_pair_due_early_and_writes_nothing(world):
    runner, activations, pairs, clock, _org = world
    _activate(activations, "alice")
    runner.run_pair("user:alice")
    severa, calendar = pairs.side("alice")
    writes = (severa.writes.total(), calendar.writes.total())
    clock.advance(timedelta(minutes=1))
    assert runner.due_pairs() == []
    runner.signal(Signal(SignalKind.CHANGED, "user:alice", "alice@contoso.com", "sub-1"))
    assert (severa.writes.total(), calendar.writes.total()) == writes  # a signal never writes
    assert [p.user_id for p in runner.due_pairs()] == ["alice"]


def test_a_notification_does_not_cut_a_servers_retry_after(world):
    runner, activations, _pairs, clock, _org = world
    _activate(activations, "alice")
    from severa_ext.errors import Throttled

    def throttled(pair, gate):
        raise Throttled("mailbox busy", retry_after=600)

    runner.backends.open = throttled  # type: ignore[method-assign]
    run = runner.run_pair("user:alice")
    assert run.schedule.not_before == NOW + timedelta(minutes=10)
    runner.signal(Signal(SignalKind.CHANGED, "user:alice", "alice@contoso.com", "sub-1"))
    assert runner.due_pairs() == []
    clock.advance(timedelta(minutes=10))
    assert [p.user_id for p in runner.due_pairs()] == ["alice"]


def test_lifecycle_signals_go_to_the_host_and_missed_ones_resync(world):
    runner, activations, _pairs, _clock, _org = world
    seen = []
    runner._on_lifecycle = seen.append
    _activate(activations, "alice")
    runner.run_pair("user:alice")
    reauth = Signal(SignalKind.REAUTHORIZE, "user:alice", "alice@contoso.com", "sub-1")
    runner.signal(reauth)
    assert runner.due_pairs() == []
    assert seen == [reauth]
    runner.signal(Signal(SignalKind.RESYNC, "user:alice", "alice@contoso.com", "sub-1"))
    assert [p.user_id for p in runner.due_pairs()] == ["alice"]


_USERS = ("ann", "ben", "cid")
_OPS = st.one_of(
    st.tuples(st.just("on"), st.sampled_from(_USERS)),
    st.tuples(st.just("off"), st.sampled_from(_USERS)),
    st.tuples(st.just("addon"), st.booleans()),
    st.tuples(st.just("signal"), st.sampled_from(_USERS)),
    st.tuples(st.just("advance"), st.integers(min_value=0, max_value=40)),
    st.tuples(st.just("fan-out"), st.booleans()),
)


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(_OPS, max_size=30))
def test_only_active_users_are_ever_opened_s1_s2(ops):
    """Any sequence of turning sync on and off, the add-on on and off, notifications,
    time passing and fan-outs (run at once, or after the state changed): a pair's
    backends are opened only while its user has sync on and the add-on is on."""
    clock = FixedClock(NOW)
    activations = MemoryActivationStore()
    pairs = MemoryPairs(clock)
    org = {"settings": ORG}
    opened_ok: list[bool] = []
    open_pair = pairs.open

    def checked_open(pair, gate):
        opened_ok.append(org["settings"].addon_active and activations.get(pair.user_id) is not None)
        return open_pair(pair, gate)

    pairs.open = checked_open
    state = MemoryStateStore()
    runner = Runner(lambda: org["settings"], activations, state, pairs,
                    MemoryScheduleStore(), policy=SCHEDULE, clock=clock)  # fmt: skip
    queued: list[str] = []
    for op, arg in ops:
        if op == "on":
            _activate(activations, arg)
        elif op == "off":
            activations.remove(arg)
        elif op == "addon":
            org["settings"] = attrs.evolve(ORG, addon_active=arg)
        elif op == "signal":
            runner.signal(Signal(SignalKind.CHANGED, f"user:{arg}", arg, "sub"))
        elif op == "advance":
            clock.advance(timedelta(minutes=arg))
        elif arg:  # fan out now, run later (after the next ops)
            queued += [p.pair_id for p in runner.due_pairs()]
        else:
            for pair_id in queued + [p.pair_id for p in runner.due_pairs()]:
                runner.run_pair(pair_id)
            queued = []
    state.close()
    assert all(opened_ok)
