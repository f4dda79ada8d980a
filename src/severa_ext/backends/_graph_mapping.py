"""Graph ``event`` JSON <-> :class:`~severa_ext.sync.items.CalendarItem`.

The wire shapes are attrs classes serialised by one cattrs converter (camelCase keys,
``@odata.etag``, absent fields omitted). :func:`event_to_item` and
:func:`item_to_event` do the mapping: HTML bodies to text and back, Windows time-zone
names to IANA and back (``severa_ext.backends._timezones``), all-day events as dates,
``sensitivity`` to the private flag (S9), ``showAs``, categories, and series
occurrences keyed by ``seriesMasterId`` + ``originalStart``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from severa_ext.backends._graph_html import html_to_text, text_to_html
from severa_ext.backends._timezones import iana_to_windows, resolve_zone
from severa_ext.errors import BadItem
from severa_ext.sync.items import CalendarItem, ShowAs

__all__ = [
    "MAPPED_PROPERTIES",
    "SYNC_KEY_PROPERTY_ID",
    "DateTimeTimeZone",
    "ExtendedProperty",
    "GraphEvent",
    "ItemBody",
    "Location",
    "converter",
    "event_to_item",
    "format_graph_datetime",
    "item_to_event",
    "parse_graph_datetime",
    "sync_key_filter",
]

SYNC_KEY_PROPERTY_ID = "String {8f3c1a52-6d1e-4b7a-9c55-2f1e0d6b7a41} Name SeveraExtSyncKey"
"""The single-value extended property that carries the engine's sync key."""

MAPPED_PROPERTIES = (
    "subject",
    "body",
    "start",
    "end",
    "location",
    "isAllDay",
    "sensitivity",
    "showAs",
    "categories",
)
"""The event properties :func:`event_to_item` maps to content; an answer without one
of them (a delta entry may leave properties out) is completed before it is mapped."""

_PRIVATE_SENSITIVITIES = frozenset({"private", "personal", "confidential"})
_FRACTION = re.compile(r"(\.\d{1,6})\d*")


@attrs.define
class DateTimeTimeZone:
    """Graph ``dateTimeTimeZone``: a wall-clock time and the zone it is in."""

    date_time: str
    time_zone: str = "UTC"


@attrs.define
class ItemBody:
    """Graph ``itemBody``."""

    content_type: str = "text"
    content: str = ""


@attrs.define
class Location:
    """Graph ``location`` (only the display name is synced)."""

    display_name: str = ""


@attrs.define
class ExtendedProperty:
    """Graph ``singleValueLegacyExtendedProperty``."""

    id: str
    value: str | None = None


@attrs.define
class GraphEvent:
    """The part of a Graph ``event`` that the sync reads and writes."""

    subject: str | None = None
    body: ItemBody | None = None
    start: DateTimeTimeZone | None = None
    end: DateTimeTimeZone | None = None
    location: Location | None = None
    is_all_day: bool | None = None
    sensitivity: str | None = None
    show_as: str | None = None
    categories: list[str] | None = None
    id: str | None = None
    odata_etag: str | None = None
    change_key: str | None = None
    transaction_id: str | None = None
    series_master_id: str | None = None
    original_start: str | None = None
    type: str | None = None
    last_modified_date_time: str | None = None
    single_value_extended_properties: list[ExtendedProperty] | None = None


def _camel(name: str) -> str:
    if name == "odata_etag":
        return "@odata.etag"
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter()
    for cls in (DateTimeTimeZone, ItemBody, Location, ExtendedProperty, GraphEvent):
        renames: dict[str, Any] = {
            a.name: override(rename=_camel(a.name)) for a in attrs.fields(cls)
        }
        conv.register_structure_hook(cls, make_dict_structure_fn(cls, conv, **renames))
        conv.register_unstructure_hook(
            cls,
            make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True, **renames),
        )
    return conv


converter = _make_converter()
"""The cattrs converter for the Graph wire shapes (camelCase, defaults omitted)."""


def parse_graph_datetime(value: DateTimeTimeZone, *, ref: str) -> datetime:
    """An aware datetime from a Graph ``dateTimeTimeZone``.

    Graph writes up to seven fractional digits; the zone is a Windows or IANA name.
    A zone that cannot be resolved (a custom zone) is treated as UTC, which is what
    Graph reports when asked with ``Prefer: outlook.timezone="UTC"``.

    Raises:
        BadItem: the date-time text is not ISO 8601.
    """
    text = _FRACTION.sub(lambda m: m.group(1), value.date_time.strip())
    if text.endswith("Z"):
        text = text[:-1]
    try:
        naive = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadItem(ref, f"bad dateTime {value.date_time!r}", backend="graph") from exc
    if naive.tzinfo is not None:
        return naive
    zone: tzinfo = resolve_zone(value.time_zone) or UTC
    return naive.replace(tzinfo=zone)


def _wall_time_is_exact(value: datetime) -> bool:
    """Whether ``value``'s local wall time names exactly one instant in its zone.

    A wall time in an autumn overlap (ambiguous: ``fold`` picks the instant) or in a
    spring gap (nonexistent) gives different UTC offsets for ``fold=0`` and ``fold=1``.
    """
    return value.replace(fold=0).utcoffset() == value.replace(fold=1).utcoffset()


