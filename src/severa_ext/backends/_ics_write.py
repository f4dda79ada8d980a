"""``CalendarItem`` to VEVENT properties, changing only what the model keeps.

Private helper of :mod:`severa_ext.backends.ics`. Every other property, parameter and
subcomponent (alarms, attendees, ``X-`` properties) of an existing VEVENT is left as
it was, so a rewrite preserves what other tools stored.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Component, Event
from icalendar.prop import vInline

from severa_ext.backends._ics_emit import escape_text
from severa_ext.backends._ics_index import SYNC_KEY_PROPERTY, value_of
from severa_ext.sync.items import CalendarItem, ShowAs

__all__ = ["apply_item", "new_event", "new_override", "when_value"]

_CDO_NAMES = {
    ShowAs.TENTATIVE: "TENTATIVE",
    ShowAs.OOF: "OOF",
    ShowAs.WORKING_ELSEWHERE: "WORKINGELSEWHERE",
    ShowAs.UNKNOWN: "UNKNOWN",
}


def when_value(value: datetime | date) -> datetime | date:
    """A value icalendar writes faithfully: IANA zones keep their TZID, others go UTC."""
    if isinstance(value, datetime):
        if isinstance(value.tzinfo, ZoneInfo) and value.tzinfo.key not in ("UTC", "Etc/UTC"):
            return value
        return value.astimezone(UTC)
    return value


def _set(component: Component, name: str, value: object) -> None:
    if name in component:
        del component[name]
    component.add(name, value)


def _is_floating(component: Component, name: str) -> bool:
    """Whether ``name`` holds a floating DATE-TIME (no ``Z``, no ``TZID``)."""
    prop: Any = component.get(name)
    if prop is None or isinstance(prop, list) or "TZID" in prop.params:
        return False
    value = value_of(prop)
    return isinstance(value, datetime) and value.tzinfo is None


def _keep_floating(value: datetime | date, floating: tzinfo) -> datetime | date:
    """``value`` as the wall time of the zone floating times are read in, without a zone."""
    if not isinstance(value, datetime):
        return value
    return value.astimezone(floating).replace(tzinfo=None)


def _set_text(component: Component, name: str, text: str) -> None:
    if name in component:
        del component[name]
    if text:
        component.add(name, text)


def apply_item(
    component: Component,
    item: CalendarItem,
    *,
    now: datetime,
    sync_key: str | None = None,
    floating: tzinfo | None = None,
) -> bool:
    """Write the kept fields of ``item`` into ``component``.

    ``floating``: the zone floating times of this file are read in. A DTSTART (and its
    DTEND) that was floating stays floating: the new time is written as that zone's
    wall time without ``Z`` or ``TZID``, so a rewrite never turns a floating event
    into a zoned one.

    Returns:
        True when a DATE-TIME with a TZID was written (the calendar then needs the
        matching VTIMEZONE).
    """
    _set_text(component, "SUMMARY", item.title)
    _set_text(component, "LOCATION", item.location)
    _set_text(component, "DESCRIPTION", item.body)
    start, end = when_value(item.start), when_value(item.end)
    if floating is not None and _is_floating(component, "DTSTART"):
        start, end = _keep_floating(item.start, floating), _keep_floating(item.end, floating)
    _set(component, "DTSTART", start)
    if "DURATION" in component:
        del component["DURATION"]
    _set(component, "DTEND", end)
    current_class = str(component.get("CLASS", "")).strip().upper()
    if item.private:
        if current_class in ("", "PUBLIC"):
            _set(component, "CLASS", "PRIVATE")
    elif current_class not in ("", "PUBLIC"):
        _set(component, "CLASS", "PUBLIC")
    _set(component, "TRANSP", "TRANSPARENT" if item.show_as is ShowAs.FREE else "OPAQUE")
    cdo = _CDO_NAMES.get(item.show_as)
    if cdo is not None:
        _set(component, "X-MICROSOFT-CDO-BUSYSTATUS", cdo)
    elif "X-MICROSOFT-CDO-BUSYSTATUS" in component:
        _set(component, "X-MICROSOFT-CDO-BUSYSTATUS", item.show_as.name)
    if "CATEGORIES" in component:
        del component["CATEGORIES"]
    if item.categories:
        # Escaped here: icalendar's own escaping reads a backslash before "N" as a
        # newline (RFC 5545 3.3.11 escapes the backslash itself).
        component.add("CATEGORIES", vInline(",".join(escape_text(c) for c in item.categories)))
    if sync_key is not None:
        _set(component, SYNC_KEY_PROPERTY, sync_key)
    stamp = now.astimezone(UTC).replace(microsecond=0)
    _set(component, "LAST-MODIFIED", stamp)
    _set(component, "DTSTAMP", stamp)
    sequence = component.get("SEQUENCE")
    try:
        number = int(sequence) + 1 if sequence is not None else 0
    except (TypeError, ValueError):
        number = 0
    _set(component, "SEQUENCE", number)
    return any(
        isinstance(v, datetime) and v.tzinfo is not None and v.tzinfo is not UTC
        for v in (start, end)
    )


def new_event(uid: str) -> Event:
    """An empty VEVENT with ``uid``."""
    event = Event()
    event.add("UID", uid)
    return event


def new_override(master: Component, original_start: datetime | date) -> Event:
    """A RECURRENCE-ID override of ``master`` for one occurrence, copying its extras."""
    event = Event.from_ical(master.to_ical())
    assert isinstance(event, Event)
    for name in ("RRULE", "RDATE", "EXDATE", "RECURRENCE-ID"):
        if name in event:
            del event[name]
    value = (
        original_start.astimezone(UTC) if isinstance(original_start, datetime) else original_start
    )
    event.add("RECURRENCE-ID", value)
    return event
