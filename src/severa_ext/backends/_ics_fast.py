"""The fast read: plain single events become items without ``icalendar`` objects.

Private helper of :mod:`severa_ext.backends.ics`. A read of a calendar goes this way:

* :func:`~._ics_scan.top_level` finds the top-level components; the calendar's own
  properties and every component other than ``VEVENT`` (time zones, to-dos) are
  parsed by ``icalendar`` as before, from the text without the events;
* each ``VEVENT`` is split into properties by :func:`~._ics_scan.event_props` and,
  when it is a plain single event whose every kept value has one certain reading
  (:func:`fast_item`), turned into its :class:`CalendarItem` directly and stored as a
  :class:`StoredEvent` of its text alone (written back byte for byte unless a write
  changes it);
* every other event (recurring series and overrides, a UID used twice, a value this
  module does not read with certainty, a broken event) is parsed by ``icalendar``,
  stored as a :class:`StoredEvent` of its component and indexed by
  :func:`~._ics_index.build_index` exactly as before, with its lines.

:func:`fast_item` reads each value as ``icalendar`` and
:func:`~._ics_index.convert` do (the tests hold both paths equal on generated
calendars). A file the scan cannot take as a whole (one with ``X-WR-TIMEZONE``, or one
that is not one well-nested calendar) answers ``None`` and is read the old way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

import attrs
from icalendar import Calendar, Component

from severa_ext.backends._ics_index import (
    SYNC_KEY_PROPERTY,
    CalendarIndex,
    add_duration,
    build_index,
    with_etag,
)
from severa_ext.backends._ics_scan import (
    EventProps,
    Span,
    StoredEvent,
    event_details,
    event_props,
    normalise,
    top_level,
)
from severa_ext.backends._ics_text import PreparedText, captured_warnings, check_structure
from severa_ext.backends._ics_zones import UnknownZone, ZoneResolver
from severa_ext.errors import ValidationError
from severa_ext.sync.items import CalendarItem, ShowAs

__all__ = ["fast_item", "index_spans", "read_fast", "unescape"]

_ESCAPE = re.compile(r"\\([\\,;:nN])")
_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DATE_TIME = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)")
_DURATION = re.compile(r"([+-]?)P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")
_SERIES = ("RRULE", "RDATE", "EXDATE", "RECURRENCE-ID", "EXRULE")
_ONCE = (
    "UID",
    "DTSTART",
    "DTEND",
    "DURATION",
    "SUMMARY",
    "LOCATION",
    "DESCRIPTION",
    "CLASS",
    "TRANSP",
    "STATUS",
    "LAST-MODIFIED",
    "X-MICROSOFT-CDO-BUSYSTATUS",
    SYNC_KEY_PROPERTY,
)
_CDO = {
    "FREE": ShowAs.FREE,
    "TENTATIVE": ShowAs.TENTATIVE,
    "BUSY": ShowAs.BUSY,
    "OOF": ShowAs.OOF,
    "WORKINGELSEWHERE": ShowAs.WORKING_ELSEWHERE,
    "UNKNOWN": ShowAs.UNKNOWN,
}
_DAY = timedelta(days=1)


class _Slow(Exception):
    """Internal: this event takes ``icalendar``'s path."""


def unescape(value: str) -> str:
    """RFC 5545 3.3.11 TEXT unescaping, as ``icalendar`` does it."""
    if "\\" not in value:
        return value
    return _ESCAPE.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def _params(params: str) -> dict[str, str]:
    if not params:
        return {}
    pairs = (part.split("=", 1) for part in params.split(";"))
    return {name.upper(): value for name, value in pairs}


def _one(props: EventProps, name: str) -> tuple[str, str] | None:
    found = props.get(name)
    return found[0] if found else None


def _text(props: EventProps, name: str) -> str:
    found = _one(props, name)
    if found is None:
        return ""
    params = found[0].upper()
    if "ENCODING" in params or "VALUE" in params:
        raise _Slow
    if name.startswith("X-") and "\\" in found[1]:
        raise _Slow  # icalendar keeps an X- property's text as written: let it decide
    return unescape(found[1])


