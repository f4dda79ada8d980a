"""Mapping between EWS ``t:CalendarItem`` elements and :class:`CalendarItem`.

Times travel in UTC (the request's ``TimeZoneContext`` is UTC); the item's own zone
goes in ``StartTimeZone``/``EndTimeZone`` as a Windows zone name. All-day events are
midnight-to-midnight in their start zone; reading them back converts the UTC start
into that zone before taking the date, so an all-day event made in Outlook in Helsinki
(``2026-04-30T21:00:00Z``, "FLE Standard Time") is 1 May.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Collection
from datetime import UTC, date, datetime, time, tzinfo
from zoneinfo import ZoneInfo

from severa_ext.backends._timezones import iana_to_windows, resolve_zone
from severa_ext.backends.ews._xml import child_text, sub, t
from severa_ext.errors import BadItem, ValidationError
from severa_ext.sync.items import CalendarItem, ShowAs

__all__ = [
    "ITEM_TYPES",
    "SYNC_KEY_PROPERTY",
    "SYNC_KEY_PROPERTY_SET",
    "ParsedItem",
    "calendar_item_element",
    "extended_field_uri",
    "format_utc",
    "parse_calendar_item",
    "update_elements",
]

SYNC_KEY_PROPERTY_SET = "8f2c6a0e-5b1d-4e8a-9c37-2d4f6b8e1a53"
"""The ``PropertySetId`` GUID of the sync-key extended property (ours, fixed forever)."""

SYNC_KEY_PROPERTY = "SeveraExtSyncKey"
"""The ``PropertyName`` of the sync-key extended property."""

ITEM_TYPES = frozenset({"Single", "Occurrence", "Exception", "RecurringMaster"})

_SHOW_AS_TO_EWS = {
    ShowAs.FREE: "Free",
    ShowAs.TENTATIVE: "Tentative",
    ShowAs.BUSY: "Busy",
    ShowAs.OOF: "OOF",
    ShowAs.WORKING_ELSEWHERE: "WorkingElsewhere",
    ShowAs.UNKNOWN: "NoData",
}
_SHOW_AS_FROM_EWS = {value: key for key, value in _SHOW_AS_TO_EWS.items()}
_PRIVATE = frozenset({"Private", "Personal", "Confidential"})
_TIME_URIS = (
    "calendar:Start",
    "calendar:End",
    "calendar:IsAllDayEvent",
    "calendar:StartTimeZone",
    "calendar:EndTimeZone",
)
# Characters XML 1.0 cannot carry at all (C0 controls other than tab / newlines ...).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _check_text(item: CalendarItem) -> None:
    texts = [("title", item.title), ("location", item.location), ("body", item.body)]
    texts += [("categories", category) for category in item.categories]
    for name, value in texts:
        bad = _NOT_XML.search(value)
        if bad is not None:
            raise BadItem(
                item.id or item.title[:40],
                f"{name} holds the character {bad.group()!r}, which XML cannot carry",
                backend="ews",
            )


def extended_field_uri(parent: ET.Element | None = None) -> ET.Element:
    """The ``t:ExtendedFieldURI`` naming the sync-key property (under ``parent`` if given)."""
    attributes = {
        "PropertySetId": SYNC_KEY_PROPERTY_SET,
        "PropertyName": SYNC_KEY_PROPERTY,
        "PropertyType": "String",
    }
    if parent is None:
        return ET.Element(t("ExtendedFieldURI"), attributes)
    return ET.SubElement(parent, t("ExtendedFieldURI"), attributes)


def format_utc(value: datetime) -> str:
    """An aware datetime as an ``xs:dateTime`` in UTC (``2026-05-01T10:00:00Z``)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _zone_name(value: datetime | date) -> str:
    if isinstance(value, datetime) and isinstance(value.tzinfo, ZoneInfo):
        return iana_to_windows(value.tzinfo.key) or "UTC"
    return "UTC"


def _as_utc(value: datetime | date) -> str:
    if isinstance(value, datetime):
        return format_utc(value)
    return format_utc(datetime.combine(value, time(0), tzinfo=UTC))


