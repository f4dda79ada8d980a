"""Index one parsed calendar: components to ``CalendarItem``\\ s, series, problems.

Private helper of :mod:`severa_ext.backends.ics`. Pure over an already parsed
calendar (no file or network access); the only clock read is the monotonic time
budget of a recurrence expansion.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import re
import sys
import time
from collections.abc import Generator, Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from types import FrameType
from typing import Any

import attrs
import recurring_ical_events
from icalendar import Calendar, Component, Event

from severa_ext.backends._ics_scan import StoredEvent
from severa_ext.backends._ics_zones import (
    UnknownZone,
    ZoneResolver,
    format_token,
    resolve_value,
)
from severa_ext.errors import BadItem, ValidationError
from severa_ext.sync.items import CalendarItem, ShowAs, Window

__all__ = [
    "EXPANSION_BUDGET_S",
    "MAX_OCCURRENCES",
    "SYNC_KEY_PROPERTY",
    "CalendarIndex",
    "Series",
    "SkippedComponent",
    "build_index",
    "convert",
    "expand_series",
    "fields_etag",
    "item_etag",
    "moment",
    "split_id",
    "value_of",
    "with_etag",
]

logger = logging.getLogger(__name__)

SYNC_KEY_PROPERTY = "X-SEVERA-EXT-SYNC-KEY"
"""The ``X-`` property that carries the engine's sync key on an ICS event."""

MAX_OCCURRENCES = 5000
"""A series yielding more occurrences than this inside one window is refused."""

MAX_COUNT = 100_000
"""A COUNT rule above this is refused (it cannot be expanded in bounded time)."""

EXPANSION_BUDGET_S = 5.0
"""Wall-time budget of one series' expansion."""

_OCCURRENCE_SEP = "#"
_KEPT = {
    None,
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
    "CATEGORIES",
    "RRULE",
    "RDATE",
    "EXDATE",
    "RECURRENCE-ID",
    SYNC_KEY_PROPERTY,
}
_CDO = {
    "FREE": ShowAs.FREE,
    "TENTATIVE": ShowAs.TENTATIVE,
    "BUSY": ShowAs.BUSY,
    "OOF": ShowAs.OOF,
    "WORKINGELSEWHERE": ShowAs.WORKING_ELSEWHERE,
    "UNKNOWN": ShowAs.UNKNOWN,
}
_STEP_FREQ = {
    "SECONDLY": timedelta(seconds=1),
    "MINUTELY": timedelta(minutes=1),
    "HOURLY": timedelta(hours=1),
    "DAILY": timedelta(days=1),
    "WEEKLY": timedelta(days=7),
}


def split_id(item_id: str) -> tuple[str, str | None]:
    """``(uid, occurrence token or None)`` of an ICS item id."""
    uid, sep, token = item_id.rpartition(_OCCURRENCE_SEP)
    if sep and re.fullmatch(r"\d{8}(T\d{6}Z)?", token):
        return uid, token
    return item_id, None


