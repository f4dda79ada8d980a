"""No mailbox is driven past Graph's limits: the fake Graph throttles per mailbox (429
past its rate), and the runner's gate at the same limits paces a pair's requests so
that the fake never has to refuse one; without the gate, the fake does refuse."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from severa_ext.backends.memory import MemoryBackend
from severa_ext.runner import (
    MailboxLimits,
    MemoryGate,
    MemoryScheduleStore,
    OpenPair,
    Runner,
    RunStatus,
    gated_session,
)
from severa_ext.sync.activation import (
    Activation,
    MemoryActivationStore,
    OrganisationSettings,
    ServerKind,
)
from severa_ext.sync.items import CalendarItem
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.state import MemoryStateStore
from severa_ext.testing.graph_server import FakeGraphServer

pytestmark = pytest.mark.slow

ALICE = "alice@contoso.com"
MEETINGS = 30
RATE, WINDOW = 20, 2.0
ORG = OrganisationSettings(
    addon_active=True,
    server_kind=ServerKind.GRAPH,
    credentials_ref="graph",
    policy=SyncPolicy(outgoing_types={"meeting"}, default_type="meeting"),
)


class Pairs:
    def __init__(self, graph):
        self.graph = graph
        self.tokens = graph.token_provider()
        self.severa = MemoryBackend("severa")
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
        for n in range(MEETINGS):
            at = start + timedelta(hours=n)
            self.severa.user_create(
                CalendarItem(
                    f"Meeting {n}", at, at + timedelta(minutes=30), activity_type="meeting"
                )
            )

    def open(self, pair, gate):
        session = gated_session(gate, pair.mailbox)
        backend = self.graph.backend(pair.mailbox, session=session, tokens=self.tokens,
                                     batch_size=1)  # fmt: skip
        return OpenPair(self.severa, backend, [session.close])


def _run(gate_limits):
    activations = MemoryActivationStore()
    activations.put(Activation("alice", ALICE, ServerKind.GRAPH, datetime.now(UTC)))
    with FakeGraphServer() as graph:
        graph.add_mailbox(ALICE)
        limiter = graph.limit_mailboxes(requests=RATE, window=WINDOW)
        state = MemoryStateStore()
        runner = Runner(ORG, activations, state, Pairs(graph), MemoryScheduleStore(),
                        gate=MemoryGate(gate_limits))  # fmt: skip
        started = time.monotonic()
        run = runner.run_pair("user:alice")
        took = time.monotonic() - started
        events = len(graph.events(ALICE))
        state.close()
        return run, took, events, limiter.report()


def test_the_gate_keeps_a_mailbox_inside_its_limits():
    # The gate's window is a little longer than the server's: the two clocks start a
    # request at slightly different instants.
    run, took, events, report = _run(MailboxLimits(requests=RATE, window=WINDOW * 1.25, wait=30))
    assert run.status is RunStatus.SYNCED, run.message
    assert events == MEETINGS
    assert report["refused"] == 0  # never a 429: the gate paced the pair
    assert report["peak_window"] <= RATE
    assert report["peak_in_flight"] <= 4
    assert took >= WINDOW  # more than RATE requests cannot fit in one window


def test_without_the_gate_the_server_refuses():
    run, _took, events, report = _run(MailboxLimits(requests=100_000, window=WINDOW))
    assert report["refused"] > 0  # the fake's limits are real
    assert report["peak_window"] <= RATE
    assert events == MEETINGS or run.status is not RunStatus.SYNCED
