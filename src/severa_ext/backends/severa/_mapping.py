"""Severa activities <-> calendar items (pure: no I/O, no clock).

==============================  ===============================================
``ActivityModel``               ``CalendarItem``
==============================  ===============================================
``name``                        ``title``
``startDateTime``/``endDateTime``  ``start``/``end`` (no offset: the owner's zone)
``isAllDay``                    dates (``end`` exclusive)
``location``                    ``location``
``notes``                       ``body`` (without the sync-key line)
``activityType.guid``           ``activity_type``
the type's category             ``private`` (Personal) and ``project_task`` (Task)
``phase``                       ``project_task`` (an activity of a project phase)
``recurrenceParentActivityGuid``  ``series_id`` (occurrences and exceptions)
``lastUpdatedDateTime``         ``last_modified`` (and, with the content, ``etag``)
==============================  ===============================================

**The sync key.** Activities have no field for an external id, so the key the engine
stamps on what it creates rides in the notes as one last line,
``[severa-ext:sync-key=<key>]``, which :func:`split_notes` takes off again; the
calendar never sees it, and updates keep it.

**The etag.** There is no ETag; an activity's etag is a digest of its
``lastUpdatedDateTime`` and the fields the sync writes, so any change (by anyone)
changes it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from severa_ext.errors import BadItem, ValidationError
from severa_ext.sync.items import CalendarItem

__all__ = [
    "SEVERA_CONTENT_FIELDS",
    "SeveraActivityType",
    "SeveraUser",
    "activity_body",
    "activity_etag",
    "activity_to_item",
    "join_notes",
    "patch_operations",
    "split_notes",
]

SEVERA_CONTENT_FIELDS: tuple[str, ...] = ("title", "start", "end", "location", "body")
"""What an activity keeps of an item: no free/busy state, no categories, and no
private flag (the Personal category is the nearest; see the mapping table)."""

_MARKER = re.compile(r"(?:\r?\n)*\[severa-ext:sync-key=([A-Za-z0-9._:-]{1,128})\][ \t\r\n]*\Z")
_PATCHED = ("name", "startDateTime", "endDateTime", "isAllDay", "location", "notes")
_BACKEND = "severa"
_MAX_LOCATION = 1000


@attrs.frozen
class SeveraActivityType:
    """An activity type of the organisation (``GET /v1/activitytypes``).

    Attributes:
        category: ``Personal``, ``Absences``, ``CalendarEntry``, ``SalesEvent`` or
            ``Task``; activities of a ``Task`` type are project tasks (S8).
    """

    guid: str
    name: str
    category: str
    is_active: bool = True
    is_default: bool = False

    @property
    def is_project_task(self) -> bool:
        """True for the Task category, which never goes to the calendar (S8)."""
        return self.category == "Task"


@attrs.frozen
class SeveraUser:
    """The Severa user whose activities a backend syncs (``GET /v1/users``).

    Attributes:
        zone: the user's time zone (``timezone.ianaName``; UTC when unknown); times
            the API answers without an offset are read in it (S11).
        default_type: the user's default activity type guid, if any.
    """

    guid: str
    email: str
    zone: ZoneInfo
    default_type: str | None = None


def split_notes(notes: object) -> tuple[str, str | None]:
    """The notes without the sync-key line, and the key (``None`` if there is none)."""
    if not isinstance(notes, str):
        return "", None
    match = _MARKER.search(notes)
    if match is None:
        return notes, None
    return notes[: match.start()], match.group(1)


def join_notes(body: str, sync_key: str | None) -> str | None:
    """The notes that store ``body`` and ``sync_key`` (``None`` when both are empty)."""
    if sync_key is None:
        return body or None
    if not re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", sync_key):
        raise ValidationError(
            f"a sync key Severa can store is 1..128 of [A-Za-z0-9._:-], got {sync_key!r}"
        )
    marker = f"[severa-ext:sync-key={sync_key}]"
    return f"{body}\n\n{marker}" if body else marker


def _instant(value: object, zone: ZoneInfo, *, ref: str, name: str) -> datetime:
    if not isinstance(value, str):
        raise BadItem(ref, f"{name} is not a date-time string", backend=_BACKEND)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadItem(ref, f"{name} {value[:40]!r} is not a date-time", backend=_BACKEND) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def _days(start: datetime, end: datetime | None, zone: ZoneInfo) -> tuple[date, date]:
    first = start.astimezone(zone).date()
    if end is None:
        return first, first + timedelta(days=1)
    local_end = end.astimezone(zone)
    after = (
        local_end.date() if local_end.time() == time(0) else local_end.date() + timedelta(days=1)
    )
    return first, max(after, first + timedelta(days=1))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


UNTITLED = "(no title)"
"""The name an untitled calendar entry gets in Severa, which requires one (S9: every
entry comes in); read back as an empty title, so it never travels to the calendar."""


def _title(name: object) -> str:
    text = _text(name)
    return "" if text == UNTITLED else text


def activity_etag(raw: Mapping[str, Any]) -> str:
    """The etag of a raw activity: its last update and the fields the sync writes."""
    activity_type = raw.get("activityType")
    type_guid = activity_type.get("guid") if isinstance(activity_type, dict) else None
    parts = [str(raw.get(name)) for name in ("lastUpdatedDateTime", *_PATCHED)]
    parts.append(str(type_guid))
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=10).hexdigest()


def activity_to_item(
    raw: Mapping[str, Any], *, zone: ZoneInfo, types: Mapping[str, SeveraActivityType]
) -> CalendarItem:
    """The calendar item of one ``ActivityModel``.

    Raises:
        BadItem: no guid, unreadable times, or an activity type the organisation
            does not have.
    """
    guid = raw.get("guid")
    if not isinstance(guid, str) or not guid:
        raise BadItem(str(raw.get("name", "?"))[:60], "activity without a guid", backend=_BACKEND)
    activity_type = raw.get("activityType")
    type_guid = activity_type.get("guid") if isinstance(activity_type, dict) else None
    known = types.get(type_guid) if isinstance(type_guid, str) else None
    if known is None:
        raise BadItem(guid, f"unknown activity type {type_guid!r}", backend=_BACKEND)
    start = _instant(raw.get("startDateTime"), zone, ref=guid, name="startDateTime")
    end_raw = raw.get("endDateTime")
    end = None if end_raw is None else _instant(end_raw, zone, ref=guid, name="endDateTime")
    when: tuple[datetime | date, datetime | date]
    if raw.get("isAllDay") is True:
        when = _days(start, end, zone)
    else:
        when = (start, max(end, start) if end is not None else start)
    body, key = split_notes(raw.get("notes"))
    phase = raw.get("phase")
    updated = raw.get("lastUpdatedDateTime")
    parent = raw.get("recurrenceParentActivityGuid")
    try:
        return CalendarItem(
            title=_title(raw.get("name")),
            start=when[0],
            end=when[1],
            location=_text(raw.get("location")),
            body=body,
            private=known.category == "Personal",
            last_modified=(
                _instant(updated, zone, ref=guid, name="lastUpdatedDateTime")
                if isinstance(updated, str)
                else None
            ),
            id=guid,
            etag=activity_etag(raw),
            sync_key=key,
            series_id=parent if isinstance(parent, str) and parent else None,
            original_start=start if raw.get("recurrenceType") == "Occurrence" else None,
            activity_type=known.guid,
            project_task=known.is_project_task
            or (isinstance(phase, dict) and bool(phase.get("guid"))),
        )
    except ValidationError as exc:
        raise BadItem(guid, str(exc), backend=_BACKEND) from exc


def _spell(value: datetime | date, zone: ZoneInfo) -> str:
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat(timespec="seconds")
    midnight = datetime.combine(value, time(0), tzinfo=zone)
    return midnight.isoformat(timespec="seconds")


def activity_body(
    item: CalendarItem, *, owner: SeveraUser, type_guid: str, sync_key: str | None
) -> dict[str, Any]:
    """The ``ActivityModel`` that stores ``item`` for ``owner`` (a create's body).

    Times are spelt in the owner's zone with the offset; an all-day item runs from
    the owner's midnight of its first day to the midnight after its last.

    Raises:
        BadItem: a location longer than Severa keeps (1000 characters).

    An entry without a title is named :data:`UNTITLED` (Severa requires a name).
    """
    ref = item.id or sync_key or item.title
    if len(item.location) > _MAX_LOCATION:
        raise BadItem(
            ref, f"Severa keeps at most {_MAX_LOCATION} characters of location", backend=_BACKEND
        )
    return {
        "name": item.title if item.title.strip() else UNTITLED,
        "startDateTime": _spell(item.start, owner.zone),
        "endDateTime": _spell(item.end, owner.zone),
        "isAllDay": item.all_day,
        "location": item.location or None,
        "notes": join_notes(item.body, sync_key),
        "activityType": {"guid": type_guid},
        "ownerUser": {"guid": owner.guid},
    }


def patch_operations(
    current: Mapping[str, Any], wanted: Mapping[str, Any], *, zone: ZoneInfo
) -> list[dict[str, Any]]:
    """The JSON Patch (``Replace`` operations, values as strings) from ``current`` to
    ``wanted``; empty when nothing the sync writes differs."""
    operations: list[dict[str, Any]] = []
    for name in _PATCHED:
        old, new = current.get(name), wanted.get(name)
        if name in {"startDateTime", "endDateTime"} and _same_instant(old, new, zone):
            continue
        same = (old or None) == (new or None) if name in {"location", "notes"} else old == new
        if same:
            continue
        value = ("true" if new else "false") if name == "isAllDay" else new
        operations.append({"op": "Replace", "path": f"/{name}", "value": value})
    old_type = current.get("activityType")
    new_type = wanted.get("activityType")
    old_guid = old_type.get("guid") if isinstance(old_type, dict) else None
    new_guid = new_type.get("guid") if isinstance(new_type, dict) else None
    if new_guid is not None and new_guid != old_guid:
        operations.append({"op": "Replace", "path": "/activityType/guid", "value": new_guid})
    return operations


def _same_instant(old: object, new: object, zone: ZoneInfo) -> bool:
    if not isinstance(old, str) or not isinstance(new, str):
        return old == new
    try:
        first = _instant(old, zone, ref="", name="")
        second = _instant(new, zone, ref="", name="")
    except BadItem:
        return False
    return first == second