def moment(value: datetime | date | None) -> str:
    """The instant of an aware (or local) time as whole POSIX seconds (floored, as
    dropping the microseconds did), a date's ISO text, or ``-``: the same instant
    spelt in another zone is the same version, and ``timestamp()`` costs a fifth of
    ``astimezone(UTC).isoformat()``."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return str(math.floor(value.timestamp()))
    return value.isoformat()


def item_etag(item: CalendarItem) -> str:
    """The version tag of an item: its kept fields as read, sync key and LAST-MODIFIED.

    Any edit of a field the model keeps gives another tag (also one a content
    comparison would call equal, such as trailing white space): a changed tag only
    makes the engine compare contents, a missed change would lose it.
    """
    return fields_etag(
        item.title,
        moment(item.start),
        moment(item.end),
        item.location,
        item.body,
        item.private,
        item.show_as,
        item.categories,
        item.sync_key,
        moment(item.last_modified),
        moment(item.original_start),
    )


def fields_etag(  # noqa: PLR0917 - positional: a create pays for each keyword
    title: str,
    start: str,
    end: str,
    location: str,
    body: str,
    private: bool,
    show_as: ShowAs,
    categories: tuple[str, ...],
    sync_key: str | None,
    last_modified: str,
    original_start: str,
) -> str:
    """:func:`item_etag` of the item these fields would make, before it is built (so
    a writer passes the tag to the constructor instead of setting it afterwards);
    the times as their :func:`moment` texts (a writer computes one per batch once)."""
    text = "\x1f".join(
        (
            title,
            start,
            end,
            location,
            body,
            "1" if private else "0",
            show_as.value,
            "\x1e".join(categories),
            str(sync_key),
            last_modified,
            original_start,
        )
    )
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def with_etag(item: CalendarItem) -> CalendarItem:
    """``item`` with its :func:`item_etag`, for an item just built here and not yet
    shared (set in place: building it a second time through ``attrs.evolve`` would
    run its checks again, a quarter of the cost of a read)."""
    object.__setattr__(item, "etag", item_etag(item))
    return item


class SkippedComponent(Exception):
    """A component (or series) that cannot become items; the reason is journaled.

    ``prop`` names the offending property, so the problem can name its line.
    """

    def __init__(self, message: str, prop: str | None = None) -> None:
        super().__init__(message)
        self.prop = prop


def _text(component: Component, name: str) -> str:
    value: Any = component.get(name)
    if value is None:
        return ""
    if isinstance(value, list):
        value = value[0]
    return str(value)


def _dt(component: Component, name: str, resolver: ZoneResolver) -> datetime | date | None:
    prop: Any = component.get(name)
    if prop is None:
        return None
    if isinstance(prop, list):
        raise SkippedComponent(f"{name} appears more than once", name)
    try:
        return resolve_value(prop.dt, prop.params.get("TZID"), resolver)
    except UnknownZone as exc:
        raise SkippedComponent(f"{name}: {exc}", name) from exc
    except (TypeError, AttributeError, ValueError) as exc:
        raise SkippedComponent(f"{name} is not a date or date-time: {exc}", name) from exc


def _dt_list(component: Component, name: str, resolver: ZoneResolver) -> list[datetime | date]:
    props: Any = component.get(name)
    if props is None:
        return []
    if not isinstance(props, list):
        props = [props]
    values: list[datetime | date] = []
    for prop in props:
        tzid = prop.params.get("TZID")
        for entry in getattr(prop, "dts", []):
            raw = entry.dt
            if isinstance(raw, tuple):  # RDATE;VALUE=PERIOD
                raw = raw[0]
            try:
                values.append(resolve_value(raw, tzid, resolver))
            except UnknownZone as exc:
                raise SkippedComponent(f"{name}: {exc}", name) from exc
            except TypeError as exc:
                raise SkippedComponent(f"{name}: {exc}", name) from exc
    return values


_DURATION_TEXT = re.compile(
    r"([+-]?)P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", re.IGNORECASE
)


def add_duration(start: datetime | date, duration: timedelta, text: str | None) -> datetime | date:
    """``start`` plus a DURATION, RFC 5545 3.3.6: weeks and days are nominal (the same
    wall time on a later day, across a DST change too), hours, minutes and seconds exact
    (elapsed time). ``text`` is the value as written; without it (a value made in
    memory) whole days count as nominal and the rest as exact."""
    match = _DURATION_TEXT.fullmatch(text.strip()) if text else None
    if match is not None:
        sign = -1 if match.group(1) == "-" else 1
        weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups()[1:])
        nominal = timedelta(days=sign * (7 * weeks + days))
        exact = timedelta(hours=sign * hours, minutes=sign * minutes, seconds=sign * seconds)
    else:
        nominal = timedelta(days=duration.days)
        exact = duration - nominal
    if not isinstance(start, datetime) or start.tzinfo is None:
        return start + nominal + exact
    wall = start + nominal  # aware arithmetic in Python keeps the wall clock
    if not exact:
        return wall
    return (wall.astimezone(UTC) + exact).astimezone(start.tzinfo)


def _times(
    component: Component, resolver: ZoneResolver, duration_text: str | None = None
) -> tuple[datetime | date, datetime | date]:
    start = _dt(component, "DTSTART", resolver)
    if start is None:
        raise SkippedComponent("no DTSTART")
    end = _dt(component, "DTEND", resolver)
    if end is None and "DURATION" in component:
        duration_prop: Any = component["DURATION"]
        duration = duration_prop.dt
        if not isinstance(duration, timedelta):
            raise SkippedComponent("DURATION is not a duration", "DURATION")
        end = add_duration(start, duration, duration_text)
    if end is None:
        end = start + timedelta(days=1) if not isinstance(start, datetime) else start
    if isinstance(start, datetime) != isinstance(end, datetime):
        raise SkippedComponent("DTSTART and DTEND mix a date and a date-time", "DTEND")
    if end < start:
        raise SkippedComponent(
            f"DTEND {end} is before DTSTART {start}",
            "DTEND" if "DTEND" in component else "DURATION",
        )
    return start, end


def _show_as(component: Component) -> ShowAs:
    cdo = _text(component, "X-MICROSOFT-CDO-BUSYSTATUS").strip().upper()
    if cdo in _CDO:
        return _CDO[cdo]
    if _text(component, "TRANSP").strip().upper() == "TRANSPARENT":
        return ShowAs.FREE
    return ShowAs.BUSY


def _categories(component: Component) -> tuple[str, ...]:
    value: Any = component.get("CATEGORIES")
    if value is None:
        return ()
    props = value if isinstance(value, list) else [value]
    out: list[str] = []
    for prop in props:
        for cat in getattr(prop, "cats", []):
            text = str(cat).strip()  # icalendar has unescaped it (RFC 5545 3.3.11)
            if text:
                out.append(text)
    return tuple(out)


def value_of(prop: Any) -> Any:
    """``prop.dt``, or ``None`` for a property icalendar could not read (its broken
    properties raise a ``ValueError`` on access)."""
    try:
        return prop.dt
    except (AttributeError, ValueError):
        return None


def _last_modified(component: Component) -> datetime | None:
    prop: Any = component.get("LAST-MODIFIED")
    if prop is None or isinstance(prop, list):
        return None
    value = value_of(prop)
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return None


def convert(
    component: Component,
    resolver: ZoneResolver,
    *,
    item_id: str,
    start: datetime | date | None = None,
    end: datetime | date | None = None,
    series_id: str | None = None,
    original_start: datetime | date | None = None,
    duration_text: str | None = None,
) -> CalendarItem:
    """One VEVENT (or one occurrence with its own start/end) as a ``CalendarItem``.

    ``duration_text``: its DURATION as written in the file (see :func:`add_duration`).
    """
    if start is None or end is None:
        start, end = _times(component, resolver, duration_text)
    klass = _text(component, "CLASS").strip().upper()
    sync_key = _text(component, SYNC_KEY_PROPERTY).strip() or None
    try:
        item = CalendarItem(
            title=_text(component, "SUMMARY"),
            start=start,
            end=end,
            location=_text(component, "LOCATION"),
            body=_text(component, "DESCRIPTION"),
            # RFC 5545 3.8.1.3: unknown classes are treated as PRIVATE (S9).
            private=klass not in ("", "PUBLIC"),
            show_as=_show_as(component),
            categories=_categories(component),
            last_modified=_last_modified(component),
            id=item_id,
            sync_key=sync_key,
            series_id=series_id,
            original_start=original_start,
        )
    except ValidationError as exc:
        raise SkippedComponent(str(exc)) from exc
    return with_etag(item)


@attrs.define
class Series:
    """A recurring series: its master (if any) and its RECURRENCE-ID overrides."""

    uid: str
    master: Component | None = None
    master_line: int | None = None
    master_duration: str | None = None
    master_property_lines: dict[str, int] = attrs.field(factory=dict)
    overrides: dict[str, tuple[Component, int | None]] = attrs.field(factory=dict)
    stored_overrides: dict[str, StoredEvent] = attrs.field(factory=dict)


@attrs.define
class CalendarIndex:
    """Everything one read of a calendar yields.

    Attributes:
        singles: non-recurring items by id (all of them, in or out of any window).
        series: recurring series by UID.
        stored: every stored VEVENT by UID (what writes change).
        problems: components skipped, each a ``BadItem`` naming its line / UID.
    """

    resolver: ZoneResolver
    expansion_budget: float = EXPANSION_BUDGET_S
    source: str = ""
    singles: dict[str, CalendarItem] = attrs.field(factory=dict)
    series: dict[str, Series] = attrs.field(factory=dict)
    problems: list[BadItem] = attrs.field(factory=list)
    series_problems: dict[str, BadItem] = attrs.field(factory=dict)
    stored: dict[str, list[StoredEvent]] = attrs.field(factory=dict)
    bad_ids: set[str] = attrs.field(factory=set)

    def expand(self, window: Window) -> Iterator[CalendarItem]:
        """Occurrences of every series inside ``window`` (problems recorded)."""
        for uid, series in self.series.items():
            try:
                # All or nothing: a series that fails half-way yields no occurrence.
                occurrences = expand_series(
                    series, self.resolver, window, budget=self.expansion_budget
                )
            except SkippedComponent as exc:
                # An expansion fault is the rule's (or the named property's) line.
                lines = series.master_property_lines
                line = lines.get(exc.prop or "RRULE", series.master_line)
                ref = f"{uid} ({self.source}, line {line})" if line else uid
                problem = BadItem(ref, str(exc), backend="ics")
                if uid not in self.series_problems:
                    self.problems.append(problem)
                self.series_problems[uid] = problem
                continue
            yield from occurrences


def _rebase(
    start: datetime | date, rule: Any, window: Window, duration: timedelta
) -> datetime | date:
    """Move a rule's DTSTART forward by whole intervals to just before the window.

    Keeps the rule's phase, so the same occurrences fall inside the window; bounds the
    expansion of a series that started decades ago (a minutely rule from 1970).
    """
    freq = str((rule.get("FREQ") or [""])[0]).upper()
    step_unit = _STEP_FREQ.get(freq)
    if step_unit is None or rule.get("COUNT"):
        return start
    interval = int((rule.get("INTERVAL") or [1])[0] or 1)
    step = step_unit * max(interval, 1)
    if isinstance(start, datetime):
        target = window.start - duration - step
        current = start.astimezone(UTC)
        if current >= target:
            return start
        k = int((target - current) / step)
        return start + step * k
    target_date = (window.start - duration - step).date() - timedelta(days=1)
    if start >= target_date:
        return start
    k = (target_date - start).days // step.days
    return start + timedelta(days=step.days * k)


def expand_series(
    series: Series,
    resolver: ZoneResolver,
    window: Window,
    *,
    budget: float = EXPANSION_BUDGET_S,
) -> list[CalendarItem]:
    """The occurrences of one series inside ``window``, bounded in count and time.

    Raises:
        SkippedComponent: the series cannot be expanded, has too many occurrences in the
            window, or takes longer than ``budget`` seconds.
    """
    mini = Calendar()
    sources: list[Component] = []

    def add(component: Component, *, master: bool) -> None:
        start, end = _times(component, resolver, series.master_duration if master else None)
        event = Event()
        event.add("UID", series.uid)
        event.add("X-SRC", str(len(sources)))
        sources.append(component)
        if master:
            rules = component.get("RRULE")
            rule_list = rules if isinstance(rules, list) else ([rules] if rules else [])
            for rule in rule_list:
                count = rule.get("COUNT")
                if count and int(count[0]) > MAX_COUNT:
                    raise SkippedComponent(
                        f"RRULE COUNT={count[0]} is beyond the limit of {MAX_COUNT}", "RRULE"
                    )
            if len(rule_list) == 1:
                start_rebased = _rebase(start, rule_list[0], window, end - start)  # type: ignore[operator]
                end = start_rebased + (end - start)  # type: ignore[operator]
                start = start_rebased
            for rule in rule_list:
                event.add("RRULE", rule)
            for rdate in _dt_list(component, "RDATE", resolver):
                event.add("RDATE", rdate)
            for exdate in _dt_list(component, "EXDATE", resolver):
                event.add("EXDATE", exdate)
        else:
            recurrence_id = _dt(component, "RECURRENCE-ID", resolver)
            event.add("RECURRENCE-ID", recurrence_id)
        event.add("DTSTART", start)
        event.add("DTEND", end)
        mini.add_component(event)

    if series.master is not None:
        add(series.master, master=True)
    for component, _line in series.overrides.values():
        add(component, master=False)

    items: list[CalendarItem] = []
    bases: dict[int, CalendarItem] = {}
    try:
        with (
            _time_budget(budget),
            contextlib.closing(_occurrences_in(mini, window)) as occurrences,
        ):
            # Closed here, not by the garbage collector at some later moment.
            for occurrence in occurrences:
                start = occurrence["DTSTART"].dt
                if _as_utc(start) >= window.end:
                    break
                if len(items) >= MAX_OCCURRENCES:
                    raise SkippedComponent(
                        f"more than {MAX_OCCURRENCES} occurrences inside the sync window"
                    )
                source = sources[int(occurrence["X-SRC"])]
                if _text(source, "STATUS").strip().upper() == "CANCELLED":
                    continue  # a cancelled occurrence (or series) is not a live entry
                end = occurrence["DTEND"].dt if "DTEND" in occurrence else start
                original = (
                    occurrence["RECURRENCE-ID"].dt if "RECURRENCE-ID" in occurrence else start
                )
                if isinstance(original, datetime) and original.tzinfo is None:
                    original = original.replace(tzinfo=resolver.floating)
                item_id = f"{series.uid}{_OCCURRENCE_SEP}{format_token(original)}"
                base = bases.get(id(source))
                if base is None:
                    item = bases[id(source)] = convert(
                        source,
                        resolver,
                        item_id=item_id,
                        start=start,
                        end=end,
                        series_id=series.uid,
                        original_start=original,
                    )
                else:  # the other fields are the source's: read them once
                    item = _occurrence_of(base, item_id, start, end, original)
                if window.contains(item):
                    items.append(item)
    except _OverBudget:
        raise SkippedComponent(
            f"expanding the series took more than {budget:g} s (an absurd rule?)"
        ) from None
    except SkippedComponent:
        raise
    except (ValueError, TypeError, KeyError, OverflowError, AttributeError) as exc:
        raise SkippedComponent(f"the recurrence cannot be expanded: {exc}") from exc
    return items


_SLICE = timedelta(days=183)


def _occurrences_in(mini: Calendar, window: Window) -> Generator[Any, None, None]:
    """The occurrences overlapping ``window``, in order of start, half a year at a time.

    ``recurring_ical_events``' ``after`` looks for a next occurrence up to the year 9999
    once a finite series has ended; querying slices of the window stops at its end,
    and one slice at a time bounds the memory an absurd rule can take before the
    count and time limits stop it.
    """
    query = recurring_ical_events.of(mini)
    seen: set[tuple[str, str]] = set()
    low = window.start
    while low < window.end:
        high = min(low + _SLICE, window.end)
        found = query.between(low, high)
        found.sort(key=lambda occurrence: _as_utc(occurrence["DTSTART"].dt))
        for occurrence in found:
            key = (str(occurrence["X-SRC"]), str(occurrence["RECURRENCE-ID"].dt))
            if key not in seen:
                seen.add(key)
                yield occurrence
        low = high


def _occurrence_of(
    base: CalendarItem,
    item_id: str,
    start: datetime | date,
    end: datetime | date,
    original: datetime | date,
) -> CalendarItem:
    try:
        item = attrs.evolve(base, id=item_id, start=start, end=end, original_start=original)
    except ValidationError as exc:
        raise SkippedComponent(str(exc)) from exc
    return with_etag(item)


class _OverBudget(Exception):
    """Internal: an expansion ran out of time."""


@contextlib.contextmanager
def _time_budget(seconds: float) -> Iterator[None]:
    """Abort the code inside after ``seconds`` of wall time.

    A rule whose BY-parts can never match (``FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30``)
    makes ``dateutil`` search up to year 9999 without yielding once, so a check between
    occurrences is not enough: a trace hook checks the clock on function calls and
    raises inside the expansion. Any tracer already installed (coverage, a debugger)
    keeps receiving its events.
    """
    deadline = time.monotonic() + seconds
    previous = sys.gettrace()
    calls = 0

    def tracer(frame: FrameType, event: Any, arg: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls % 256 == 0 and time.monotonic() > deadline:
            raise _OverBudget
        return previous(frame, event, arg) if previous is not None else None

    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(previous)


def _as_utc(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def _stamp(component: Component, name: str) -> datetime:
    prop: Any = component.get(name)
    value = value_of(prop) if prop is not None and not isinstance(prop, list) else None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return _EPOCH


def _rank(component: Component) -> tuple[int, datetime]:
    """How recent a copy of a UID is (RFC 5545 3.8.7.4): its SEQUENCE, then the later
    of its DTSTAMP and LAST-MODIFIED."""
    try:
        sequence = int(str(component.get("SEQUENCE", 0)))
    except ValueError:
        sequence = 0
    stamp = max(_stamp(component, "DTSTAMP"), _stamp(component, "LAST-MODIFIED"))
    return sequence, stamp


def _loses(component: Component, kept: Component) -> bool:
    """Whether ``component`` loses to ``kept``, another copy of its UID: the lower rank
    loses; on a tie the lesser text, so the file's order never decides."""
    mine, theirs = _rank(component), _rank(kept)
    if mine != theirs:
        return mine < theirs
    return bool(component.to_ical() < kept.to_ical())


