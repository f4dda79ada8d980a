"""The sync state machine with Severa on side A, over real HTTP (invariants 1-5, S3,
S8, S9, S11).

Side A is ``SeveraBackend`` against a private ``FakeSeveraServer`` (the user edits the
fake's activities), side B the machine's memory calendar, an ICS file, Graph over HTTP
or EWS over SOAP.
Transient faults arrive as HTTP answers (429 with Retry-After, 5xx, dropped
connections), crashes and concurrent edits around the calls. Each example starts a
server, so CI runs a small count; ``HYPOTHESIS_PROFILE=soak`` runs more.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings

from backends.test_ics_machine import IcsDriver
from severa_ext.clock import Clock
from severa_ext.testing._severa_driver import severa_driver
from severa_ext.testing.ews_server import EwsSideDriver, FakeEwsServer
from severa_ext.testing.graph_server import graph_driver
from severa_ext.testing.machine import make_sync_machine
from support import scaled

pytestmark = pytest.mark.slow

_SETTINGS = settings(
    max_examples=scaled(15),
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TestSeveraMemoryMachine = make_sync_machine(
    side_a=severa_driver(delete_check_interval=timedelta(0)), name="SeveraMemorySyncMachine"
).TestCase
TestSeveraMemoryMachine.settings = _SETTINGS

TestSeveraGraphMachine = make_sync_machine(
    side_a=severa_driver(delete_check_interval=timedelta(0)),
    side_b=graph_driver(batch_size=3),
    name="SeveraGraphSyncMachine",
).TestCase
TestSeveraGraphMachine.settings = _SETTINGS


def _ews_side(clock: Clock) -> EwsSideDriver:
    return EwsSideDriver(FakeEwsServer(clock=clock).start())


TestSeveraIcsMachine = make_sync_machine(
    side_a=severa_driver(delete_check_interval=timedelta(0)),
    side_b=IcsDriver,
    name="SeveraIcsSyncMachine",
).TestCase
TestSeveraIcsMachine.settings = _SETTINGS

TestSeveraEwsMachine = make_sync_machine(
    side_a=severa_driver(delete_check_interval=timedelta(0)),
    side_b=_ews_side,
    name="SeveraEwsSyncMachine",
).TestCase
TestSeveraEwsMachine.settings = _SETTINGS
