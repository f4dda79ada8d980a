"""The sync state machine with an ICS file on side B (invariants 1-5, S3, S8, S9).

Side A is the machine's memory activity side; side B is :class:`IcsBackend` on a real
file in a temporary folder. The "user" of side B edits the file directly (parse,
change, atomic replace), as another calendar program would, so every sync re-reads a
file that changed behind its back. Faults are injected around the backend's calls by
``severa_ext.testing.faults.FaultyBackend``: throttling, 5xx, timeouts, stale etags, a
user edit between listing and writing, and a crash after the file was written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from icalendar import Calendar

from severa_ext.backends._ics_write import apply_item, new_event
from severa_ext.backends.ics import IcsBackend
from severa_ext.backends.memory import Fault
from severa_ext.clock import Clock
from severa_ext.errors import NotFound
from severa_ext.sync.items import CalendarItem, Capabilities, Window, new_sync_key
from severa_ext.testing.faults import FaultyBackend
from severa_ext.testing.machine import make_sync_machine
from support import scaled

pytestmark = pytest.mark.slow

EVERYTHING = Window(datetime(1990, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


class IcsDriver:
    """A ``SideDriver``: the engine syncs an ICS file, the "user" edits it directly."""

    def __init__(self, clock: Clock) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="ics-machine-"))
        self.path = self._folder / "calendar.ics"
        self._clock = clock
        self._backend = FaultyBackend(
            IcsBackend(self.path, clock=clock, create_missing=True),
            capabilities=Capabilities(delta=False, batch_size=3, sync_key_lookup=False),
        )

    @property
    def backend(self) -> FaultyBackend:
        return self._backend

    def _load(self) -> Calendar:
        return Calendar.from_ical(self.path.read_bytes())

    def _save(self, calendar: Calendar) -> None:
        old = self.path.stat().st_mtime_ns
        tmp = self.path.with_suffix(".user")
        tmp.write_bytes(calendar.to_ical())
        tmp.replace(self.path)
        stamp = max(old + 1_000_000, self.path.stat().st_mtime_ns)
        os.utime(self.path, ns=(stamp, stamp))

    def _reader(self) -> IcsBackend:
        return IcsBackend(self.path)

    def user_create(self, item: CalendarItem) -> CalendarItem:
        calendar = self._load()
        uid = f"user-{new_sync_key()}"
        event = new_event(uid)
        # Another sync tool's copy keeps the X- property with the sync key (S3).
        apply_item(event, item, now=self._clock.now(), sync_key=item.sync_key)
        calendar.add_component(event)
        calendar.add_missing_timezones()
        self._save(calendar)
        created = self._reader().get(uid)
        assert created is not None
        return created

    def user_update(self, item_id: str, **changes: Any) -> CalendarItem:
        current = self._reader().get(item_id)
        if current is None:
            raise NotFound(f"no item {item_id!r}")
        calendar = self._load()
        event = next(c for c in calendar.walk("VEVENT") if str(c.get("UID")) == item_id)
        apply_item(event, current.evolve(**changes), now=self._clock.now())
        calendar.add_missing_timezones()
        self._save(calendar)
        updated = self._reader().get(item_id)
        assert updated is not None
        return updated

    def user_delete(self, item_id: str) -> None:
        calendar = self._load()
        event = next(c for c in calendar.walk("VEVENT") if str(c.get("UID")) == item_id)
        calendar.subcomponents.remove(event)
        self._save(calendar)

    def snapshot(self) -> list[CalendarItem]:
        reader = self._reader()
        items = list(reader.changes(None, EVERYTHING).items)
        assert not reader.problems, reader.problems
        return items

    def inject(self, operation: str, fault: Fault, *, times: int = 1) -> bool:
        self._backend.inject(operation, fault, times=times)
        return True

    def clear_faults(self) -> None:
        self._backend.clear_faults()

    def write_count(self) -> int:
        return self._backend.write_count

    def close(self) -> None:
        self._backend.close()
        shutil.rmtree(self._folder, ignore_errors=True)


TestIcsSyncMachine = make_sync_machine(side_b=IcsDriver, name="IcsSyncMachine").TestCase
TestIcsSyncMachine.settings = settings(
    max_examples=scaled(30),
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