def _uid_of(component: Component) -> str:
    return _text(component, "UID").strip()


def build_index(
    calendar: Calendar,
    event_lines: tuple[int, ...],
    floating: tzinfo,
    source: str,
    originals: list[StoredEvent],
    *,
    expansion_budget: float = EXPANSION_BUDGET_S,
    durations: tuple[str | None, ...] = (),
    property_lines: tuple[dict[str, int], ...] = (),
) -> CalendarIndex:
    """Index the VEVENTs of ``calendar``; broken ones become problems, never errors.

    Args:
        calendar: the parsed calendar (already normalised for X-WR-TIMEZONE).
        event_lines: line numbers of top-level VEVENTs in file order.
        floating: the zone floating times are read in.
        source: the file name or URL, for messages.
        originals: the record of each VEVENT of ``calendar`` as stored (its component
            may be a normalised copy's original), in the same order; writes go to these.
        expansion_budget: seconds one series' expansion may take.
        durations: the DURATION of each VEVENT as written (``None``: none), in order.
        property_lines: the physical line of each property of each VEVENT, in order
            (a problem names the line of the offending property where it is known).
    """
    resolver = ZoneResolver(calendar, floating)
    index = CalendarIndex(resolver, expansion_budget, source)
    seen_lines: dict[str, int | None] = {}
    best: dict[str, tuple[Component, int | None, StoredEvent]] = {}
    broken_series: set[str] = set()
    events = [c for c in calendar.subcomponents if c.name == "VEVENT"]
    for position, component in enumerate(events):
        index.stored.setdefault(_uid_of(component), []).append(originals[position])
        line = event_lines[position] if position < len(event_lines) else None
        duration_text = durations[position] if position < len(durations) else None
        lines_of = property_lines[position] if position < len(property_lines) else {}
        uid = _uid_of(component)
        ref = f"{uid or '(no UID)'} ({source}, line {line})" if line else (uid or "(no UID)")
        broken = [(name, msg) for name, msg in component.errors if name in _KEPT]
        try:
            if not uid:
                raise SkippedComponent("no UID")
            if broken:
                reasons = "; ".join(f"{name or 'content line'}: {msg}" for name, msg in broken)
                raise SkippedComponent(f"broken properties: {reasons}", broken[0][0])
            is_override = "RECURRENCE-ID" in component
            recurring = is_override or "RRULE" in component or "RDATE" in component
            if not recurring:
                if uid in index.series:
                    index.bad_ids.add(uid)
                    raise SkippedComponent("a single event reuses the UID of a recurring series")
                kept = best.get(uid)
                if kept is not None:
                    loses = _loses(component, kept[0])
                    loser_line = line if loses else kept[1]
                    index.problems.append(
                        BadItem(
                            f"{uid} ({source}, line {loser_line})" if loser_line else uid,
                            "duplicate UID: the copy with the higher SEQUENCE (then the "
                            "later DTSTAMP / LAST-MODIFIED) is kept, this one is ignored",
                            backend="ics",
                        )
                    )
                    if loses:
                        continue
                    index.singles.pop(uid, None)
                best[uid] = (component, line, originals[position])
                seen_lines[uid] = line
                if _text(component, "STATUS").strip().upper() == "CANCELLED":
                    continue  # not a live entry
                index.singles[uid] = convert(
                    component, resolver, item_id=uid, duration_text=duration_text
                )
                continue
            if uid in index.singles:
                index.bad_ids.add(uid)
                raise SkippedComponent("a recurring component reuses the UID of a single event")
            series = index.series.setdefault(uid, Series(uid))
            if is_override:
                recurrence_id = _dt(component, "RECURRENCE-ID", resolver)
                if recurrence_id is None:
                    raise SkippedComponent("empty RECURRENCE-ID")
                token = format_token(recurrence_id)
                if token in series.overrides:
                    raise SkippedComponent(
                        f"duplicate override for RECURRENCE-ID {token}; quarantined"
                    )
                _times(component, resolver)
                series.overrides[token] = (component, line)
                series.stored_overrides[token] = originals[position]
            else:
                if series.master is not None:
                    raise SkippedComponent(
                        f"duplicate UID (series first seen on line {series.master_line}); "
                        "this copy is quarantined, the first one is kept"
                    )
                _times(component, resolver, duration_text)
                series.master = component
                series.master_line = line
                series.master_duration = duration_text
                series.master_property_lines = lines_of
            seen_lines.setdefault(uid, line)
        except SkippedComponent as exc:
            prop_line = lines_of.get(exc.prop or "")
            if prop_line is not None:
                ref = f"{uid or '(no UID)'} ({source}, line {prop_line})"
            index.problems.append(BadItem(ref, str(exc), backend="ics"))
            if uid:
                index.bad_ids.add(uid)
                is_master = "RECURRENCE-ID" not in component and (
                    "RRULE" in component or "RDATE" in component
                )
                series_now = index.series.get(uid)
                if is_master and (series_now is None or series_now.master is None):
                    broken_series.add(uid)
    for uid, (_read, _line, winner) in best.items():
        copies = index.stored[uid]
        if len(copies) > 1:  # writes go to the copy that was read
            copies.sort(key=lambda c: c is not winner)
    for uid in broken_series:
        # Without its master a series cannot be listed faithfully: withhold all of it
        # (``get`` raises BadItem) rather than let its occurrences look deleted.
        index.series.pop(uid, None)
    for uid in list(index.bad_ids):
        if (uid in index.singles or uid in index.series) and uid not in broken_series:
            index.bad_ids.discard(uid)
    return index
