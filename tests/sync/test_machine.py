"""The sync state machine over two memory backends (DESIGN invariants 1-5, S3, S8, S9).

CI runs a fixed count: ``scaled(1500)`` examples of up to 40 steps each (up to 60,000
steps in all); ``HYPOTHESIS_PROFILE=soak`` runs twenty times as many.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

from severa_ext.backends.memory import MemoryBackend
from severa_ext.sync.items import Capabilities
from severa_ext.sync.policy import ConflictRule, SyncPolicy
from severa_ext.testing.machine import MemoryDriver, SyncMachine, make_sync_machine
from support import scaled

pytestmark = pytest.mark.slow

MACHINE_SETTINGS = settings(max_examples=scaled(1500), stateful_step_count=40)

TestSyncMachine = SyncMachine.TestCase
TestSyncMachine.settings = MACHINE_SETTINGS

# The same machine without delta cursors or batching on side B (full listings each run).
TestSyncMachineFullListings = make_sync_machine(
    side_b=lambda clock: MemoryDriver(
        MemoryBackend("plain", capabilities=Capabilities(), clock=clock)
    ),
    name="FullListingSyncMachine",
).TestCase
TestSyncMachineFullListings.settings = settings(max_examples=scaled(200), stateful_step_count=40)


def _sqlite_store():  # type: ignore[no-untyped-def]
    from severa_ext.sync.sqlite import SQLiteStateStore

    return SQLiteStateStore(":memory:")


# The same machine with the SQLite state store: crashes around its commits, its lease,
# its bulk lookups and its codec of base copies (time zones, all-day dates).
TestSyncMachineSQLiteStore = make_sync_machine(
    store=_sqlite_store, name="SQLiteStoreSyncMachine"
).TestCase
TestSyncMachineSQLiteStore.settings = settings(max_examples=scaled(200), stateful_step_count=40)

# Plain calendar <-> calendar sync where side B wins every conflict.
TestSyncMachineCalendarsBWins = make_sync_machine(
    policy=SyncPolicy.calendars(conflict_rule=ConflictRule.B_WINS),
    name="CalendarsBWinsSyncMachine",
).TestCase
TestSyncMachineCalendarsBWins.settings = settings(max_examples=scaled(200), stateful_step_count=40)

# Side A keeps no show_as (like the activity adapter): convergence, merges and verify
# compare only the fields both sides keep, and B's show_as is never overwritten.
_NO_SHOW_AS = Capabilities(
    delta=True,
    batch_size=50,
    content_fields=frozenset(
        {"title", "start", "end", "location", "body", "private", "categories"}
    ),
)
TestSyncMachineSideADropsShowAs = make_sync_machine(
    side_a=lambda clock: MemoryDriver(
        MemoryBackend("severa", capabilities=_NO_SHOW_AS, clock=clock)
    ),
    name="SideADropsShowAsSyncMachine",
).TestCase
TestSyncMachineSideADropsShowAs.settings = settings(
    max_examples=scaled(200), stateful_step_count=40
)
