"""The Celery app a real worker process runs in tests/runner/test_celery_worker.py.

Configured from the environment the test sets: the Redis broker (a Unix socket), the
state store (an SQLite file, or PostgreSQL when ``SEVERA_TEST_STATE_DSN`` is set), the
activation store, the fake Graph server's port and the folder of each user's
activities file. The host's own app looks the same, with its stores.
"""

from __future__ import annotations

import os
from pathlib import Path

import redis
import requests
import sqlalchemy as sa
from celery import Celery

from severa_ext.backends.activities import ActivityBackend
from severa_ext.backends.activities_file import ActivityFile
from severa_ext.backends.graph import ClientCredentialsTokenProvider, GraphBackend
from severa_ext.contrib.celery import RedisGate, RedisScheduleStore, install
from severa_ext.runner import OpenPair, Pair, Runner, SchedulePolicy, gated_session
from severa_ext.stores.activation import SQLActivationStore
from severa_ext.sync.activation import OrganisationSettings, ServerKind
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.sqlite import SQLiteStateStore
from severa_ext.sync.state import StateStore
from severa_ext.testing.graph_server import LoopbackAdapter

ENV = os.environ
PORT = int(ENV.get("SEVERA_TEST_GRAPH_PORT", "0"))
ORGANISATION = OrganisationSettings(
    addon_active=True,
    server_kind=ServerKind.GRAPH,
    credentials_ref="graph",
    policy=SyncPolicy(outgoing_types={"meeting"}, default_type="meeting"),
)

app = Celery("severa-fleet-test", broker=ENV.get("SEVERA_TEST_BROKER", "memory://"))
app.conf.update(
    task_default_queue="severa-test",
    worker_prefetch_multiplier=1,
    # An unacknowledged job (its worker was killed) is delivered again 4 s after it was
    # taken; every worker looks for such jobs every 2 s (kombu's default is a look every
    # 10 s, of which only every 10th scans: a worker that starts before the job is 4 s
    # old would find it only 100 s later).
    broker_transport_options={
        "visibility_timeout": 4,
        "unacked_restore_interval": 2,
        "unacked_restore_throttle": 1,
    },
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(ENV["SEVERA_TEST_REDIS"])


class FakeGraphPairs:
    """Side A: the user's activities file; side B: the mailbox on the fake Graph."""

    def __init__(self) -> None:
        http = requests.Session()  # one token provider (one token) per worker process
        http.mount(f"https://127.0.0.1:{PORT}", LoopbackAdapter(PORT))
        self._tokens = ClientCredentialsTokenProvider(
            "contoso-tenant",
            "severa-ext-tests",
            client_secret=ENV.get("SEVERA_TEST_GRAPH_SECRET", ""),
            authority_host=f"https://127.0.0.1:{PORT}",
            http_client=http,
            validate_authority=False,
        )

    def open(self, pair: Pair, gate) -> OpenPair:
        store = ActivityFile(Path(ENV["SEVERA_TEST_DIR"]) / f"{pair.user_id}.json")
        a = ActivityBackend(store, user_id=pair.user_id, activity_types=store.activity_types())
        session = gated_session(gate, pair.mailbox)
        b = GraphBackend(
            pair.mailbox,
            self._tokens,
            session=session,
            base_url=f"http://127.0.0.1:{PORT}/v1.0",
            batch_size=1,
        )
        return OpenPair(a, b, [session.close])


def _state_store() -> StateStore:
    """The worker's state: an SQLite file, or a PostgreSQL schema when the test names one."""
    dsn = ENV.get("SEVERA_TEST_STATE_DSN")
    if dsn:
        from severa_ext.sync.postgres import PostgresStateStore

        return PostgresStateStore(dsn, max_size=2)
    return SQLiteStateStore(Path(ENV["SEVERA_TEST_STATE"]))


def make_runner() -> Runner:
    client = redis_client()
    engine = sa.create_engine(f"sqlite:///{ENV['SEVERA_TEST_ACTIVATIONS']}")
    return Runner(
        ORGANISATION,
        SQLActivationStore(engine),
        _state_store(),
        FakeGraphPairs(),
        RedisScheduleStore(client, prefix="fleet"),
        policy=SchedulePolicy(),
        gate=RedisGate(client, prefix="fleet"),
        engine_options={"max_wait": 30.0},
    )


tasks = install(app, make_runner, redis_client, prefix="fleet", jitter=0.0, queued_ttl=120)
