"""A side driver of ``severa_ext.testing.machine``: Severa over HTTP on side A.

The engine syncs a real :class:`~severa_ext.backends.severa.SeveraBackend` talking
to a private :class:`~severa_ext.testing.severa_server.FakeSeveraServer`; the "user"
edits the fake's activities directly, as a Severa user would. The machine's activity
types (``meeting``, ``travel``, ``internal``) are types of the fake with those guids;
an item without a type gets ``untyped`` (a type no policy sends), and a project task
is an activity of a project phase (S8). Throttling (429 with ``Retry-After``), 5xx
and dropped connections are HTTP answers of the fake; crashes after a write,
concurrent edits and stale etags come from a
:class:`~severa_ext.testing.faults.FaultyBackend` around the backend.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

import requests

from severa_ext.backends.severa import SeveraBackend, SeveraCredentials
from severa_ext.backends.severa._mapping import activity_to_item, join_notes, split_notes
from severa_ext.clock import Clock
from severa_ext.errors import NotFound
from severa_ext.sync.items import CalendarItem
from severa_ext.testing._side_driver import WireSideDriver
from severa_ext.testing.faults import Fault, FaultKind, FaultyBackend
from severa_ext.testing.severa_server import FakeSeveraServer

__all__ = ["SeveraSideDriver", "severa_driver"]

EMAIL = "alice@example.com"
MACHINE_TYPES = ("meeting", "travel", "internal", "untyped")
_PHASE = {"guid": "phase-1", "name": "Build"}
_KINDS = {
    "changes": ("GET activities",),
    "get": ("GET activity",),
    "find": ("GET activities",),
    "create": ("POST activities",),
    "update": ("PATCH activity",),
    "delete": ("DELETE activity",),
    "write": ("POST activities", "PATCH activity", "DELETE activity"),
}


class SeveraSideDriver(WireSideDriver):
    """Severa (the fake, over HTTP) as one side of the sync machine.

    Args:
        clock: the machine's clock (the fake stamps with it, the backend reads it).
        options: further :class:`~severa_ext.backends.severa.SeveraBackend` options.
    """

    def __init__(self, clock: Clock, **options: Any) -> None:
        self.server = FakeSeveraServer(clock=clock).start()
        self.user = self.server.add_user(EMAIL)
        for guid in MACHINE_TYPES:
            self.server.add_type(guid.title(), guid=guid, is_default=guid == "internal")
        self.session = options.pop("session", None) or requests.Session()
        options.setdefault("page_size", 7)
        options.setdefault("timeout", 10)
        self.severa = SeveraBackend(
            SeveraCredentials(self.server.client_id, self.server.client_secret),
            user_email=EMAIL,
            base_url=self.server.base_url,
            session=self.session,
            clock=clock,
            **options,
        )
        super().__init__(self.server, FaultyBackend(self.severa))

    def _item(self, guid: str) -> CalendarItem:
        raw = self.server.activity(guid)
        if raw is None:
            raise NotFound(f"fake severa: no activity {guid!r}")
        return activity_to_item(raw, zone=self.user.zone, types=self.severa.activity_types())

    def _fields(self, item: CalendarItem, notes_key: str | None) -> dict[str, Any]:
        zone = self.user.zone

        def spell(value: datetime | date) -> str:
            if isinstance(value, datetime):
                return value.astimezone(zone).isoformat()
            return datetime.combine(value, time(0), tzinfo=zone).isoformat()

        return {
            "name": item.title,
            "startDateTime": spell(item.start),
            "endDateTime": spell(item.end),
            "isAllDay": item.all_day,
            "location": item.location or None,
            "notes": join_notes(item.body, notes_key),
        }

    def user_create(self, item: CalendarItem) -> CalendarItem:
        """Create ``item`` as the user would in Severa."""
        fields = self._fields(item, item.sync_key)
        fields.pop("name")
        start, end = fields.pop("startDateTime"), fields.pop("endDateTime")
        if item.project_task:
            fields["phase"] = _PHASE
        made = self.server.organisation.create_activity(
            {
                "name": item.title,
                "startDateTime": start,
                "endDateTime": end,
                "activityType": {"guid": item.activity_type or "untyped"},
                "ownerUser": {"guid": self.user.guid},
                **fields,
            }
        )
        return self._item(made.guid)

    def user_update(self, item_id: str, **changes: Any) -> CalendarItem:
        """Edit fields of an activity as the user (the notes keep their key line)."""
        current = self._item(item_id)
        raw = self.server.activity(item_id) or {}
        _, key = split_notes(raw.get("notes"))
        wanted = current.evolve(**changes)
        fields = self._fields(wanted, key)
        self.server.edit_activity(item_id, **fields)
        if wanted.activity_type != current.activity_type and wanted.activity_type:
            self.server.organisation.patch_activity(
                item_id,
                [{"op": "Replace", "path": "/activityType/guid", "value": wanted.activity_type}],
            )
        return self._item(item_id)

    def user_delete(self, item_id: str) -> None:
        """Delete an activity as the user."""
        self.server.delete_activity(item_id)

    def snapshot(self) -> list[CalendarItem]:
        """Every activity of the user (series masters aside), as items."""
        return [
            self._item(raw["guid"])
            for raw in self.server.activities(self.user.guid)
            if raw.get("recurrenceType") != "Series"
        ]

    def inject(self, operation: str, fault: Fault, *, times: int = 1) -> bool:
        """Arm ``fault`` for the next ``times`` calls of ``operation``."""
        kinds = _KINDS.get(operation)
        if kinds is None:
            return False
        kind = fault.kind
        if kind in {FaultKind.CALL, FaultKind.CRASH_AFTER_WRITE, FaultKind.STALE_ETAG}:
            self._backend.inject(operation, fault, times=times)
        elif kind is FaultKind.THROTTLE:
            self.server.throttle(times, retry_after=fault.retry_after, kinds=kinds)
        elif kind is FaultKind.UNAVAILABLE:
            self.server.fail(times, status=500, kinds=kinds)
        else:  # a timeout: the connection drops
            self.server.drop_connections(times, kinds=kinds)
        return True

    def _release(self) -> None:
        self.session.close()


def severa_driver(**options: Any) -> Callable[[Clock], SeveraSideDriver]:
    """A driver factory for ``make_sync_machine(side_a=...)``; options go to
    :class:`SeveraSideDriver`."""

    def make(clock: Clock) -> SeveraSideDriver:
        return SeveraSideDriver(clock, **options)

    return make