def _when(props: EventProps, name: str, resolver: ZoneResolver) -> datetime | date | None:
    found = _one(props, name)
    if found is None:
        return None
    params = _params(found[0])
    kind = params.get("VALUE", "").upper()
    tzid = params.get("TZID")
    value = found[1]
    try:
        if kind in ("", "DATE") and tzid is None and (match := _DATE.fullmatch(value)):
            return date(*(int(g) for g in match.groups()))
        match = _DATE_TIME.fullmatch(value)
        if kind not in ("", "DATE-TIME") or match is None:
            raise _Slow
        wall = _wall(match)
        if tzid is not None and (match.group(7) or tzid.startswith("/")):
            raise _Slow  # a "globally unique" TZID: icalendar's guess (and note) decide
        if match.group(7):
            return wall.replace(tzinfo=UTC)  # the instant icalendar gives (in ZoneInfo)
        return wall.replace(tzinfo=resolver.zone(tzid) if tzid else resolver.floating)
    except (ValueError, UnknownZone) as exc:
        raise _Slow from exc


def _wall(match: re.Match[str]) -> datetime:
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    return datetime(year, month, day, hour, minute, second)


def _duration(props: EventProps) -> tuple[timedelta, str]:
    found = _one(props, "DURATION")
    assert found is not None
    text = found[1]
    match = _DURATION.fullmatch(text)
    kind = _params(found[0]).get("VALUE", "DURATION").upper()
    if match is None or kind != "DURATION" or not any(match.groups()[1:]):
        raise _Slow
    if "T" in text and not any(match.groups()[3:]):
        raise _Slow
    sign = -1 if match.group(1) == "-" else 1
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups()[1:])
    total = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    return total * sign, text


def _times(props: EventProps, resolver: ZoneResolver) -> tuple[datetime | date, datetime | date]:
    start = _when(props, "DTSTART", resolver)
    if start is None:
        raise _Slow
    end = _when(props, "DTEND", resolver)
    if end is None and "DURATION" in props:
        duration, text = _duration(props)
        end = add_duration(start, duration, text)
    if end is None:
        end = start if isinstance(start, datetime) else start + _DAY
    if isinstance(start, datetime) != isinstance(end, datetime) or end < start:
        raise _Slow
    return start, end


def _categories(props: EventProps) -> tuple[str, ...]:
    out: list[str] = []
    for params, value in props.get("CATEGORIES", ()):
        if "ENCODING" in params.upper():
            raise _Slow
        if "\\" in value:
            raise _Slow  # escaped commas: icalendar's own splitting decides
        out.extend(text for part in value.split(",") if (text := part.strip()))
    return tuple(out)


def _last_modified(props: EventProps) -> datetime | None:
    found = _one(props, "LAST-MODIFIED")
    if found is None:
        return None
    if found[0]:
        raise _Slow
    match = _DATE_TIME.fullmatch(found[1])
    if match is None:
        raise _Slow
    try:
        wall = _wall(match)
    except ValueError as exc:
        raise _Slow from exc
    return wall.replace(tzinfo=UTC)


def _show_as(props: EventProps) -> ShowAs:
    cdo = _text(props, "X-MICROSOFT-CDO-BUSYSTATUS").strip().upper()
    if cdo in _CDO:
        return _CDO[cdo]
    if _text(props, "TRANSP").strip().upper() == "TRANSPARENT":
        return ShowAs.FREE
    return ShowAs.BUSY


def fast_item(props: EventProps, resolver: ZoneResolver) -> CalendarItem | None:
    """The item a plain single event gives, as :func:`~._ics_index.convert` reads it.

    Raises:
        _Slow: the event is not one this module reads with certainty.
    """
    uid = _text(props, "UID").strip()
    if _text(props, "STATUS").strip().upper() == "CANCELLED":
        return None
    start, end = _times(props, resolver)
    klass = _text(props, "CLASS").strip().upper()
    try:
        item = CalendarItem(
            title=_text(props, "SUMMARY"),
            start=start,
            end=end,
            location=_text(props, "LOCATION"),
            body=_text(props, "DESCRIPTION"),
            private=klass not in ("", "PUBLIC"),
            show_as=_show_as(props),
            categories=_categories(props),
            last_modified=_last_modified(props),
            id=uid,
            sync_key=_text(props, SYNC_KEY_PROPERTY).strip() or None,
        )
    except ValidationError as exc:
        raise _Slow from exc
    return with_etag(item)


def _plain(props: EventProps | None) -> bool:
    if props is None or any(name in props for name in _SERIES):
        return False
    return all(len(props.get(name, ())) <= 1 for name in _ONCE)


def _uid(props: EventProps | None) -> str | None:
    if props is None:
        return None
    found = _one(props, "UID")
    return unescape(found[1]).strip() if found is not None else None


@attrs.define
class _Event:
    span: Span
    text: bytes
    props: EventProps | None
    stored: StoredEvent | None = None
    """The event as the calendar keeps it (its text alone when it took the fast path)."""
    item: CalendarItem | None = None


def _crlf(text: bytes) -> bytes:
    return text.replace(b"\n", b"\r\n")


