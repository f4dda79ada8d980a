"""The text of a new VEVENT, and the item a read of that text gives, without a parser.

Private helper of :mod:`severa_ext.backends.ics`. An initial sync creates tens of
thousands of events; building each through ``icalendar`` objects, serialising it and
parsing it back (so the index holds what a fresh read gives) costs about two
milliseconds an event. Here a new event's content lines are written directly (RFC 5545
section 3.1 folding, section 3.3.11 text escaping) and its :class:`CalendarItem` is
derived from the same values, exactly as :func:`~severa_ext.backends._ics_index.convert`
reads them back (the tests hold the two equal for any item).

Only items whose every value has one obvious form take this path
(:func:`emittable`); anything else (an aware time in a non-IANA zone, text with
carriage returns or other control characters) is written
through ``icalendar`` as before.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

import attrs

from severa_ext.backends._ics_index import SYNC_KEY_PROPERTY, fields_etag, moment
from severa_ext.backends._timezones import resolve_zone
from severa_ext.sync.items import CalendarItem, ShowAs

__all__ = ["NewEvent", "Stamp", "emit_event", "emittable", "escape_text"]

_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_NO_ZONES: frozenset[str] = frozenset()
_CDO_NAMES = {
    ShowAs.TENTATIVE: "TENTATIVE",
    ShowAs.OOF: "OOF",
    ShowAs.WORKING_ELSEWHERE: "WORKINGELSEWHERE",
    ShowAs.UNKNOWN: "UNKNOWN",
}


class NewEvent(NamedTuple):
    """A created event: its text and the item a read of the text gives (a tuple:
    one is built per created event)."""

    text: bytes
    item: CalendarItem
    tzids: frozenset[str]


@attrs.frozen
class Stamp:
    """The LAST-MODIFIED / DTSTAMP of a write: the UTC second and its text."""

    at: datetime
    text: str
    lines: str = attrs.field(init=False)
    """Its ``LAST-MODIFIED`` and ``DTSTAMP`` content lines, each with its line end."""
    moment: str = attrs.field(init=False)
    """Its instant as the etag spells it (:func:`~._ics_index.moment`)."""

    @lines.default
    def _lines(self) -> str:
        return f"LAST-MODIFIED:{self.text}\r\nDTSTAMP:{self.text}\r\n"

    @moment.default
    def _moment(self) -> str:
        return moment(self.at)

    @classmethod
    def of(cls, now: datetime) -> Stamp:
        """The stamp of a write at ``now`` (an aware time)."""
        at = now.astimezone(UTC).replace(microsecond=0)
        return cls(at, _utc_parts(at)[0])


def _plain_zone(value: datetime | date) -> bool:
    if value.__class__ is datetime and value.tzinfo is UTC:
        return True  # the usual case first
    if not isinstance(value, datetime):
        return True
    zone = value.tzinfo
    if zone is None:
        return False
    if zone is UTC or (isinstance(zone, ZoneInfo) and zone.key in ("UTC", "Etc/UTC")):
        return True
    return isinstance(zone, ZoneInfo) and resolve_zone(zone.key) is not None


def emittable(item: CalendarItem, sync_key: str) -> bool:
    """Whether ``item``, stamped with ``sync_key``, can take the direct path (see the
    module docstring); the key must be non-empty printable ASCII without surrounding
    spaces."""
    if not (
        sync_key and sync_key.isascii() and sync_key.isprintable() and sync_key == sync_key.strip()
    ):
        return False
    # One search over every text: a line feed is allowed and joins them.
    categories = item.categories
    if _CONTROL.search("\n".join((item.title, item.location, item.body, *categories))):
        return False
    if categories and any(cat != cat.strip() or not cat for cat in categories):
        return False
    return _plain_zone(item.start) and _plain_zone(item.end)


def escape_text(text: str) -> str:
    """RFC 5545 3.3.11 TEXT escaping (the backslash first)."""
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> bytes:
    """One content line, folded at 75 octets without splitting a UTF-8 character."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return data + b"\r\n"
    parts: list[bytes] = []
    start, limit = 0, 75
    while len(data) - start > limit:
        end = start + limit
        while data[end] & 0xC0 == 0x80:  # never inside a multi-byte character
            end -= 1
        parts.append(data[start:end])
        start, limit = end, 74
    parts.append(data[start:])
    return b"\r\n ".join(parts) + b"\r\n"


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@functools.lru_cache(maxsize=4096)
def _day_text(day: int) -> str:
    """``YYYYMMDDT`` of the ``day``-th day after 1970-01-01 (the events of a sync
    crowd into a few hundred days: the text of each is built once)."""
    value = date.fromordinal(_EPOCH_ORDINAL + day)
    return "%04d%02d%02dT" % (value.year, value.month, value.day)  # noqa: UP031


