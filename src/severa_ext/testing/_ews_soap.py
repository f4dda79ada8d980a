"""The SOAP building blocks of ``FakeEwsServer``: namespaces, envelopes, faults, items.

Responses are built with :mod:`xml.etree.ElementTree` in the documented EWS schema:
SOAP 1.1 envelopes, the 2006 ``messages`` and ``types`` namespaces, one
``*ResponseMessage`` per item with ``ResponseClass``/``ResponseCode``, and
request-level errors as SOAP faults (``ErrorServerBusy`` carries
``BackOffMilliseconds``). :func:`_malformed` builds the hostile answers a test can
inject (an entity bomb, an external entity, a truncated or mis-namespaced document,
an HTML login page).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import attrs

from severa_ext.testing._ews_store import (
    FakeMailbox,
    StoredItem,
    zone_named,
)

__all__ = ["ERRORS_NS", "MESSAGES_NS", "SOAP_NS", "TYPES_NS", "Fault", "SoapError"]

# The namespaces of the EWS schema (Exchange Web Services reference, "EWS XML elements").
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MESSAGES_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
TYPES_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
ERRORS_NS = "http://schemas.microsoft.com/exchange/services/2006/errors"

_FREE_BUSY = frozenset({"Free", "Tentative", "Busy", "OOF", "WorkingElsewhere", "NoData"})
_SENSITIVITY = frozenset({"Normal", "Personal", "Private", "Confidential"})


def _m(local: str) -> str:
    return f"{{{MESSAGES_NS}}}{local}"


def _t(local: str) -> str:
    return f"{{{TYPES_NS}}}{local}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attrib)
    if text is not None:
        node.text = text
    return node


def _fmt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SoapError(Exception):
    """A request-level error, answered as a SOAP fault."""

    def __init__(self, code: str, message: str, *, back_off_ms: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.back_off_ms = back_off_ms


class _ItemError(Exception):
    """A per-item error, answered as a ``ResponseClass="Error"`` message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@attrs.define
class Fault:
    """One injected fault: ``kind`` for requests of ``operation`` (any when None)."""

    kind: str
    operation: str | None = None
    back_off_ms: int = 250


_ENVELOPE_OPEN = (
    f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP_NS}">'
    '<s:Body><m:GetItemResponse xmlns:m="{ns}" xmlns:t="' + TYPES_NS + '">'
)


def _malformed(kind: str) -> tuple[int, str, bytes]:
    """(status, content type, body) of a hostile or broken answer."""
    if kind == "malformed:entity-bomb":
        entities = "".join(f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, 10))
        doc = (
            f'<?xml version="1.0"?><!DOCTYPE bomb [<!ENTITY e0 "lol">{entities}]>'
            f'<s:Envelope xmlns:s="{SOAP_NS}"><s:Body>&e9;</s:Body></s:Envelope>'
        )
        return 200, "text/xml; charset=utf-8", doc.encode()
    if kind == "malformed:external-entity":
        doc = (
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            f'<s:Envelope xmlns:s="{SOAP_NS}"><s:Body>&xxe;</s:Body></s:Envelope>'
        )
        return 200, "text/xml; charset=utf-8", doc.encode()
    if kind == "malformed:truncated":
        doc = _ENVELOPE_OPEN.replace("{ns}", MESSAGES_NS) + "<m:ResponseMessages><m:GetItemResp"
        return 200, "text/xml; charset=utf-8", doc.encode()
    if kind == "malformed:wrong-namespace":
        wrong = "http://schemas.microsoft.com/exchange/services/2010/messages"
        doc = (
            _ENVELOPE_OPEN.replace("{ns}", wrong)
            + '<m:ResponseMessages><m:GetItemResponseMessage ResponseClass="Success">'
            "<m:ResponseCode>NoError</m:ResponseCode></m:GetItemResponseMessage>"
            "</m:ResponseMessages></m:GetItemResponse></s:Body></s:Envelope>"
        )
        return 200, "text/xml; charset=utf-8", doc.encode()
    page = (
        "<!DOCTYPE html><html><head><title>Sign in</title></head><body>"
        '<form action="/owa/auth.owa" method="post"><input name="username"></form>'
        "</body></html>"
    )
    return 200, "text/html; charset=utf-8", page.encode()


