"""A Graph change notification, posted by the fake Graph over real HTTP to the receiver
served on 127.0.0.1, makes the runner's pair due early; only the next run's delta
round brings the change in (S11): the notification itself writes nothing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from severa_ext.backends.graph_notifications import MemorySubscriptionStore, NotificationReceiver
from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.runner import MemoryScheduleStore, OpenPair, Runner, RunStatus
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
NOW = datetime(2026, 5, 4, 8, tzinfo=UTC)
POLICY = SyncPolicy(outgoing_types={"meeting"}, default_type="other")


class _Quiet(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


class GraphPairs:
    def __init__(self, graph, clock):
        self.graph = graph
        self.severa = MemoryBackend("severa", clock=clock)

    def open(self, pair, gate):
        return OpenPair(self.severa, self.graph.backend(pair.mailbox))


def test_a_notification_makes_the_pair_due_and_the_next_run_brings_the_change(tmp_path):
    clock = FixedClock(NOW)
    org = OrganisationSettings(
        addon_active=True, server_kind=ServerKind.GRAPH, credentials_ref="graph", policy=POLICY
    )
    activations = MemoryActivationStore()
    activations.put(Activation("alice", ALICE, ServerKind.GRAPH, NOW))
    with FakeGraphServer(clock=clock) as graph:
        graph.add_mailbox(ALICE)
        pairs = GraphPairs(graph, clock)
        runner = Runner(
            org, activations, MemoryStateStore(), pairs, MemoryScheduleStore(), clock=clock
        )
        subscriptions = MemorySubscriptionStore()
        receiver = NotificationReceiver(subscriptions, runner)  # the runner is the sink
        httpd = make_server("127.0.0.1", 0, receiver.wsgi, handler_class=_Quiet)
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            url = f"http://127.0.0.1:{httpd.server_address[1]}/notify"
            with graph.graph_subscriptions(clock=clock) as client:
                subscriptions.put(client.create(ALICE, url, pair="user:alice"))
            assert runner.run_pair("user:alice").status is RunStatus.SYNCED
            clock.advance(timedelta(minutes=1))
            assert runner.due_pairs() == []
            start = NOW + timedelta(days=1)
            graph.user_create(ALICE, CalendarItem("Dentist", start, start + timedelta(hours=1)))
            assert graph.subscriptions.wait_delivered()
            assert [p.pair_id for p in runner.due_pairs()] == ["user:alice"]
            assert pairs.severa.all_items() == []  # the notification wrote nothing
            run = runner.run_pair("user:alice")
            assert run.report is not None
            assert run.report.created["a"] == 1
            assert [i.title for i in pairs.severa.all_items()] == ["Dentist"]
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join(5)