def _field_values(item: CalendarItem) -> list[tuple[str, ET.Element | None]]:
    """(FieldURI, CalendarItem child or ``None`` to delete it), in schema order."""
    _check_text(item)
    values: list[tuple[str, ET.Element | None]] = []

    def element(tag: str, text: str | None = None, **attributes: str) -> ET.Element:
        node = ET.Element(t(tag), attributes)
        if text is not None:
            node.text = text
        return node

    values.append(("item:Subject", element("Subject", item.title)))
    values.append(("item:Sensitivity", element("Sensitivity", _sensitivity(item))))
    values.append(("item:Body", element("Body", item.body, BodyType="Text")))
    if item.categories:
        categories = element("Categories")
        for category in item.categories:
            sub(categories, t("String"), category)
        values.append(("item:Categories", categories))
    else:
        values.append(("item:Categories", None))
    values.append(("calendar:Start", element("Start", _as_utc(item.start))))
    values.append(("calendar:End", element("End", _as_utc(item.end))))
    values.append(("calendar:IsAllDayEvent", element("IsAllDayEvent", _bool(item.all_day))))
    values.append(
        ("calendar:LegacyFreeBusyStatus", element("LegacyFreeBusyStatus", _show_as(item)))
    )
    if item.location:
        values.append(("calendar:Location", element("Location", item.location)))
    else:
        values.append(("calendar:Location", None))
    values.append(("calendar:StartTimeZone", element("StartTimeZone", Id=_zone_name(item.start))))
    values.append(("calendar:EndTimeZone", element("EndTimeZone", Id=_zone_name(item.end))))
    return values


def _sensitivity(item: CalendarItem) -> str:
    return "Private" if item.private else "Normal"


def _show_as(item: CalendarItem) -> str:
    return _SHOW_AS_TO_EWS[item.show_as]


def _bool(value: bool) -> str:
    return "true" if value else "false"


def calendar_item_element(item: CalendarItem, sync_key: str) -> ET.Element:
    """A ``t:CalendarItem`` for ``CreateItem``, stamped with ``sync_key``.

    Children follow the schema's sequence (item fields, the extended property, then
    calendar fields), which real servers validate.
    """
    node = ET.Element(t("CalendarItem"))
    fields = [(uri, value) for uri, value in _field_values(item) if value is not None]
    for uri, value in fields:
        if uri == "calendar:Start":
            stamp = sub(node, t("ExtendedProperty"))
            extended_field_uri(stamp)
            sub(stamp, t("Value"), sync_key)
        node.append(value)
    return node


_URIS_OF_FIELD = {
    "title": ("item:Subject",),
    "private": ("item:Sensitivity",),
    "body": ("item:Body",),
    "categories": ("item:Categories",),
    "when": _TIME_URIS,
    "show_as": ("calendar:LegacyFreeBusyStatus",),
    "location": ("calendar:Location",),
}


def update_elements(item: CalendarItem, fields: Collection[str] | None = None) -> list[ET.Element]:
    """``SetItemField`` / ``DeleteItemField`` elements that make an item hold ``item``.

    Args:
        item: the content to write.
        fields: the :data:`~severa_ext.sync.content.MERGE_FIELDS` that changed (as
            :meth:`~severa_ext.sync.content.Content.diff` names them); only
            their EWS properties are written (all of them when ``None``), so what the
            user set and the model does not keep (an HTML body, "Personal", a time
            zone) survives an unrelated edit.
    """
    wanted: set[str] | None = None
    if fields is not None:
        wanted = {uri for name in fields for uri in _URIS_OF_FIELD.get(name, ())}
    updates: list[ET.Element] = []
    for uri, value in _field_values(item):
        if wanted is not None and uri not in wanted:
            continue
        if value is None:
            delete = ET.Element(t("DeleteItemField"))
            sub(delete, t("FieldURI"), FieldURI=uri)
            updates.append(delete)
            continue
        set_field = ET.Element(t("SetItemField"))
        sub(set_field, t("FieldURI"), FieldURI=uri)
        sub(set_field, t("CalendarItem")).append(value)
        updates.append(set_field)
    return updates


class ParsedItem:
    """A parsed ``t:CalendarItem``: its EWS type and the neutral item (if it maps)."""

    __slots__ = ("item", "item_type", "uid")

    def __init__(self, item: CalendarItem, item_type: str, uid: str | None) -> None:
        self.item = item
        self.item_type = item_type
        self.uid = uid

    def __repr__(self) -> str:
        return f"ParsedItem({self.item_type}, {self.item.id!r})"