def index_spans(
    text: bytes,
    spans: Iterable[Span],
    header: Calendar,
    floating: tzinfo,
    source: str,
    *,
    budget: float,
) -> CalendarIndex:
    """Index the events of normalised ``text`` and put every top-level component, in
    file order, into ``header`` (a calendar parsed from the text without its events,
    whose subcomponents are the other top-level components in order).

    Raises:
        ValueError: ``icalendar`` refuses an event's text (the caller reads the whole
            file the old way, which reports it as before).
    """
    others = iter(list(header.subcomponents))
    order: list[Component | _Event] = []
    events: list[_Event] = []
    for span in spans:
        if span.name != "VEVENT":
            order.append(next(others))
            continue
        raw = text[span.start : span.end]
        event = _Event(span, raw, event_props(raw))
        events.append(event)
        order.append(event)
    uses: dict[str | None, int] = {}
    for event in events:
        uid = _uid(event.props)
        uses[uid] = uses.get(uid, 0) + 1
    slow: list[_Event] = []
    resolver = ZoneResolver(header, floating)
    for event in events:
        if _plain(event.props) and uses[_uid(event.props)] == 1 and _uid(event.props):
            assert event.props is not None
            try:
                event.item = fast_item(event.props, resolver)
            except _Slow:
                pass
            else:
                event.stored = StoredEvent(_crlf(event.text))
                continue
        event.stored = StoredEvent(None, Component.from_ical(_crlf(event.text)))
        slow.append(event)
    index = _slow_index(slow, header, floating, source, budget)
    _merge(index, events)
    entries: list[Any] = header.subcomponents  # StoredEvents among them from now on
    entries[:] = [entry.stored if isinstance(entry, _Event) else entry for entry in order]
    return index


def _slow_index(
    slow: list[_Event], header: Calendar, floating: tzinfo, source: str, budget: float
) -> CalendarIndex:
    mini = Calendar()
    mini.subcomponents = [c for c in header.subcomponents if c.name == "VTIMEZONE"]
    details = [event_details(event.text, event.span.line) for event in slow]
    records = [event.stored for event in slow if event.stored is not None]
    mini.subcomponents.extend(record.materialize() for record in records)
    return build_index(
        mini,
        tuple(event.span.line for event in slow),
        floating,
        source,
        records,
        expansion_budget=budget,
        durations=tuple(duration for duration, _lines in details),
        property_lines=tuple(lines for _duration, lines in details),
    )


def _merge(index: CalendarIndex, events: list[_Event]) -> None:
    """Add the fast events to ``index``; singles in file order."""
    slow_singles = index.singles
    singles: dict[str, CalendarItem] = {}
    for event in events:
        assert event.stored is not None
        if event.stored.component is None:  # the fast path's
            uid = _uid(event.props)
            assert uid is not None
            index.stored[uid] = [event.stored]
            if event.item is not None:
                singles[uid] = event.item
            continue
        uid = _component_uid(event.stored.component)
        if uid in slow_singles and uid not in singles:
            singles[uid] = slow_singles[uid]
    for uid, item in slow_singles.items():
        singles.setdefault(uid, item)
    index.singles = singles


def _component_uid(component: object) -> str:
    value = component.get("UID") if isinstance(component, Component) else None
    if isinstance(value, list):
        value = value[0]
    return str(value).strip() if value is not None else ""


def read_fast(
    prepared: PreparedText, source: str, floating: tzinfo, *, budget: float
) -> tuple[Calendar, CalendarIndex, tuple[str, ...]] | None:
    """The calendar (each event a :class:`StoredEvent`, its text alone where it took
    the fast path), its index and the notes of the read; ``None`` when the file takes
    the old path.

    Raises:
        BackendError: the text is not one well-nested calendar (naming the line).
    """
    text = normalise(prepared.utf8)
    spans = top_level(text)
    if spans is None:
        check_structure(prepared.utf8, source)  # names the fault and its line
        return None
    parts: list[bytes] = []
    previous = 0
    for span in spans:
        if span.name == "VEVENT":
            parts.append(text[previous : span.start])
            previous = span.end
    parts.append(text[previous:])
    notes = list(prepared.notes)
    try:
        with captured_warnings(notes):
            top: object = Calendar.from_ical(_crlf(b"".join(parts)))
            others = sum(1 for span in spans if span.name != "VEVENT")
            if not isinstance(top, Calendar) or "X-WR-TIMEZONE" in top:
                return None
            header = top
            if len(header.subcomponents) != others:
                return None
            index = index_spans(text, spans, header, floating, source, budget=budget)
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return header, index, tuple(notes)
