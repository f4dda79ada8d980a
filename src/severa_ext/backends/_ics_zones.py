"""Per-file time-zone resolution for ICS (private helper of ``backends.ics``).

``icalendar`` caches VTIMEZONE definitions per process by TZID, so one file's
"Customized Time Zone" would leak into the next file, and it turns an unknown TZID into
a naive (floating) time without a word. Here each file gets its own resolver: a TZID is
an IANA id, a Windows name (through :mod:`severa_ext.backends._timezones`), or defined
by a VTIMEZONE *of that file*; anything else is an error, never a floating time.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any

from icalendar import Calendar
from icalendar.timezone import tzp

from severa_ext.backends._timezones import resolve_zone

__all__ = ["UnknownZone", "ZoneResolver", "format_token", "resolve_value"]


class UnknownZone(ValueError):
    """A TZID that is neither a known zone nor defined in the file."""


class ZoneResolver:
    """Resolves TZIDs for ONE calendar, never sharing custom zones with another file."""

    def __init__(self, calendar: Calendar, floating: tzinfo) -> None:
        self.floating = floating
        self._components: dict[str, Any] = {}
        for component in calendar.subcomponents:
            if component.name == "VTIMEZONE" and "TZID" in component:
                self._components[str(component["TZID"])] = component
        self._cache: dict[str, tzinfo] = {}

    def zone(self, tzid: str) -> tzinfo:
        """The zone named ``tzid`` in this file.

        Raises:
            UnknownZone: the TZID is unknown and the file does not define it.
        """
        cached = self._cache.get(tzid)
        if cached is not None:
            return cached
        zone: tzinfo | None = resolve_zone(tzid)
        if zone is None and tzid.startswith("/"):
            # "Globally unique" TZIDs (/vendor/Europe/Berlin): try the trailing ids.
            parts = tzid.strip("/").split("/")
            for start in range(1, len(parts)):
                zone = resolve_zone("/".join(parts[start:]))
                if zone is not None:
                    break
        if zone is None and tzid in self._components:
            try:
                zone = tzp.create_timezone(self._components[tzid])  # not cached by icalendar
            except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
                raise UnknownZone(f"the VTIMEZONE {tzid!r} of this file is broken: {exc}") from exc
        if zone is None:
            raise UnknownZone(
                f"unknown TZID {tzid!r}: not an IANA or Windows zone and no VTIMEZONE "
                "defines it in this file"
            )
        self._cache[tzid] = zone
        return zone


def resolve_value(value: Any, tzid: str | None, resolver: ZoneResolver) -> datetime | date:
    """An aware datetime (or a date) for one DATE / DATE-TIME value of the file.

    A TZID is resolved by this file's resolver from the wall time as written (whatever
    icalendar's process-wide cache attached); UTC stays UTC; a floating time is read in
    the resolver's floating zone.

    Raises:
        UnknownZone: the TZID cannot be resolved.
        TypeError: the value is not a date or datetime (a period, a duration).
    """
    if isinstance(value, datetime):
        if tzid:
            return value.replace(tzinfo=None).replace(tzinfo=resolver.zone(tzid))
        if value.tzinfo is not None and value.utcoffset() is not None:
            return value
        return value.replace(tzinfo=resolver.floating)
    if isinstance(value, date):
        return value
    raise TypeError(f"expected a date or date-time, got {type(value).__name__}")


def format_token(value: datetime | date) -> str:
    """A compact, zone-independent token for an occurrence's original start."""
    if isinstance(value, datetime):
        from datetime import UTC

        return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%d")