def _envelope(body_child: ET.Element | None, fault: SoapError | None = None) -> bytes:
    envelope = ET.Element(f"{{{SOAP_NS}}}Envelope")
    header = _sub(envelope, f"{{{SOAP_NS}}}Header")
    _sub(
        header,
        _t("ServerVersionInfo"),
        MajorVersion="15",
        MinorVersion="2",
        MajorBuildNumber="1544",
        MinorBuildNumber="4",
        Version="V2017_07_11",
    )
    body = _sub(envelope, f"{{{SOAP_NS}}}Body")
    if fault is not None:
        node = _sub(body, f"{{{SOAP_NS}}}Fault")
        _sub(node, "faultcode", f"a:{fault.code}")
        _sub(node, "faultstring", fault.message)
        detail = _sub(node, "detail")
        _sub(detail, f"{{{ERRORS_NS}}}ResponseCode", fault.code)
        _sub(detail, f"{{{ERRORS_NS}}}Message", fault.message)
        if fault.back_off_ms is not None:
            xml = _sub(detail, _t("MessageXml"))
            _sub(xml, _t("Value"), str(fault.back_off_ms), Name="BackOffMilliseconds")
    elif body_child is not None:
        body.append(body_child)
    document: bytes = ET.tostring(envelope, encoding="utf-8", xml_declaration=True)
    return document


def _message(parent: ET.Element, operation: str, error: _ItemError | None = None) -> ET.Element:
    node = _sub(
        parent,
        _m(f"{operation}ResponseMessage"),
        ResponseClass="Error" if error else "Success",
    )
    if error is not None:
        _sub(node, _m("MessageText"), error.message)
        _sub(node, _m("ResponseCode"), error.code)
        _sub(node, _m("DescriptiveLinkKey"), "0")
    else:
        _sub(node, _m("ResponseCode"), "NoError")
    return node


def _parse_time(raw: str, zone_name: str | None) -> datetime:
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError as exc:
        raise _ItemError("ErrorInvalidValueForProperty", f"bad xs:dateTime {raw!r}") from exc
    if value.tzinfo is None:
        zone = zone_named(zone_name) if zone_name else None
        value = value.replace(tzinfo=zone or UTC)
    return value.astimezone(UTC)


class _Shape:
    """What a request's ``ItemShape`` asks for."""

    def __init__(self, shape: ET.Element | None) -> None:
        self.base = "IdOnly"
        self.fields: set[str] = set()
        self.extended: set[tuple[str, str]] = set()
        if shape is None:
            return
        self.base = (shape.findtext(_t("BaseShape")) or "IdOnly").strip()
        additional = shape.find(_t("AdditionalProperties"))
        for node in additional if additional is not None else ():
            if node.tag == _t("FieldURI"):
                self.fields.add(node.get("FieldURI", ""))
            elif node.tag == _t("ExtendedFieldURI"):
                self.extended.add(_ext_key(node))

    def wants(self, uri: str) -> bool:
        return self.base in {"Default", "AllProperties"} or uri in self.fields


def _ext_key(node: ET.Element) -> tuple[str, str]:
    set_id = (node.get("PropertySetId") or node.get("DistinguishedPropertySetId") or "").lower()
    return set_id, node.get("PropertyName") or node.get("PropertyTag") or ""