def format_graph_datetime(value: datetime) -> DateTimeTimeZone:
    """A Graph ``dateTimeTimeZone`` for an aware datetime, keeping its zone if known.

    A wall time plus a Windows zone name cannot carry ``fold``, so a time that is
    ambiguous or nonexistent in its zone (a DST transition) is sent as UTC: the
    instant always survives, the zone only where it is exact.
    """
    zone = value.tzinfo
    name = zone.key if isinstance(zone, ZoneInfo) else None
    windows = iana_to_windows(name) if name else None
    if windows is None or not _wall_time_is_exact(value):
        value = value.astimezone(UTC)
        windows = "UTC"
    return DateTimeTimeZone(value.replace(tzinfo=None).isoformat(timespec="seconds"), windows)


def _sync_key(event: GraphEvent) -> str | None:
    for prop in event.single_value_extended_properties or ():
        if prop.id.lower() == SYNC_KEY_PROPERTY_ID.lower() and prop.value:
            return prop.value
    return event.transaction_id or None


def _show_as(value: str | None) -> ShowAs:
    try:
        return ShowAs(value or "busy")
    except ValueError:
        return ShowAs.UNKNOWN


def event_to_item(raw: Any) -> CalendarItem:
    """The neutral item for one Graph event (a dict from the JSON payload).

    Raises:
        BadItem: the event lacks start/end, or its values do not parse.
    """
    ref = str(raw.get("id", "?")) if isinstance(raw, dict) else "?"
    try:
        event = converter.structure(raw, GraphEvent)
    except (cattrs.BaseValidationError, TypeError, ValueError, AttributeError) as exc:
        raise BadItem(ref, f"unexpected event shape: {exc}", backend="graph") from exc
    if event.start is None or event.end is None:
        raise BadItem(ref, "event has no start or end", backend="graph")
    start: datetime | date = parse_graph_datetime(event.start, ref=ref)
    end: datetime | date = parse_graph_datetime(event.end, ref=ref)
    if event.is_all_day:
        assert isinstance(start, datetime)
        assert isinstance(end, datetime)
        start, end = start.date(), end.date()
        if end <= start:
            end = start + timedelta(days=1)
    body = ""
    if event.body is not None:
        content = event.body.content or ""
        body = html_to_text(content) if event.body.content_type.lower() == "html" else content
    original: datetime | None = None
    if event.original_start:
        original = parse_graph_datetime(DateTimeTimeZone(event.original_start), ref=ref)
    modified: datetime | None = None
    if event.last_modified_date_time:
        modified = parse_graph_datetime(DateTimeTimeZone(event.last_modified_date_time), ref=ref)
    try:
        return CalendarItem(
            title=event.subject or "",
            start=start,
            end=end,
            location=(event.location.display_name or "") if event.location else "",
            body=body,
            private=(event.sensitivity or "normal").lower() in _PRIVATE_SENSITIVITIES,
            show_as=_show_as(event.show_as),
            categories=tuple(event.categories or ()),
            last_modified=modified,
            id=event.id,
            etag=event.odata_etag or event.change_key,
            sync_key=_sync_key(event),
            series_id=event.series_master_id,
            original_start=original,
        )
    except ValueError as exc:
        raise BadItem(ref, str(exc), backend="graph") from exc


def item_to_event(item: CalendarItem, *, sync_key: str | None = None) -> dict[str, Any]:
    """The JSON body that creates (with ``sync_key``) or replaces an event.

    A create carries ``transactionId`` = sync key (Graph de-duplicates on it) and the
    sync key as a single-value extended property (``find`` filters on it).
    """
    if isinstance(item.start, datetime) and isinstance(item.end, datetime):
        start, end = format_graph_datetime(item.start), format_graph_datetime(item.end)
    else:
        start = DateTimeTimeZone(f"{item.start.isoformat()}T00:00:00", "UTC")
        end = DateTimeTimeZone(f"{item.end.isoformat()}T00:00:00", "UTC")
    event = GraphEvent(
        subject=item.title,
        body=ItemBody("html", text_to_html(item.body)),
        start=start,
        end=end,
        location=Location(item.location),
        is_all_day=item.all_day,
        sensitivity="private" if item.private else "normal",
        show_as=item.show_as.value,
        categories=list(item.categories),
    )
    if sync_key is not None:
        event.transaction_id = sync_key
        event.single_value_extended_properties = [ExtendedProperty(SYNC_KEY_PROPERTY_ID, sync_key)]
    payload: dict[str, Any] = converter.unstructure(event)
    return payload


def sync_key_filter(sync_key: str) -> str:
    """The OData ``$filter`` that selects events stamped with ``sync_key``."""
    quoted = sync_key.replace("'", "''")
    return (
        "singleValueExtendedProperties/Any(ep: ep/id eq "
        f"'{SYNC_KEY_PROPERTY_ID}' and ep/value eq '{quoted}')"
    )