def _parse_time(raw: str | None, ref: str, name: str) -> datetime:
    if not raw:
        raise BadItem(ref, f"calendar item has no {name}", backend="ews")
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError as exc:
        raise BadItem(ref, f"{name} {raw!r} is not an xs:dateTime", backend="ews") from exc
    if value.tzinfo is None:  # the request asked for UTC (TimeZoneContext)
        value = value.replace(tzinfo=UTC)
    return value


def _zone(element: ET.Element, tag: str) -> tzinfo | None:
    zone = element.find(t(tag))
    if zone is None:
        return None
    name = zone.get("Id") or zone.get("Name") or ""
    return resolve_zone(name) if name else None


def parse_calendar_item(element: ET.Element) -> ParsedItem:
    """Turn a ``t:CalendarItem`` from ``GetItem`` into a :class:`ParsedItem`.

    Raises:
        BadItem: the item lacks an id, its times are missing or unparseable, or its
            content is not a valid :class:`CalendarItem`.
    """
    item_id = element.find(t("ItemId"))
    ref = item_id.get("Id") if item_id is not None else None
    if item_id is None or not ref:
        raise BadItem("<no ItemId>", "calendar item without ItemId", backend="ews")
    change_key = item_id.get("ChangeKey")
    item_type = (child_text(element, t("CalendarItemType")) or "Single").strip()
    if item_type not in ITEM_TYPES:
        raise BadItem(ref, f"unknown CalendarItemType {item_type!r}", backend="ews")
    start_utc = _parse_time(child_text(element, t("Start")), ref, "Start")
    end_utc = _parse_time(child_text(element, t("End")), ref, "End")
    start_zone = _zone(element, "StartTimeZone") or UTC
    end_zone = _zone(element, "EndTimeZone") or start_zone
    all_day = (child_text(element, t("IsAllDayEvent")) or "").strip() == "true"
    start: datetime | date
    end: datetime | date
    if all_day:
        start = start_utc.astimezone(start_zone).date()
        end = end_utc.astimezone(end_zone).date()
    else:
        start = start_utc.astimezone(start_zone)
        end = end_utc.astimezone(end_zone)
    sync_key: str | None = None
    for extended in element.findall(t("ExtendedProperty")):
        uri = extended.find(t("ExtendedFieldURI"))
        if uri is not None and uri.get("PropertyName") == SYNC_KEY_PROPERTY:
            sync_key = (extended.findtext(t("Value")) or "").strip() or None
    categories = tuple(
        (node.text or "").strip()
        for node in element.findall(f"{t('Categories')}/{t('String')}")
        if (node.text or "").strip()
    )
    original: datetime | date | None = None
    original_raw = child_text(element, t("OriginalStart"))
    if original_raw:
        original = _parse_time(original_raw, ref, "OriginalStart")
        if all_day:
            original = original.astimezone(start_zone).date()
    modified_raw = child_text(element, t("LastModifiedTime"))
    modified = _parse_time(modified_raw, ref, "LastModifiedTime") if modified_raw else None
    free_busy = (child_text(element, t("LegacyFreeBusyStatus")) or "Busy").strip()
    uid = (child_text(element, t("UID")) or "").strip() or None
    try:
        item = CalendarItem(
            title=child_text(element, t("Subject")) or "",
            start=start,
            end=end,
            location=child_text(element, t("Location")) or "",
            body=child_text(element, t("Body")) or "",
            private=(child_text(element, t("Sensitivity")) or "Normal").strip() in _PRIVATE,
            show_as=_SHOW_AS_FROM_EWS.get(free_busy, ShowAs.UNKNOWN),
            categories=categories,
            last_modified=modified,
            id=ref,
            etag=change_key,
            sync_key=sync_key,
            series_id=uid if item_type in {"Occurrence", "Exception"} else None,
            original_start=original if item_type in {"Occurrence", "Exception"} else None,
        )
    except ValidationError as exc:
        raise BadItem(ref, str(exc), backend="ews") from exc
    return ParsedItem(item, item_type, uid)
