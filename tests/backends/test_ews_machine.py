"""The sync state machine with the EWS backend on side B, over real HTTP (S3, S11).

Side A is the machine's memory activity side; side B is ``EwsBackend`` talking SOAP to
``FakeEwsServer``, whose user edits the calendar directly. Faults arrive on the wire
(``ErrorServerBusy`` with ``BackOffMilliseconds``, ``ErrorMailboxStoreUnavailable``,
``ErrorIrresolvableConflict``) or as crashes after writes; after each faulty sync a
fault-free one must restore the five invariants (no duplicates, convergence,
idempotence, no loss, deletes propagate).
"""

from __future__ import annotations

import pytest
from hypothesis import settings

from severa_ext.clock import Clock
from severa_ext.testing.ews_server import EwsSideDriver, FakeEwsServer
from severa_ext.testing.machine import make_sync_machine
from support import scaled

pytestmark = pytest.mark.slow


def ews_side(clock: Clock) -> EwsSideDriver:
    return EwsSideDriver(FakeEwsServer(clock=clock).start())


TestEwsSyncMachine = make_sync_machine(side_b=ews_side, name="EwsSyncMachine").TestCase
TestEwsSyncMachine.settings = settings(max_examples=scaled(25), stateful_step_count=15)
