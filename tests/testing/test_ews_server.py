"""``FakeEwsServer`` on the wire: raw SOAP in, documented EWS answers out.

These tests speak HTTP with ``requests`` directly (not through the backend), so they
check the fake against the EWS schema rather than against our own client.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import defusedxml.ElementTree as SafeET
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from severa_ext.errors import ConfigError, NotFound
from severa_ext.sync.items import CalendarItem, ShowAs
from severa_ext.testing._ews_store import FakeMailbox, stored_from_calendar_item
from severa_ext.testing.ews_server import FAULT_KINDS, FakeEwsServer

pytestmark = pytest.mark.slow

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
ALICE = "alice@contoso.com"
CALENDAR = (
    f'<t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>{ALICE}'
    "</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>"
)


def soap(body: str, *, impersonate: str | None = ALICE) -> bytes:
    header = '<t:RequestServerVersion Version="Exchange2016"/>'
    if impersonate:
        header += (
            "<t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>"
            f"{impersonate}</t:SmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP}" '
        f'xmlns:m="{M}" xmlns:t="{T}"><soap:Header>{header}</soap:Header>'
        f"<soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


def post(server, body: bytes, *, auth=None) -> requests.Response:
    return requests.post(
        server.url,
        data=body,
        headers={"Content-Type": "text/xml; charset=utf-8"},
        auth=server.auth() if auth is None else auth,
        timeout=10,
    )


def parse(response):
    return SafeET.fromstring(response.content)


def sync(server, state: str | None, max_changes: int):
    state_xml = f"<m:SyncState>{state}</m:SyncState>" if state else ""
    response = post(
        server,
        soap(
            "<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
            f"<m:SyncFolderId>{CALENDAR}</m:SyncFolderId>{state_xml}"
            f"<m:MaxChangesReturned>{max_changes}</m:MaxChangesReturned></m:SyncFolderItems>"
        ),
    )
    return response, parse(response)


def item(title: str, day: int = 4) -> CalendarItem:
    start = datetime(2026, 5, day, 9, tzinfo=UTC)
    return CalendarItem(title, start, start + timedelta(hours=1))


@pytest.fixture
def server():
    with FakeEwsServer() as fake:
        fake.add_mailbox(ALICE)
        yield fake


# --- HTTP and auth -----------------------------------------------------------------


def test_binds_loopback_and_stops_itself():
    with FakeEwsServer() as fake:
        assert fake.url.startswith("http://127.0.0.1:")
        port = int(fake.url.split(":")[2].split("/")[0])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    with pytest.raises(ConfigError, match="not started"):
        _ = fake.url


def test_http_edges(server):
    assert requests.get(server.url, timeout=5).status_code == 405
    wrong = server.url.replace("Exchange.asmx", "nothing.asmx")
    assert requests.post(wrong, data=b"", auth=server.auth(), timeout=5).status_code == 404
    refused = post(server, soap("<m:GetFolder/>"), auth=server.auth("bad"))
    assert refused.status_code == 401
    offered = refused.headers["WWW-Authenticate"]  # requests joins repeated headers
    assert "NTLM" in offered
    assert 'Basic realm="fake-ews"' in offered


def test_request_log_records_headers_never_credentials(server):
    post(server, soap("<m:GetFolder/>"), auth=server.auth())
    (seen,) = server.requests
    assert (seen.operation, seen.impersonated, seen.auth_scheme) == ("GetFolder", ALICE, "basic")
    assert server.auth().password not in repr(server.requests)
    assert server.auth().password not in repr(server._state)


def test_hostile_requests_get_a_schema_fault(server):
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    for body in (bomb, b"<not-closed", b"<x/>"):
        response = post(server, body)
        assert response.status_code == 500
        assert parse(response).findtext(f".//{{{E}}}ResponseCode") == "ErrorSchemaValidation"


# --- impersonation (S5, S7) -------------------------------------------------------------


def test_unknown_mailbox_and_missing_right_are_soap_faults(server):
    unknown = post(server, soap("<m:GetFolder/>", impersonate="nobody@contoso.com"))
    assert unknown.status_code == 500
    assert parse(unknown).findtext(f".//{{{E}}}ResponseCode") == "ErrorNonExistentMailbox"
    server.set_impersonation(ALICE, allowed=False)
    denied = post(server, soap("<m:GetFolder/>"))
    assert parse(denied).findtext(f".//{{{E}}}ResponseCode") == "ErrorImpersonateUserDenied"


# --- operations -------------------------------------------------------------------


def test_create_requires_send_meeting_invitations(server):
    body = (
        f"<m:CreateItem><m:SavedItemFolderId>{CALENDAR}</m:SavedItemFolderId><m:Items>"
        "<t:CalendarItem><t:Subject>x</t:Subject><t:Start>2026-05-04T09:00:00Z</t:Start>"
        "<t:End>2026-05-04T10:00:00Z</t:End></t:CalendarItem></m:Items></m:CreateItem>"
    )
    response = post(server, soap(body))
    code = parse(response).findtext(f".//{{{E}}}ResponseCode")
    assert code == "ErrorSendMeetingInvitationsRequired"
    assert server.calendar_items(ALICE) == []


def test_create_with_end_before_start_is_an_item_error(server):
    body = (
        '<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId>'
        f"{CALENDAR}</m:SavedItemFolderId><m:Items><t:CalendarItem><t:Subject>x</t:Subject>"
        "<t:Start>2026-05-04T10:00:00Z</t:Start><t:End>2026-05-04T09:00:00Z</t:End>"
        "</t:CalendarItem></m:Items></m:CreateItem>"
    )
    root = parse(post(server, soap(body)))
    message = root.find(f".//{{{M}}}CreateItemResponseMessage")
    assert message.get("ResponseClass") == "Error"
    assert message.findtext(f"{{{M}}}ResponseCode") == "ErrorCalendarEndDateIsEarlierThanStartDate"


def test_update_without_change_key_needs_always_overwrite(server):
    stored = server.create_item(ALICE, item("x"))
    body = (
        '<m:UpdateItem ConflictResolution="NeverOverwrite" '
        'SendMeetingInvitationsOrCancellations="SendToNone"><m:ItemChanges><t:ItemChange>'
        f'<t:ItemId Id="{stored.id}"/><t:Updates><t:SetItemField><t:FieldURI '
        'FieldURI="item:Subject"/><t:CalendarItem><t:Subject>y</t:Subject></t:CalendarItem>'
        "</t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>"
    )
    root = parse(post(server, soap(body)))
    code = root.findtext(f".//{{{M}}}ResponseCode")
    assert code == "ErrorChangeKeyRequiredForWriteOperations"
    root = parse(post(server, soap(body.replace("NeverOverwrite", "AlwaysOverwrite"))))
    assert root.findtext(f".//{{{M}}}ResponseCode") == "NoError"
    assert server.get_item(ALICE, stored.id).title == "y"


def test_sync_folder_items_pages_with_includes_last_item_in_range(server):
    for day in (1, 2, 3):
        server.create_item(ALICE, item(f"i{day}", day))
    state, pages, ids = None, [], []
    while True:
        response, root = sync(server, state, 1)
        assert response.status_code == 200
        message = root.find(f".//{{{M}}}SyncFolderItemsResponseMessage")
        state = message.findtext(f"{{{M}}}SyncState")
        ids += [n.get("Id") for n in message.iter(f"{{{T}}}ItemId")]
        pages.append(message.findtext(f"{{{M}}}IncludesLastItemInRange"))
        if pages[-1] == "true":
            break
    assert pages == ["false", "false", "true"]
    assert len(set(ids)) == 3


def test_sync_folder_items_limits_max_changes_to_512(server):
    response, root = sync(server, None, 513)
    assert response.status_code == 500
    assert root.findtext(f".//{{{E}}}ResponseCode") == "ErrorSchemaValidation"


def test_foreign_or_invalidated_sync_state_is_refused(server):
    _, root = sync(server, "bm9wZQ==", 10)
    assert root.findtext(f".//{{{M}}}ResponseCode") == "ErrorInvalidSyncStateData"
    _, root = sync(server, None, 10)
    state = root.findtext(f".//{{{M}}}SyncState")
    server.invalidate_sync_states(ALICE)
    _, root = sync(server, state, 10)
    assert root.findtext(f".//{{{M}}}ResponseCode") == "ErrorInvalidSyncStateData"


# --- switches ---------------------------------------------------------------------


def test_server_busy_fault_carries_back_off_milliseconds(server):
    server.fail_next("ErrorServerBusy", back_off_ms=1234, operation="GetFolder")
    response = post(server, soap("<m:SyncFolderItems/>"))  # another operation: not hit
    assert parse(response).findtext(f".//{{{E}}}ResponseCode") != "ErrorServerBusy"
    busy = post(server, soap("<m:GetFolder/>"))
    assert busy.status_code == 500
    root = parse(busy)
    assert root.findtext(f".//{{{E}}}ResponseCode") == "ErrorServerBusy"
    value = root.find(f".//{{{T}}}Value")
    assert (value.get("Name"), value.text) == ("BackOffMilliseconds", "1234")
    assert post(server, soap("<m:GetFolder/>")).status_code == 200  # only once


def test_http_503_has_retry_after(server):
    server.fail_next("http503", back_off_ms=3000)
    response = post(server, soap("<m:GetFolder/>"))
    assert (response.status_code, response.headers["Retry-After"]) == (503, "3")


@pytest.mark.parametrize("kind", sorted(k for k in FAULT_KINDS if k.startswith("malformed:")))
def test_malformed_switches_answer_what_they_say(server, kind):
    server.fail_next(kind)
    response = post(server, soap("<m:GetFolder/>"))
    if kind == "malformed:html-login":
        assert response.headers["Content-Type"].startswith("text/html")
    elif kind in {"malformed:entity-bomb", "malformed:external-entity"}:
        assert b"<!ENTITY" in response.content
    elif kind == "malformed:truncated":
        with pytest.raises(SafeET.ParseError):
            parse(response)
    else:
        assert b"2010/messages" in response.content


def test_ews_disabled_is_403(server):
    server.set_ews_disabled()
    assert post(server, soap("<m:GetFolder/>")).status_code == 403
    server.set_ews_disabled(False)
    assert post(server, soap("<m:GetFolder/>")).status_code == 200


def test_unknown_fault_kind_and_unknown_mailbox_helpers_are_clear_errors(server):
    with pytest.raises(ConfigError, match="unknown fault"):
        server.fail_next("ErrorSomething")
    with pytest.raises(NotFound, match="no mailbox"):
        server.calendar_items("bob@contoso.com")
    with pytest.raises(NotFound, match="no item"):
        server.delete_item(ALICE, "missing")
    with pytest.raises(ConfigError, match="count"):
        server.create_series(ALICE, item("s"), count=0)


# --- the change log behind SyncState (hypothesis) ---------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.integers(1, 28)),
        st.tuples(st.just("update"), st.integers(0, 50)),
        st.tuples(st.just("delete"), st.integers(0, 50)),
        st.tuples(st.just("sync"), st.integers(1, 4)),
    ),
    max_size=40,
)


@given(OPS)
def test_replaying_sync_pages_reproduces_the_calendar(ops):
    """Whatever users do between syncs, applying each page's Create/Update/Delete to a
    replica, with any page size, yields exactly the live calendar (SyncState contract)."""
    mailbox = FakeMailbox(address=ALICE)
    replica: set[str] = set()
    token = None

    def drain(page_size: int) -> None:
        nonlocal token
        while True:
            seq, seen = mailbox.parse_sync_state(token)
            entries = mailbox.changes_since(seq, seen)
            page = entries[:page_size]
            for kind, _, stored in page:
                if kind == "Delete":
                    assert stored.id in replica
                    replica.discard(stored.id)
                else:
                    assert (kind == "Create") == (stored.id not in replica)
                    replica.add(stored.id)
            done = len(page) == len(entries)
            token = mailbox.issue_sync_state(
                mailbox.seq if done else page[-1][1], frozenset(replica)
            )
            if done:
                return

    for op, value in ops:
        live = sorted(s.id for s in mailbox.calendar())
        if op == "create":
            mailbox.add(stored_from_calendar_item(item(f"c{value}", value)))
        elif op == "update" and live:
            mailbox.modify(mailbox.items[live[value % len(live)]], {"subject": "u"})
        elif op == "delete" and live:
            mailbox.remove(mailbox.items[live[value % len(live)]])
        elif op == "sync":
            drain(value)
    drain(512)
    assert replica == {s.id for s in mailbox.calendar()}


# --- the pytest fixture ------------------------------------------------------------


def test_ews_server_fixture_fails_a_test_whose_fault_never_fired(pytester):
    pytester.makepyfile(
        """
        def test_host(ews_server):
            ews_server.fail_next("ErrorServerBusy", operation="GetItme")
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*1 fault(s) injected into ews_server never fired*"])


