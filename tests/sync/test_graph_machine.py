"""The sync state machine with Graph on side B, over real HTTP (invariants 1-5, S3, S9).

Side A is the memory activity side; side B is ``GraphBackend`` against a private
``FakeGraphServer``: transient faults arrive as HTTP answers (429, 5xx, dropped
connections, 412 inside batches), crashes and concurrent edits around the calls.
Each example starts a server, so CI runs a small count; ``HYPOTHESIS_PROFILE=soak``
runs twenty times as many.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from severa_ext.testing.graph_server import graph_driver
from severa_ext.testing.machine import make_sync_machine
from support import scaled

pytestmark = pytest.mark.slow

TestGraphSyncMachine = make_sync_machine(
    side_b=graph_driver(batch_size=3), name="GraphSyncMachine"
).TestCase
TestGraphSyncMachine.settings = settings(
    max_examples=scaled(30),
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
