"""Unit tests of the EWS SOAP layer: envelopes, safe parsing, faults, item mapping.

No server here: these feed bytes in and check values out. Rules: S7 (impersonation
header), S9 (private entries), S3 (sync key stamped on what we create).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import defusedxml.ElementTree as SafeET
import pytest
from hypothesis import given
from hypothesis import strategies as st

from severa_ext.backends.ews._mapping import (
    SYNC_KEY_PROPERTY,
    SYNC_KEY_PROPERTY_SET,
    calendar_item_element,
    parse_calendar_item,
    update_elements,
)
from severa_ext.backends.ews._xml import (
    MESSAGES_NS,
    SOAP_NS,
    TYPES_NS,
    build_envelope,
    m,
    parse_envelope,
    response_messages,
    soap_fault,
    t,
)
from severa_ext.errors import BadItem, MalformedResponse
from severa_ext.sync.items import CalendarItem, ShowAs, content_equal

HELSINKI = ZoneInfo("Europe/Helsinki")


def envelope(body: str, *, ns: str = MESSAGES_NS) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP_NS}" '
        f'xmlns:m="{ns}" xmlns:t="{TYPES_NS}"><s:Body>{body}</s:Body></s:Envelope>'
    ).encode()


# --- envelopes ---------------------------------------------------------------------


def test_envelope_carries_version_impersonation_and_utc_context_s7():
    body = ET.Element(m("GetFolder"))
    document = build_envelope(body, server_version="Exchange2016", impersonate="a@contoso.com")
    root = SafeET.fromstring(document)
    header = root.find(f"{{{SOAP_NS}}}Header")
    assert header.find(t("RequestServerVersion")).get("Version") == "Exchange2016"
    address = header.findtext(
        f"{t('ExchangeImpersonation')}/{t('ConnectingSID')}/{t('SmtpAddress')}"
    )
    assert address == "a@contoso.com"
    assert header.find(f"{t('TimeZoneContext')}/{t('TimeZoneDefinition')}").get("Id") == "UTC"
    assert root.find(f"{{{SOAP_NS}}}Body/{m('GetFolder')}") is not None


def test_envelope_without_impersonation_has_no_header_for_it():
    document = build_envelope(
        ET.Element(m("GetFolder")), server_version="Exchange2019", impersonate=None
    )
    assert b"ExchangeImpersonation" not in document


# --- hostile and broken responses -------------------------------------------------

ENTITY_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&lol9;'
    b"</s:Body></s:Envelope>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&xxe;'
    b"</s:Body></s:Envelope>"
)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        pytest.param(ENTITY_BOMB, "unsafe XML", id="entity-bomb"),
        pytest.param(EXTERNAL_ENTITY, "unsafe XML", id="external-entity"),
        pytest.param(envelope("<m:GetItemResponse>")[:-40], "not well-formed", id="truncated"),
        pytest.param(b"<html><body>Sign in</body></html>", "HTML page", id="html-login"),
        pytest.param(b"<!DOCTYPE html><html></html>", "HTML page", id="html-doctype"),
        pytest.param(b"   ", "empty", id="empty"),
        pytest.param(
            b'<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope"><Body/></Envelope>',
            "expected a SOAP 1.1 Envelope",
            id="soap12-namespace",
        ),
    ],
)
def test_hostile_or_broken_xml_is_a_clear_malformed_response(content, words):
    with pytest.raises(MalformedResponse, match=words) as info:
        parse_envelope(content, operation="GetItem")
    assert info.value.backend == "ews"
    assert "GetItem" in str(info.value)


def test_deeply_nested_answer_is_malformed_not_a_recursion_error():
    depth = 50_000
    body = parse_envelope(envelope("<a>" * depth + "</a>" * depth), operation="GetItem")
    with pytest.raises(MalformedResponse, match="no GetItemResponse"):
        list(response_messages(body, "GetItem"))


def test_wrong_messages_namespace_is_malformed():
    wrong = "http://schemas.microsoft.com/exchange/services/2010/messages"
    body = parse_envelope(
        envelope(
            "<m:GetItemResponse><m:ResponseMessages><m:GetItemResponseMessage ResponseClass="
            '"Success"><m:ResponseCode>NoError</m:ResponseCode></m:GetItemResponseMessage>'
            "</m:ResponseMessages></m:GetItemResponse>",
            ns=wrong,
        ),
        operation="GetItem",
    )
    with pytest.raises(MalformedResponse, match="messages namespace"):
        list(response_messages(body, "GetItem"))


def test_response_messages_read_class_code_text_and_back_off():
    body = parse_envelope(
        envelope(
            "<m:GetItemResponse><m:ResponseMessages>"
            '<m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError'
            "</m:ResponseCode></m:GetItemResponseMessage>"
            '<m:GetItemResponseMessage ResponseClass="Error"><m:MessageText>busy</m:MessageText>'
            "<m:ResponseCode>ErrorServerBusy</m:ResponseCode><m:MessageXml>"
            '<t:Value Name="BackOffMilliseconds">1500</t:Value></m:MessageXml>'
            "</m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse>"
        ),
        operation="GetItem",
    )
    ok, busy = list(response_messages(body, "GetItem"))
    assert ok.success
    assert ok.code == "NoError"
    assert not busy.success
    assert (busy.code, busy.message, busy.back_off_ms) == ("ErrorServerBusy", "busy", 1500)


def test_response_message_without_code_is_malformed():
    body = parse_envelope(
        envelope(
            "<m:GetItemResponse><m:ResponseMessages><m:GetItemResponseMessage ResponseClass="
            '"Success"/></m:ResponseMessages></m:GetItemResponse>'
        ),
        operation="GetItem",
    )
    with pytest.raises(MalformedResponse, match="ResponseCode"):
        list(response_messages(body, "GetItem"))


def test_soap_fault_reads_the_ews_code_and_back_off():
    body = parse_envelope(
        envelope(
            '<s:Fault><faultcode xmlns:a="http://x">a:ErrorServerBusy</faultcode>'
            "<faultstring>The server cannot service this request right now.</faultstring>"
            '<detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/'
            '2006/errors">ErrorServerBusy</e:ResponseCode><t:MessageXml><t:Value Name='
            '"BackOffMilliseconds">2000</t:Value></t:MessageXml></detail></s:Fault>'
        ),
        operation="FindItem",
    )
    fault = soap_fault(body)
    assert fault is not None
    assert (fault.code, fault.back_off_ms) == ("ErrorServerBusy", 2000)
    assert "cannot service" in fault.message


def test_soap_fault_without_detail_falls_back_to_faultcode():
    body = parse_envelope(
        envelope(
            "<s:Fault><faultcode>s:Client</faultcode><faultstring>bad</faultstring></s:Fault>"
        ),
        operation="GetItem",
    )
    fault = soap_fault(body)
    assert fault is not None
    assert (fault.code, fault.message, fault.back_off_ms) == ("Client", "bad", None)


# --- mapping ---------------------------------------------------------------------


def as_response(element: ET.Element, item_id: str = "id-1", change_key: str = "ck-1") -> ET.Element:
    """Turn a request CalendarItem into what GetItem would answer (id first, parsed back)."""
    element.insert(0, ET.Element(t("ItemId"), {"Id": item_id, "ChangeKey": change_key}))
    return SafeET.fromstring(ET.tostring(element))


def test_create_element_is_in_schema_order_and_stamps_the_sync_key_s3():
    start = datetime(2026, 5, 4, 9, tzinfo=HELSINKI)
    item = CalendarItem("Review", start, start + timedelta(hours=1), categories=("Blue",))
    node = calendar_item_element(item, "key-1")
    tags = [child.tag.rpartition("}")[2] for child in node]
    assert tags == [
        "Subject", "Sensitivity", "Body", "Categories", "ExtendedProperty", "Start", "End",
        "IsAllDayEvent", "LegacyFreeBusyStatus", "StartTimeZone", "EndTimeZone",
    ]  # fmt: skip
    uri = node.find(f"{t('ExtendedProperty')}/{t('ExtendedFieldURI')}")
    assert uri.attrib == {
        "PropertySetId": SYNC_KEY_PROPERTY_SET,
        "PropertyName": SYNC_KEY_PROPERTY,
        "PropertyType": "String",
    }
    assert node.findtext(t("Start")) == "2026-05-04T06:00:00Z"
    assert node.find(t("StartTimeZone")).get("Id") == "FLE Standard Time"


def test_private_item_is_sensitivity_private_and_back_s9():
    start = datetime(2026, 5, 4, 9, tzinfo=UTC)
    item = CalendarItem("Dentist", start, start + timedelta(hours=1), private=True)
    node = calendar_item_element(item, "k")
    assert node.findtext(t("Sensitivity")) == "Private"
    for value in ("Private", "Personal", "Confidential"):
        node.find(t("Sensitivity")).text = value
        assert parse_calendar_item(as_response(node)).item.private, value


def test_all_day_from_outlook_in_helsinki_reads_as_the_local_date():
    node = ET.fromstring(
        f'<t:CalendarItem xmlns:t="{TYPES_NS}"><t:ItemId Id="x" ChangeKey="c"/>'
        "<t:Subject>Holiday</t:Subject><t:Start>2026-04-30T21:00:00Z</t:Start>"
        "<t:End>2026-05-01T21:00:00Z</t:End><t:IsAllDayEvent>true</t:IsAllDayEvent>"
        '<t:StartTimeZone Id="FLE Standard Time"/></t:CalendarItem>'
    )
    parsed = parse_calendar_item(node)
    assert (parsed.item.start, parsed.item.end) == (date(2026, 5, 1), date(2026, 5, 2))
    assert parsed.item.all_day


def test_occurrence_carries_series_uid_and_original_start():
    node = ET.fromstring(
        f'<t:CalendarItem xmlns:t="{TYPES_NS}"><t:ItemId Id="occ" ChangeKey="c"/>'
        "<t:UID>series-uid</t:UID><t:Start>2026-05-02T08:00:00Z</t:Start>"
        "<t:End>2026-05-02T09:00:00Z</t:End><t:OriginalStart>2026-05-01T08:00:00Z"
        "</t:OriginalStart><t:CalendarItemType>Exception</t:CalendarItemType></t:CalendarItem>"
    )
    parsed = parse_calendar_item(node)
    assert parsed.item_type == "Exception"
    assert parsed.item.series_id == "series-uid"
    assert parsed.item.original_start == datetime(2026, 5, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        ("<t:Start>2026-05-02T08:00:00Z</t:Start>", "no End"),
        ("<t:Start>yesterday</t:Start><t:End>2026-05-02T08:00:00Z</t:End>", "xs:dateTime"),
        (
            "<t:Start>2026-05-02T09:00:00Z</t:Start><t:End>2026-05-02T08:00:00Z</t:End>",
            "before start",
        ),
        (
            "<t:Start>2026-05-02T08:00:00Z</t:Start><t:End>2026-05-02T08:00:00Z</t:End>"
            "<t:CalendarItemType>Weird</t:CalendarItemType>",
            "CalendarItemType",
        ),
    ],
)
def test_broken_items_are_bad_items_naming_the_item(xml, reason):
    node = ET.fromstring(
        f'<t:CalendarItem xmlns:t="{TYPES_NS}"><t:ItemId Id="item-9" ChangeKey="c"/>{xml}'
        "</t:CalendarItem>"
    )
    with pytest.raises(BadItem, match=reason) as info:
        parse_calendar_item(node)
    assert info.value.item_ref == "item-9"


def test_item_without_id_is_a_bad_item():
    node = ET.fromstring(f'<t:CalendarItem xmlns:t="{TYPES_NS}"/>')
    with pytest.raises(BadItem, match="without ItemId"):
        parse_calendar_item(node)


def test_text_xml_cannot_carry_is_refused_before_sending():
    start = datetime(2026, 5, 4, 9, tzinfo=UTC)
    item = CalendarItem("bell\x07", start, start + timedelta(hours=1))
    with pytest.raises(BadItem, match="title holds the character"):
        calendar_item_element(item, "k")


def test_update_deletes_empty_location_and_categories():
    item = CalendarItem(
        "x", datetime(2026, 5, 4, 9, tzinfo=UTC), datetime(2026, 5, 4, 10, tzinfo=UTC)
    )
    kinds = {
        (node.tag.rpartition("}")[2], node.find(t("FieldURI")).get("FieldURI"))
        for node in update_elements(item)
    }
    assert ("DeleteItemField", "calendar:Location") in kinds
    assert ("DeleteItemField", "item:Categories") in kinds
    assert ("SetItemField", "item:Subject") in kinds


# --- round trip (hypothesis) ------------------------------------------------------

XML_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    max_size=30,
)
ZONES = st.sampled_from([UTC, HELSINKI, ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")])


@st.composite
def calendar_items(draw):
    all_day = draw(st.booleans())
    if all_day:
        start = draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)))
        end = start + timedelta(days=draw(st.integers(1, 5)))
    else:
        naive = draw(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)))
        start = naive.replace(microsecond=0, second=0, tzinfo=draw(ZONES))
        end = start + timedelta(minutes=draw(st.integers(0, 600)))
    return CalendarItem(
        title=draw(XML_TEXT),
        start=start,
        end=end,
        location=draw(XML_TEXT),
        body=draw(XML_TEXT),
        private=draw(st.booleans()),
        show_as=draw(st.sampled_from(list(ShowAs))),
        categories=draw(st.lists(XML_TEXT.filter(lambda s: s.strip()), max_size=3)),
    )


@given(calendar_items(), st.text(alphabet="abcdef0123456789", min_size=1, max_size=32))
def test_mapping_round_trips_content_and_sync_key(item, key):
    """Whatever we create reads back with the same content (after XML text normalisation)."""
    parsed = parse_calendar_item(as_response(calendar_item_element(item, key)))
    assert parsed.item_type == "Single"
    assert parsed.item.sync_key == key
    assert (parsed.item.id, parsed.item.etag) == ("id-1", "ck-1")
    assert content_equal(parsed.item, item), (parsed.item, item)


def test_update_writes_only_the_properties_of_changed_fields():
    item = CalendarItem(
        "x", datetime(2026, 5, 4, 9, tzinfo=UTC), datetime(2026, 5, 4, 10, tzinfo=UTC)
    )

    def uris(fields):
        return [n.find(t("FieldURI")).get("FieldURI") for n in update_elements(item, fields)]

    assert uris(["title"]) == ["item:Subject"]
    assert uris(["private", "location"]) == ["item:Sensitivity", "calendar:Location"]
    assert uris(["when"]) == [
        "calendar:Start",
        "calendar:End",
        "calendar:IsAllDayEvent",
        "calendar:StartTimeZone",
        "calendar:EndTimeZone",
    ]
    assert uris([]) == []


def test_a_busy_answer_to_one_written_item_is_that_items_throttled():
    from severa_ext.backends.ews import EwsBackend
    from severa_ext.errors import Throttled

    body = parse_envelope(
        envelope(
            "<m:CreateItemResponse><m:ResponseMessages>"
            '<m:CreateItemResponseMessage ResponseClass="Error"><m:MessageText>busy'
            "</m:MessageText><m:ResponseCode>ErrorServerBusy</m:ResponseCode><m:MessageXml>"
            '<t:Value Name="BackOffMilliseconds">2500</t:Value></m:MessageXml>'
            "</m:CreateItemResponseMessage></m:ResponseMessages></m:CreateItemResponse>"
        ),
        operation="CreateItem",
    )
    (message,) = response_messages(body, "CreateItem")
    backend = EwsBackend("https://mail.contoso.com/EWS/Exchange.asmx", "a@contoso.com")
    error = backend._transport.item_error(message, "CreateItem", "Planning")
    backend.close()
    assert isinstance(error, Throttled)
    assert error.retry_after == 2.5
