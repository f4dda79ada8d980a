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


class _Drawn:
    """A stand-in for hypothesis' ``data`` that draws one fixed value."""

    def __init__(self, value: object) -> None:
        self.value = value

    def draw(self, _strategy: object) -> object:
        return self.value


def test_twins_edited_apart_and_back_during_a_sync_are_new_entries_not_copies():
    """Found by the soak profile: two copies (S3) that a user edited apart before a
    sync, and back to equal while it wrote, are not copies when it listed them; each
    travels as a new entry, and the oracle asks no link between them."""
    from datetime import UTC, date, datetime

    from severa_ext.sync.items import ShowAs

    start = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
    timed = {"start": start, "end": start}
    state = SyncMachine()
    try:
        content = {**timed, "location": "", "body": "", "private": False}
        content |= {"show_as": ShowAs.BUSY, "categories": []}
        state.create_on_both_sides(content=content, activity_type="meeting", project_task=False)
        all_day = {"start": date(2026, 5, 4), "end": date(2026, 5, 5)}
        state.edit(side="a", index=0, name="when", data=_Drawn(all_day))
        state.sync_with_concurrent_edit(side="a", index=0, name="when", data=_Drawn(timed))
        assert len(state.sides["a"].snapshot()) == len(state.sides["b"].snapshot()) == 2
    finally:
        state.teardown()