def _item_element(
    parent: ET.Element, item: StoredItem, shape: _Shape, mailbox: FakeMailbox
) -> ET.Element:
    node = _sub(parent, _t("CalendarItem"))
    _sub(node, _t("ItemId"), Id=item.id, ChangeKey=item.change_key)
    folder = mailbox.calendar_folder_id if item.folder == "calendar" else mailbox.deleted_folder_id
    if shape.wants("item:ParentFolderId"):
        _sub(node, _t("ParentFolderId"), Id=folder, ChangeKey="AQAAAA==")
    if shape.wants("item:Subject"):
        _sub(node, _t("Subject"), item.subject)
    if shape.wants("item:Sensitivity"):
        _sub(node, _t("Sensitivity"), item.sensitivity)
    if shape.wants("item:Body"):
        _sub(node, _t("Body"), item.body, BodyType="Text")
    if shape.wants("item:Categories") and item.categories:
        categories = _sub(node, _t("Categories"))
        for category in item.categories:
            _sub(categories, _t("String"), category)
    for (set_id, name), value in item.extended.items():
        if (set_id, name) in shape.extended:
            prop = _sub(node, _t("ExtendedProperty"))
            _sub(prop, _t("ExtendedFieldURI"), PropertySetId=set_id, PropertyName=name,
                 PropertyType="String")  # fmt: skip
            _sub(prop, _t("Value"), value)
    if shape.wants("item:LastModifiedTime"):
        _sub(node, _t("LastModifiedTime"), _fmt(item.last_modified))
    if shape.wants("calendar:UID"):
        _sub(node, _t("UID"), item.uid)
    if shape.wants("calendar:Start"):
        _sub(node, _t("Start"), _fmt(item.start))
    if shape.wants("calendar:End"):
        _sub(node, _t("End"), _fmt(item.end))
    if shape.wants("calendar:OriginalStart") and item.original_start is not None:
        _sub(node, _t("OriginalStart"), _fmt(item.original_start))
    if shape.wants("calendar:IsAllDayEvent"):
        _sub(node, _t("IsAllDayEvent"), "true" if item.all_day else "false")
    if shape.wants("calendar:LegacyFreeBusyStatus"):
        _sub(node, _t("LegacyFreeBusyStatus"), item.free_busy)
    if shape.wants("calendar:Location") and item.location:
        _sub(node, _t("Location"), item.location)
    if shape.wants("calendar:CalendarItemType"):
        _sub(node, _t("CalendarItemType"), item.item_type)
    if shape.wants("calendar:StartTimeZone"):
        _sub(node, _t("StartTimeZone"), Id=item.start_tz, Name=item.start_tz)
    if shape.wants("calendar:EndTimeZone"):
        _sub(node, _t("EndTimeZone"), Id=item.end_tz, Name=item.end_tz)
    return node


def _content_changes(container: ET.Element) -> dict[str, Any]:
    """Field values named by the children of a request's ``t:CalendarItem``."""
    changes: dict[str, Any] = {}
    zone = container.find(_t("StartTimeZone"))
    zone_name = zone.get("Id") if zone is not None else None
    for child in container:
        local = child.tag.rpartition("}")[2]
        text = child.text or ""
        if local == "Subject":
            changes["subject"] = text
        elif local == "Body":
            changes["body"] = text
        elif local == "Location":
            changes["location"] = text
        elif local == "Sensitivity":
            if text not in _SENSITIVITY:
                raise _ItemError("ErrorInvalidValueForProperty", f"Sensitivity {text!r}")
            changes["sensitivity"] = text
        elif local == "LegacyFreeBusyStatus":
            if text not in _FREE_BUSY:
                raise _ItemError("ErrorInvalidValueForProperty", f"LegacyFreeBusyStatus {text!r}")
            changes["free_busy"] = text
        elif local == "Categories":
            changes["categories"] = [(s.text or "") for s in child.findall(_t("String"))]
        elif local == "IsAllDayEvent":
            changes["all_day"] = text.strip() == "true"
        elif local in {"Start", "End"}:
            changes[local.lower()] = _parse_time(text, zone_name)
        elif local in {"StartTimeZone", "EndTimeZone"}:
            name = child.get("Id") or "UTC"
            if zone_named(name) is None:
                raise _ItemError("ErrorTimeZone", f"unknown time zone {name!r}")
            changes["start_tz" if local == "StartTimeZone" else "end_tz"] = name
        elif local == "ExtendedProperty":
            uri = child.find(_t("ExtendedFieldURI"))
            if uri is None:
                raise _ItemError("ErrorInvalidExtendedProperty", "ExtendedProperty without URI")
            changes.setdefault("extended", {})[_ext_key(uri)] = child.findtext(_t("Value")) or ""
    return changes


def _check_times(start: datetime, end: datetime) -> None:
    if end < start:
        raise _ItemError(
            "ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate"
        )


# --- NTLM (the handshake only: the fake checks the user name, not the password) ------