def test_ews_server_fixture_works_in_a_host_suite(pytester):
    pytester.makepyfile(
        """
        from datetime import UTC, datetime, timedelta

        from severa_ext.backends.ews import EwsBackend
        from severa_ext.sync.items import CalendarItem, Window


        def test_host(ews_server):
            start = datetime(2026, 5, 4, 9, tzinfo=UTC)
            ews_server.create_item(
                "alice@contoso.com", CalendarItem("Hi", start, start + timedelta(hours=1))
            )
            window = Window(start - timedelta(days=1), start + timedelta(days=1))
            with ews_server.backend("alice@contoso.com") as ews:
                assert [i.title for i in ews.changes(None, window).items] == ["Hi"]
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


# --- the fake's own wire code against the backend's (issue 11, point 7) -------------------
#
# The fake reads and writes EWS XML with its own code (``_ews_store``/``_ews_handler``),
# never with ``severa_ext.backends.ews._mapping`` or ``ews._xml``: these tests pin the
# documented elements on the wire, so a mapping bug made on both sides fails here.

REVIEW = CalendarItem(
    "Review",
    datetime(2026, 5, 5, 12, tzinfo=ZoneInfo("Europe/Helsinki")),
    datetime(2026, 5, 5, 13, tzinfo=ZoneInfo("Europe/Helsinki")),
    location="Room 4",
    body="Agenda\n1. budget",
    private=True,
    show_as=ShowAs.TENTATIVE,
    categories=("Project",),
)
_FIELDS = (
    "item:Subject item:Body item:Sensitivity item:Categories calendar:Start calendar:End "
    "calendar:IsAllDayEvent calendar:LegacyFreeBusyStatus calendar:Location "
    "calendar:StartTimeZone"
)


def _content(found):
    return (
        found.title, found.start, found.end, found.location, found.body, found.private,
        found.show_as, found.categories,
    )  # fmt: skip


def _get_item_xml(server, item_id: str):
    fields = "".join(f'<t:FieldURI FieldURI="{uri}"/>' for uri in _FIELDS.split())
    root = parse(
        post(
            server,
            soap(
                "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
                f"<t:BodyType>Text</t:BodyType><t:AdditionalProperties>{fields}"
                "</t:AdditionalProperties></m:ItemShape>"
                f'<m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds></m:GetItem>'
            ),
        )
    )
    (node,) = root.iter(f"{{{T}}}CalendarItem")
    return node


def _documented(node) -> dict:
    text = {name: node.findtext(f"{{{T}}}{name}") for name in (
        "Subject", "Body", "Sensitivity", "Start", "End", "IsAllDayEvent",
        "LegacyFreeBusyStatus", "Location",
    )}  # fmt: skip
    text["Categories"] = [c.text for c in node.iter(f"{{{T}}}String")]
    zone = node.find(f"{{{T}}}StartTimeZone")
    text["StartTimeZone"] = zone.get("Id") if zone is not None else None
    return text


EXPECTED_XML = {
    "Subject": "Review",
    "Body": "Agenda\n1. budget",
    "Sensitivity": "Private",
    "Start": "2026-05-05T09:00:00Z",
    "End": "2026-05-05T10:00:00Z",
    "IsAllDayEvent": "false",
    "LegacyFreeBusyStatus": "Tentative",
    "Location": "Room 4",
    "Categories": ["Project"],
    "StartTimeZone": "FLE Standard Time",
}


def test_a_user_item_is_served_as_the_documented_xml_and_the_backend_reads_it(server):
    created = server.create_item(ALICE, REVIEW)
    assert _documented(_get_item_xml(server, created.id)) == EXPECTED_XML
    with server.backend(ALICE) as backend:
        assert _content(backend.get(created.id)) == _content(REVIEW)


def test_what_the_backend_writes_is_the_documented_xml(server):
    with server.backend(ALICE) as backend:
        written = backend.create(REVIEW, "key-1")
    assert _documented(_get_item_xml(server, written.id)) == EXPECTED_XML
    stored = server.get_item(ALICE, written.id)  # read back by the fake's own code
    assert _content(stored) == _content(REVIEW)
    assert stored.sync_key == "key-1"