@functools.lru_cache(maxsize=4096)
def _clock_text(second: int) -> str:
    """``HHMMSSZ`` of the ``second``-th second of a UTC day."""
    hours, rest = divmod(second, 3600)
    return "%02d%02d%02dZ" % (hours, rest // 60, rest % 60)  # noqa: UP031


def _utc_parts(value: datetime) -> tuple[str, str]:
    """``YYYYMMDDTHHMMSSZ`` of a whole-second time and its :func:`moment`, both from
    its POSIX second (formatting six fields costs twice as much)."""
    seconds = int(value.timestamp())  # a whole second: exact
    day, second = divmod(seconds, 86400)
    return _day_text(day) + _clock_text(second), str(seconds)


def _read_back(value: datetime | date) -> tuple[datetime | date, str, str | None, str]:
    """The value a read gives, its text, its TZID (``None`` for UTC or a date) and
    the :func:`moment` of the value read."""
    if value.__class__ is datetime and value.tzinfo is UTC and not value.microsecond:
        text, instant = _utc_parts(value)
        return value, ":" + text, None, instant
    if not isinstance(value, datetime):
        return value, f";VALUE=DATE:{value:%Y%m%d}", None, moment(value)
    zone = value.tzinfo
    if isinstance(zone, ZoneInfo) and zone.key not in ("UTC", "Etc/UTC"):
        wall = value.replace(microsecond=0, tzinfo=None, fold=0)
        resolved = resolve_zone(zone.key)
        assert resolved is not None  # emittable() checked it
        read = wall.replace(tzinfo=resolved)
        return read, f";TZID={zone.key}:{wall:%Y%m%dT%H%M%S}", zone.key, moment(read)
    utc = value.astimezone(UTC).replace(microsecond=0)  # the instant a read gives
    text, instant = _utc_parts(utc)
    return utc, ":" + text, None, instant


def _text_line(name: str, text: str) -> str:
    """``NAME:text`` escaped (RFC 5545 3.3.11), with the line end; ``""`` for no text."""
    if not text:
        return ""
    if "\\" in text or ";" in text or "," in text or "\n" in text:
        text = escape_text(text)
    return f"{name}:{text}\r\n"


def emit_event(uid: str, item: CalendarItem, *, stamp: Stamp, sync_key: str) -> NewEvent:
    """The VEVENT text of a new event and the item a read of it gives.

    Call only for items :func:`emittable` accepts.
    """
    start, start_text, start_zone, start_moment = _read_back(item.start)
    end, end_text, end_zone, end_moment = _read_back(item.end)
    title, location, body, private = item.title, item.location, item.body, item.private
    show_as, categories = item.show_as, item.categories
    cdo = _CDO_NAMES.get(show_as)
    lines = (
        "BEGIN:VEVENT\r\n",
        _text_line("UID", uid),
        _text_line("SUMMARY", title),
        _text_line("LOCATION", location),
        _text_line("DESCRIPTION", body),
        f"DTSTART{start_text}\r\n",
        f"DTEND{end_text}\r\n",
        "CLASS:PRIVATE\r\n" if private else "",
        "TRANSP:TRANSPARENT\r\n" if show_as is ShowAs.FREE else "TRANSP:OPAQUE\r\n",
        f"X-MICROSOFT-CDO-BUSYSTATUS:{cdo}\r\n" if cdo is not None else "",
        "CATEGORIES:" + ",".join(map(escape_text, categories)) + "\r\n" if categories else "",
        _text_line(SYNC_KEY_PROPERTY, sync_key),
        stamp.lines,
        "SEQUENCE:0\r\nEND:VEVENT\r\n",
    )
    text = "".join(lines)
    # Each entry is one content line with its end (or two short fixed ones, or none).
    if text.isascii() and max(map(len, lines)) <= 77:
        data = text.encode("ascii")  # the usual case: nothing to fold
    else:
        data = b"".join(map(_fold, text.split("\r\n")[:-1]))
    etag = fields_etag(
        title,
        start_moment,
        end_moment,
        location,
        body,
        private,
        show_as,
        categories,
        sync_key,
        stamp.moment,
        "-",  # the moment of no original start
    )
    read = CalendarItem(
        title,
        start,
        end,
        location,
        body,
        private,
        show_as,
        categories,
        stamp.at,
        uid,
        etag,
        sync_key,
    )
    if start_zone is None and end_zone is None:
        return NewEvent(data, read, _NO_ZONES)
    return NewEvent(data, read, frozenset(z for z in (start_zone, end_zone) if z is not None))
