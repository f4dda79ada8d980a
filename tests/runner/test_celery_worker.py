"""The runner on a real Celery worker process with the real Redis broker (Unix socket):
a worker SIGKILLed mid-sync, the job delivered again to a new worker, and nothing
duplicated (S3, S11); idempotent enqueueing; only active users fanned out (S1, S2)."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytest.importorskip("celery")
redis = pytest.importorskip("redis")
sa = pytest.importorskip("sqlalchemy")

from severa_ext.backends.graph_notifications import Signal, SignalKind  # noqa: E402
from severa_ext.stores.activation import SQLActivationStore  # noqa: E402
from severa_ext.stores.schema import create_all  # noqa: E402
from severa_ext.sync.activation import Activation, ServerKind  # noqa: E402
from severa_ext.sync.items import CalendarItem  # noqa: E402
from severa_ext.testing.graph_server import FakeGraphServer  # noqa: E402

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
MEETINGS = 10


def _activities(user: str, email: str) -> dict:
    today = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    return {
        "user": {"id": user, "email": email, "name": user.title()},
        "activity_types": [{"id": "meeting", "name": "Meeting"}],
        "activities": [
            {
                "id": f"{user}-{n}",
                "user_id": user,
                "activity_type_id": "meeting",
                "title": f"{user} meeting {n}",
                "start": (today + timedelta(days=n + 1)).isoformat(),
                "end": (today + timedelta(days=n + 1, hours=1)).isoformat(),
                "last_modified": today.isoformat(),
            }
            for n in range(MEETINGS)
        ],
    }


@pytest.fixture(params=["sqlite", "postgres"])
def state_dsn(request):
    """The workers' state store: an SQLite file ("") or a PostgreSQL schema (its dsn)."""
    if request.param == "sqlite":
        return ""
    return request.getfixturevalue("postgres_schema").dsn


@pytest.fixture
def fleet(redis_server, state_dsn, tmp_path, monkeypatch):
    server = FakeGraphServer().start()
    for user in ("alice", "bob"):
        server.add_mailbox(f"{user}@contoso.com")
        (tmp_path / f"{user}.json").write_text(
            json.dumps(_activities(user, f"{user}@contoso.com")), encoding="utf-8"
        )
    db = tmp_path / "activations.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    create_all(engine)
    activations = SQLActivationStore(engine)
    now = datetime.now(UTC)
    for user in ("alice", "bob"):
        activations.put(Activation(user, f"{user}@contoso.com", ServerKind.GRAPH, now))
    env = {
        "SEVERA_TEST_BROKER": redis_server.kombu_url(3),
        "SEVERA_TEST_REDIS": redis_server.url(3),
        "SEVERA_TEST_STATE": str(tmp_path / "state.db"),
        "SEVERA_TEST_STATE_DSN": state_dsn,
        "SEVERA_TEST_ACTIVATIONS": str(db),
        "SEVERA_TEST_GRAPH_PORT": str(server.port),
        "SEVERA_TEST_GRAPH_SECRET": server.client_secret,
        "SEVERA_TEST_DIR": str(tmp_path),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(HERE))
    sys.modules.pop("celery_fleet_app", None)
    module = importlib.import_module("celery_fleet_app")
    client = redis.Redis.from_url(env["SEVERA_TEST_REDIS"])
    client.flushdb()
    workers: list[subprocess.Popen] = []

    def start_worker() -> subprocess.Popen:
        command = [sys.executable, "-m", "celery", "-A", "celery_fleet_app", "worker",
                   "--pool=solo", "--without-heartbeat", "--without-gossip",
                   "--without-mingle", "-Q", "severa-test", "--loglevel=INFO"]  # fmt: skip
        log = (tmp_path / f"worker-{len(workers)}.log").open("wb")
        process = subprocess.Popen(
            command, cwd=HERE, env={**os.environ, "PYTHONPATH": str(HERE)},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        workers.append(process)
        return process

    try:
        yield server, module, client, activations, start_worker, tmp_path
    finally:
        for process in workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        made = module.tasks.made.get("runner")
        if made is not None:
            made.state.close()
        client.flushdb()
        client.close()
        engine.dispose()
        server.stop()
        sys.modules.pop("celery_fleet_app", None)


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _titles(server, mailbox):
    return sorted(item.title for item in server.events(mailbox))


def test_a_worker_killed_mid_sync_is_retried_without_duplicates(fleet):
    """SIGKILL the worker while it writes alice's calendar (a create in flight on the
    server); a new worker gets the job again, takes the dead run's lease over and
    finishes; every meeting exists once (S3), and one more sync writes nothing."""
    server, module, client, activations, start_worker, tmp_path = fleet
    tasks = module.tasks
    activations.remove("bob")  # S2: bob turned sync off: never fanned out, never synced
    server.slow(0.3, count=10_000)
    first = start_worker()
    assert tasks.fan_out.apply().get() == {"due": 1, "queued": 1}
    assert tasks.enqueue("user:alice") is None  # one queued job per pair at a time
    _wait(lambda: len(server.events("alice@contoso.com")) >= 3, 60, "the first creates")
    task_id = client.get(tasks.queued_key("user:alice")).decode()
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    written_before = len(server.events("alice@contoso.com"))
    assert written_before < MEETINGS  # killed mid-task
    server.clear_faults()
    start_worker()
    _wait(lambda: client.get(tasks.queued_key("user:alice")) is None, 90, "the retried job")
    expected = sorted(f"alice meeting {n}" for n in range(MEETINGS))
    assert _titles(server, "alice@contoso.com") == expected  # each exactly once
    assert server.events("bob@contoso.com") == []
    retried = (tmp_path / "worker-1.log").read_text(encoding="utf-8")
    assert f"sync_pair[{task_id}] succeeded" in retried  # the same job, delivered again
    schedule = module.RedisScheduleStore(client, prefix="fleet").get("user:alice")
    assert schedule is not None
    assert schedule.failures == 0
    # One more sync of alice: nothing to write.
    server.reset_stats()
    client.delete("fleet:due")
    assert tasks.enqueue("user:alice") is not None
    _wait(lambda: client.get(tasks.queued_key("user:alice")) is None, 60, "the second job")
    writes = {k: v for k, v in server.counts().items() if not k.startswith("GET")}
    assert writes == {}
    assert _titles(server, "alice@contoso.com") == expected


def _wait_job(client, tasks, pair_id):
    _wait(lambda: client.get(tasks.queued_key(pair_id)) is None, 60, f"the job of {pair_id}")


def test_a_notification_queues_an_early_sync_that_brings_the_change_in(fleet):
    """S11: the receiver's sink (CeleryRunner.signal) queues the pair at once; the worker's
    delta round brings the new event into Severa; a second signal while it is queued
    queues nothing more."""
    server, module, client, _activations, start_worker, tmp_path = fleet
    tasks = module.tasks
    start_worker()
    assert tasks.enqueue("user:alice") is not None
    _wait_job(client, tasks, "user:alice")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    item = CalendarItem("Dentist", start, start + timedelta(hours=1))
    server.user_create("alice@contoso.com", item)
    signal = Signal(SignalKind.CHANGED, "user:alice", "alice@contoso.com", "sub-1")
    tasks.signal(signal)
    tasks.signal(signal)  # Graph may post twice: still one job
    assert client.llen("severa-test") <= 1
    _wait_job(client, tasks, "user:alice")
    text = (tmp_path / "alice.json").read_text(encoding="utf-8")
    assert "Dentist" in text
