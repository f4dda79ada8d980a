"""The records a ``FakeSeveraServer`` keeps, and how each reads and writes on the wire.

Written from the published description of Severa's REST API (the calendar-sync
subset), independently of the client in ``severa_ext.backends.severa``: nothing here
imports it. Times are kept as aware instants; on the wire they are spelt in the owner's
time zone, with the offset (the default) or without it (``offsets=False``, the way a
server that serialises local ``DateTime`` values would answer).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import attrs

__all__ = [
    "CATEGORIES",
    "FakeActivity",
    "FakeActivityType",
    "FakeUser",
    "WireError",
    "invalid",
    "parse_instant",
    "spell",
]

CATEGORIES = ("Personal", "Absences", "CalendarEntry", "SalesEvent", "Task")
"""The ``ActivityCategory`` enum of the description."""


class WireError(Exception):
    """A request the fake refuses: becomes an ``ExceptionModel`` answer."""

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        *,
        location: str | None = None,
        where: str = "RequestBody",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.location = location
        self.where = where

    def body(self) -> dict[str, Any]:
        """The ``ExceptionModel`` of this error."""
        detail: dict[str, Any] = {"message": self.message, "url": None}
        if self.location is not None:
            detail["location"] = {"identifier": None, "name": self.location, "type": self.where}
        return {
            "error": {
                "httpStatusCode": self.status,
                "type": self.kind,
                "details": [detail],
                "stack": None,
            }
        }


def invalid(message: str, *, location: str | None = None, where: str = "RequestBody") -> WireError:
    """A 400 ``InvalidParameter`` refusal."""
    return WireError(400, "InvalidParameter", message, location=location, where=where)


def parse_instant(text: object, zone: ZoneInfo, *, name: str) -> datetime:
    """A wire date-time as an aware instant; one without an offset is in ``zone``."""
    if not isinstance(text, str) or not text.strip():
        raise invalid(f"{name} must be a date-time string", location=name)
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"{name} is not a date-time: {text[:40]!r}", location=name) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value


def spell(value: datetime, zone: ZoneInfo, *, offsets: bool) -> str:
    """An instant as the fake answers it: the owner's wall clock, to the millisecond."""
    local = value.astimezone(zone)
    text = local.replace(tzinfo=None).isoformat(timespec="milliseconds")
    if not offsets:
        return text
    return text + local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@attrs.define
class FakeUser:
    """A user of the fake organisation (``UserOutputModel``)."""

    guid: str
    seq: int
    email: str
    first_name: str
    last_name: str
    timezone: str = "Europe/Helsinki"
    is_active: bool = True
    default_type: str | None = None
    created: datetime = attrs.field(factory=lambda: datetime.now(UTC))
    updated: datetime = attrs.field(factory=lambda: datetime.now(UTC))

    @property
    def zone(self) -> ZoneInfo:
        """The user's time zone."""
        return ZoneInfo(self.timezone)

    def wire(self) -> dict[str, Any]:
        """The user as ``GET /v1/users`` answers it."""
        wire = {
            "guid": self.guid,
            "email": self.email,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "isActive": self.is_active,
            "timezone": {
                "guid": f"tz-{self.timezone}",
                "ianaName": self.timezone,
                "name": self.timezone,
                "systemName": self.timezone,
            },
            "defaultActivityType": (
                {"guid": self.default_type, "name": None} if self.default_type else None
            ),
            "createdDateTime": _stamp(self.created),
            "lastUpdatedDateTime": _stamp(self.updated),
        }
        return _without_null_refs(wire)


@attrs.define
class FakeActivityType:
    """An activity type (``ActivityTypeModel``)."""

    guid: str
    seq: int
    name: str
    category: str = "CalendarEntry"
    is_active: bool = True
    is_default: bool = False
    created: datetime = attrs.field(factory=lambda: datetime.now(UTC))
    updated: datetime = attrs.field(factory=lambda: datetime.now(UTC))

    def wire(self) -> dict[str, Any]:
        """The type as ``GET /v1/activitytypes`` answers it."""
        return {
            "guid": self.guid,
            "name": self.name,
            "category": self.category,
            "isActive": self.is_active,
            "isDefault": self.is_default,
            "isPaidLeave": False,
            "code": None,
            "createdDateTime": _stamp(self.created),
            "lastUpdatedDateTime": _stamp(self.updated),
        }


@attrs.define
class FakeActivity:
    """An activity (``ActivityModel``): a single one, a series, an occurrence or an
    exception of a series.

    Attributes:
        seq: the order of creation (the listing order, and what page tokens point at).
        original_start: for occurrences and exceptions, the start the series gave it.
    """

    guid: str
    seq: int
    name: str
    start: datetime
    end: datetime | None
    type_guid: str
    owner_guid: str
    is_all_day: bool = False
    location: str | None = None
    notes: str | None = None
    is_closed: bool = False
    phase: dict[str, Any] | None = None
    customer: dict[str, Any] | None = None
    recurrence_type: str = "None"
    parent_guid: str | None = None
    recurrence: dict[str, Any] | None = None
    original_start: datetime | None = None
    created: datetime = attrs.field(factory=lambda: datetime.now(UTC))
    updated: datetime = attrs.field(factory=lambda: datetime.now(UTC))

    @property
    def finish(self) -> datetime:
        """The end used by window filters (the start when there is no end)."""
        return self.end if self.end is not None else self.start

    def wire(
        self,
        *,
        zone: ZoneInfo,
        offsets: bool,
        types: Mapping[str, FakeActivityType],
        owner_name: str,
    ) -> dict[str, Any]:
        """The activity as the API answers it."""
        activity_type = types.get(self.type_guid)
        wire = {
            "guid": self.guid,
            "name": self.name,
            "startDateTime": spell(self.start, zone, offsets=offsets),
            "endDateTime": None if self.end is None else spell(self.end, zone, offsets=offsets),
            "isAllDay": self.is_all_day,
            "hasDuration": self.end is not None and self.end > self.start,
            "isClosed": self.is_closed,
            "isUnassigned": False,
            "hasHours": False,
            "location": self.location,
            "notes": self.notes,
            "activityType": {
                "guid": self.type_guid,
                "name": activity_type.name if activity_type else None,
                "category": activity_type.category if activity_type else "CalendarEntry",
            },
            "ownerUser": {"guid": self.owner_guid, "name": owner_name, "code": None},
            "customer": self.customer,
            "phase": self.phase,
            "projectTaskStatus": None,
            "recurrenceType": self.recurrence_type,
            "recurrenceParentActivityGuid": self.parent_guid,
            "recurrenceRule": _rule_text(self.recurrence),
            "recurrence": self.recurrence,
            "createdDateTime": _stamp(self.created),
            "lastUpdatedDateTime": _stamp(self.updated),
        }
        return _without_null_refs(wire)


_REFERENCES = frozenset(
    {"customer", "phase", "projectTaskStatus", "recurrence", "defaultActivityType", "timezone"}
)


def _without_null_refs(wire: dict[str, Any]) -> dict[str, Any]:
    """Leave out empty fields whose schema is a ``$ref``: in OpenAPI 3.0 a ``nullable``
    beside a ``$ref`` is ignored, so the description admits no ``null`` there."""
    return {k: v for k, v in wire.items() if not (v is None and k in _REFERENCES)}


def _rule_text(recurrence: Mapping[str, Any] | None) -> str | None:
    if not recurrence:
        return None
    return f"FREQ={str(recurrence.get('frequency', '')).upper()}"
