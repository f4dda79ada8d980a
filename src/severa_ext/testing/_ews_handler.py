"""The HTTP/SOAP side of ``FakeEwsServer``: auth, impersonation, faults, operations.

Requests are parsed with ``defusedxml`` (a test server is still a server); responses
are built with :mod:`xml.etree.ElementTree` in the documented EWS schema: SOAP 1.1
envelopes, the 2006 ``messages`` and ``types`` namespaces, one ``*ResponseMessage``
per item with ``ResponseClass``/``ResponseCode``, and request-level errors as SOAP
faults with HTTP 500 (``ErrorServerBusy`` carries ``BackOffMilliseconds``).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

import attrs
import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from severa_ext.testing._ews_store import (
    FakeMailbox,
    StoredItem,
    SyncStateError,
    new_change_key,
    zone_named,
)
from severa_ext.testing._loopback import FaultQueue, RequestLog

__all__ = [
    "FAULT_KINDS",
    "EwsRequestHandler",
    "Fault",
    "RecordedRequest",
    "ServerState",
    "SoapError",
]

FAULT_KINDS = frozenset(
    {
        "ErrorServerBusy",
        "ErrorExceededConnectionCount",
        "ErrorInvalidSyncStateData",
        "ErrorMailboxStoreUnavailable",
        "ErrorIrresolvableConflict",
        "http503",
        "http500-html",
        "malformed:entity-bomb",
        "malformed:external-entity",
        "malformed:truncated",
        "malformed:wrong-namespace",
        "malformed:html-login",
    }
)
"""What ``FakeEwsServer.fail_next`` can inject."""

# The namespaces of the EWS schema (Exchange Web Services reference, "EWS XML elements").
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MESSAGES_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
TYPES_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
ERRORS_NS = "http://schemas.microsoft.com/exchange/services/2006/errors"

_FREE_BUSY = frozenset({"Free", "Tentative", "Busy", "OOF", "WorkingElsewhere", "NoData"})
_SENSITIVITY = frozenset({"Normal", "Personal", "Private", "Confidential"})
_MAX_BODY = 10 * 1024 * 1024


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


@attrs.define
class RecordedRequest:
    """What the fake saw of one request (for assertions): never a credential."""

    operation: str
    anchor_mailbox: str | None
    impersonated: str | None
    server_version: str | None
    auth_scheme: str
    soap_action: str | None


@attrs.define
class ServerState:
    """Everything the handler threads share, guarded by ``lock``."""

    username: str
    password: str = attrs.field(repr=False)
    tokens: set[str] = attrs.field(factory=set, repr=False)
    mailboxes: dict[str, FakeMailbox] = attrs.field(factory=dict)
    faults: FaultQueue[Fault] = attrs.field(factory=FaultQueue)
    log: RequestLog[RecordedRequest] = attrs.field(factory=RequestLog)
    ews_disabled: bool = False
    lock: threading.RLock = attrs.field(factory=threading.RLock)

    def mailbox(self, address: str) -> FakeMailbox | None:
        """The mailbox with primary address or alias ``address`` (any case)."""
        return self.mailboxes.get(address.strip().lower())

    def take_fault(self, operation: str) -> Fault | None:
        """Consume one matching injected fault, if any."""
        return self.faults.take(lambda fault: fault.operation in {None, operation})


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

_NTLM_SIGNATURE = b"NTLMSSP\x00"
_NTLM_FLAGS = (
    0x00000001  # NEGOTIATE_UNICODE
    | 0x00000004  # REQUEST_TARGET
    | 0x00000200  # NEGOTIATE_NTLM
    | 0x00008000  # NEGOTIATE_ALWAYS_SIGN
    | 0x00010000  # TARGET_TYPE_DOMAIN
    | 0x00080000  # NEGOTIATE_EXTENDED_SESSIONSECURITY
    | 0x00800000  # NEGOTIATE_TARGET_INFO
    | 0x20000000  # NEGOTIATE_128
    | 0x40000000  # NEGOTIATE_KEY_EXCH
    | 0x80000000  # NEGOTIATE_56
)


def _ntlm_type(token: bytes) -> int | None:
    if len(token) < 12 or not token.startswith(_NTLM_SIGNATURE):
        return None
    return int.from_bytes(token[8:12], "little")


def _ntlm_challenge() -> bytes:
    """An NTLM CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2) for the domain CONTOSO."""
    target = "CONTOSO".encode("utf-16-le")
    stamp = int((datetime.now(UTC).timestamp() + 11644473600) * 10_000_000)
    pairs = [
        (2, target),  # MsvAvNbDomainName
        (1, "FAKE-EWS".encode("utf-16-le")),  # MsvAvNbComputerName
        (7, stamp.to_bytes(8, "little")),  # MsvAvTimestamp
        (0, b""),  # MsvAvEOL
    ]
    info = b"".join(k.to_bytes(2, "little") + len(v).to_bytes(2, "little") + v for k, v in pairs)
    header = 48

    def fields(length: int, offset: int) -> bytes:
        return length.to_bytes(2, "little") * 2 + offset.to_bytes(4, "little")

    return (
        _NTLM_SIGNATURE
        + (2).to_bytes(4, "little")
        + fields(len(target), header)
        + _NTLM_FLAGS.to_bytes(4, "little")
        + secrets.token_bytes(8)
        + bytes(8)
        + fields(len(info), header + len(target))
        + target
        + info
    )


def _ntlm_user(token: bytes) -> str | None:
    """The user name of an AUTHENTICATE_MESSAGE, lower case (``None`` if unreadable)."""
    if len(token) < 52:
        return None
    length = int.from_bytes(token[36:38], "little")
    offset = int.from_bytes(token[40:44], "little")
    raw = token[offset : offset + length]
    if len(raw) != length:
        return None
    try:
        return raw.decode("utf-16-le").lower()
    except UnicodeDecodeError:
        return None


def _account_names(username: str) -> set[str]:
    name = username.lower()
    return {name, name.rpartition("\\")[2], name.partition("@")[0]}


class EwsRequestHandler(BaseHTTPRequestHandler):
    """Answers EWS SOAP requests from a shared :class:`ServerState`."""

    state: ServerState  # set on a per-server subclass
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms stalls
    server_version = "Microsoft-IIS/10.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _soap(self, status: int, body: bytes) -> None:
        self._send(status, body, "text/xml; charset=utf-8")

    def do_GET(self) -> None:
        """EWS answers GET with a 405-like page; clients only POST."""
        self._send(405, b"use POST", "text/plain")

    def do_POST(self) -> None:
        """Handle one SOAP request."""
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(min(length, _MAX_BODY))
        state = self.state
        if self.path.split("?")[0].lower() != "/ews/exchange.asmx":
            self._send(404, b"not found", "text/plain")
            return
        if state.ews_disabled:
            self._send(403, b"<html><body>403 - Forbidden</body></html>", "text/html")
            return
        scheme, challenge = self._authenticate()
        if scheme is None:
            self.send_response(401)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "0")
            if challenge is not None:
                self.send_header("WWW-Authenticate", f"NTLM {challenge}")
            else:
                self.send_header("WWW-Authenticate", "NTLM")
                self.send_header("WWW-Authenticate", 'Basic realm="fake-ews"')
            self.end_headers()
            return
        try:
            root = SafeET.fromstring(payload, forbid_dtd=True)
        except (DefusedXmlException, ET.ParseError) as exc:
            fault = SoapError("ErrorSchemaValidation", f"request is not valid XML: {exc}")
            self._soap(500, _envelope(None, fault))
            return
        with state.lock:
            status, body, content_type, headers = self._handle(root, scheme)
        self._send(status, body, content_type, **headers)

    def _authenticate(self) -> tuple[str | None, str | None]:
        """(accepted scheme or ``None``, an NTLM challenge to send back or ``None``)."""
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None, None
            if user.lower() == self.state.username.lower() and password == self.state.password:
                return "basic", None
        if scheme.lower() == "bearer" and value in self.state.tokens:
            return "bearer", None
        if scheme.lower() == "ntlm":
            try:
                token = base64.b64decode(value, validate=True)
            except binascii.Error:
                return None, None
            kind = _ntlm_type(token)
            if kind == 1:
                return None, base64.b64encode(_ntlm_challenge()).decode()
            if kind == 3 and _ntlm_user(token) in _account_names(self.state.username):
                return "ntlm", None
        return None, None

    def _handle(self, root: ET.Element, scheme: str) -> tuple[int, bytes, str, dict[str, str]]:
        state = self.state
        body = root.find(f"{{{SOAP_NS}}}Body")
        header = root.find(f"{{{SOAP_NS}}}Header")
        request = body[0] if body is not None and len(body) else None
        if root.tag != f"{{{SOAP_NS}}}Envelope" or request is None:
            fault = SoapError("ErrorSchemaValidation", "not a SOAP 1.1 envelope with a body")
            return 500, _envelope(None, fault), "text/xml; charset=utf-8", {}
        operation = request.tag.rpartition("}")[2]
        impersonated = None
        version = None
        if header is not None:
            impersonated = header.findtext(
                f"{_t('ExchangeImpersonation')}/{_t('ConnectingSID')}/{_t('SmtpAddress')}"
            )
            version_node = header.find(_t("RequestServerVersion"))
            version = version_node.get("Version") if version_node is not None else None
        state.log.record(
            RecordedRequest(
                operation=operation,
                anchor_mailbox=self.headers.get("X-AnchorMailbox"),
                impersonated=impersonated,
                server_version=version,
                auth_scheme=scheme,
                soap_action=self.headers.get("SOAPAction"),
            ),
            operation,
        )
        injected = state.take_fault(operation)
        if injected is not None and injected.kind != "ErrorInvalidSyncStateData":
            return self._injected(injected, operation)
        try:
            mailbox = self._target(impersonated)
            handler = _OPERATIONS.get(operation)
            if handler is None:
                raise SoapError("ErrorInvalidRequest", f"operation {operation} not supported")
            response = handler(mailbox, request, injected)
        except SoapError as error:
            return 500, _envelope(None, error), "text/xml; charset=utf-8", {}
        return 200, _envelope(response), "text/xml; charset=utf-8", {}

    def _injected(self, fault: Fault, operation: str) -> tuple[int, bytes, str, dict[str, str]]:
        if fault.kind == "http503":
            seconds = str(max(0, round(fault.back_off_ms / 1000)))
            return 503, b"Service Unavailable", "text/plain", {"Retry-After": seconds}
        if fault.kind == "http500-html":
            page = b"<html><body><h1>500 - Internal server error.</h1></body></html>"
            return 500, page, "text/html", {}
        if fault.kind.startswith("malformed:"):
            status, content_type, body = _malformed(fault.kind)
            return status, body, content_type, {}
        if fault.kind == "ErrorIrresolvableConflict":
            # An item-level error: one Error message in the operation's own response.
            response = ET.Element(_m(f"{operation}Response"))
            conflict = _ItemError(
                fault.kind,
                "The change key passed in the request does not match the current change "
                "key for the item (injected).",
            )
            _message(_sub(response, _m("ResponseMessages")), operation, conflict)
            return 200, _envelope(response), "text/xml; charset=utf-8", {}
        back_off = fault.back_off_ms if fault.kind == "ErrorServerBusy" else None
        error = SoapError(fault.kind, f"injected {fault.kind}", back_off_ms=back_off)
        return 500, _envelope(None, error), "text/xml; charset=utf-8", {}

    def _target(self, impersonated: str | None) -> FakeMailbox:
        address = impersonated or self.state.username
        mailbox = self.state.mailbox(address)
        if mailbox is None:
            raise SoapError(
                "ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it."
            )
        if impersonated is not None and not mailbox.impersonation_allowed:
            raise SoapError(
                "ErrorImpersonateUserDenied",
                "The account does not have permission to impersonate the requested user.",
            )
        return mailbox


# --- operations ------------------------------------------------------------------

_Operation = Callable[[FakeMailbox, ET.Element, Fault | None], ET.Element]


def _check_folder(mailbox: FakeMailbox, container: ET.Element | None) -> None:
    folder = container.find(_t("DistinguishedFolderId")) if container is not None else None
    if folder is None or folder.get("Id") != "calendar":
        raise SoapError("ErrorInvalidRequest", "only the distinguished calendar folder is served")


def _get_folder(mailbox: FakeMailbox, request: ET.Element, _fault: Fault | None) -> ET.Element:
    response = ET.Element(_m("GetFolderResponse"))
    messages = _sub(response, _m("ResponseMessages"))
    ids = request.find(_m("FolderIds"))
    for folder in ids if ids is not None else ():
        name = folder.get("Id")
        if name not in {"calendar", "deleteditems"}:
            _message(messages, "GetFolder", _ItemError("ErrorFolderNotFound", f"no {name}"))
            continue
        message = _message(messages, "GetFolder")
        tag = "CalendarFolder" if name == "calendar" else "Folder"
        node = _sub(_sub(message, _m("Folders")), _t(tag))
        folder_id = mailbox.calendar_folder_id if name == "calendar" else mailbox.deleted_folder_id
        _sub(node, _t("FolderId"), Id=folder_id, ChangeKey="AgAAAA==")
        _sub(node, _t("DisplayName"), "Calendar" if name == "calendar" else "Deleted Items")
    return response


def _sync_folder_items(
    mailbox: FakeMailbox, request: ET.Element, fault: Fault | None
) -> ET.Element:
    _check_folder(mailbox, request.find(_m("SyncFolderId")))
    response = ET.Element(_m("SyncFolderItemsResponse"))
    messages = _sub(response, _m("ResponseMessages"))
    raw_max = request.findtext(_m("MaxChangesReturned")) or ""
    if not raw_max.strip().isdigit() or not 1 <= int(raw_max) <= 512:
        raise SoapError("ErrorSchemaValidation", f"MaxChangesReturned {raw_max!r} not in 1..512")
    token = request.findtext(_m("SyncState"))
    try:
        if fault is not None:
            raise SyncStateError("injected")
        seq, seen = mailbox.parse_sync_state(token)
    except SyncStateError:
        _message(
            messages,
            "SyncFolderItems",
            _ItemError("ErrorInvalidSyncStateData", "Synchronization state data is corrupt."),
        )
        return response
    entries = mailbox.changes_since(seq, seen)
    page = entries[: int(raw_max)]
    done = len(page) == len(entries)
    new_seq = mailbox.seq if done else page[-1][1]
    reported = {item.id for kind, _, item in page if kind != "Delete"}
    gone = {item.id for kind, _, item in page if kind == "Delete"}
    message = _message(messages, "SyncFolderItems")
    _sub(message, _m("SyncState"), mailbox.issue_sync_state(new_seq, (seen | reported) - gone))
    _sub(message, _m("IncludesLastItemInRange"), "true" if done else "false")
    changes = _sub(message, _m("Changes"))
    for kind, _seq, item in page:
        change = _sub(changes, _t(kind))
        if kind == "Delete":
            _sub(change, _t("ItemId"), Id=item.id, ChangeKey=item.change_key)
        else:
            _item_element(change, item, _Shape(None), mailbox)
    return response


def _get_item(mailbox: FakeMailbox, request: ET.Element, _fault: Fault | None) -> ET.Element:
    shape = _Shape(request.find(_m("ItemShape")))
    response = ET.Element(_m("GetItemResponse"))
    messages = _sub(response, _m("ResponseMessages"))
    ids = request.find(_m("ItemIds"))
    for node in ids if ids is not None else ():
        item = mailbox.lookup(node.get("Id", ""))
        if item is None:
            error = _ItemError(
                "ErrorItemNotFound", "The specified object was not found in the store."
            )
            _message(messages, "GetItem", error)
            continue
        message = _message(messages, "GetItem")
        _item_element(_sub(message, _m("Items")), item, shape, mailbox)
    return response


def _overlaps(item: StoredItem, start: datetime, end: datetime) -> bool:
    if item.start == item.end:
        return start <= item.start < end
    return item.start < end and item.end > start


def _find_item(mailbox: FakeMailbox, request: ET.Element, _fault: Fault | None) -> ET.Element:
    _check_folder(mailbox, request.find(_m("ParentFolderIds")))
    shape = _Shape(request.find(_m("ItemShape")))
    view = request.find(_m("CalendarView"))
    found: list[StoredItem]
    last = True
    if view is not None:
        start = _parse_time(view.get("StartDate", ""), None)
        end = _parse_time(view.get("EndDate", ""), None)
        found = sorted(
            (item for item in mailbox.expanded() if _overlaps(item, start, end)),
            key=lambda item: (item.start, item.id),
        )
        limit = int(view.get("MaxEntriesReturned") or 0)
        if limit and len(found) > limit:
            found, last = found[:limit], False
    else:
        found = list(mailbox.calendar())
    restriction = request.find(_m("Restriction"))
    if restriction is not None:
        top = restriction[0] if len(restriction) else None
        terms = list(top) if top is not None and top.tag == _t("Or") else [top]
        wanted: set[tuple[tuple[str, str], str]] = set()
        for equal in terms:
            uri = equal.find(_t("ExtendedFieldURI")) if equal is not None else None
            constant = (
                equal.find(f"{_t('FieldURIOrConstant')}/{_t('Constant')}")
                if equal is not None and equal.tag == _t("IsEqualTo")
                else None
            )
            if uri is None or constant is None:
                raise SoapError(
                    "ErrorInvalidRestriction",
                    "only IsEqualTo on an extended property, alone or under Or",
                )
            wanted.add((_ext_key(uri), constant.get("Value", "")))
        found = [
            item for item in found if any(item.extended.get(key) == value for key, value in wanted)
        ]
    response = ET.Element(_m("FindItemResponse"))
    message = _message(_sub(response, _m("ResponseMessages")), "FindItem")
    root = _sub(
        message,
        _m("RootFolder"),
        TotalItemsInView=str(len(found)),
        IncludesLastItemInRange="true" if last else "false",
    )
    items = _sub(root, _t("Items"))
    for item in found:
        _item_element(items, item, shape, mailbox)
    return response


def _create_item(mailbox: FakeMailbox, request: ET.Element, _fault: Fault | None) -> ET.Element:
    if request.get("SendMeetingInvitations") not in {
        "SendToNone",
        "SendOnlyToAll",
        "SendToAllAndSaveCopy",
    }:
        raise SoapError(
            "ErrorSendMeetingInvitationsRequired",
            "SendMeetingInvitations is required for calendar items",
        )
    _check_folder(mailbox, request.find(_m("SavedItemFolderId")))
    response = ET.Element(_m("CreateItemResponse"))
    messages = _sub(response, _m("ResponseMessages"))
    items = request.find(_m("Items"))
    for node in items if items is not None else ():
        try:
            changes = _content_changes(node)
            if "start" not in changes or "end" not in changes:
                raise _ItemError("ErrorMissingInformation", "Start and End are required")
            _check_times(changes["start"], changes["end"])
        except _ItemError as error:
            _message(messages, "CreateItem", error)
            continue
        stored = StoredItem(
            id="AAMkAD" + new_change_key()[8:] + new_change_key()[8:],
            subject=changes.pop("subject", ""),
            start=changes.pop("start"),
            end=changes.pop("end"),
        )
        for name, value in changes.items():
            setattr(stored, name, value)
        mailbox.add(stored)
        message = _message(messages, "CreateItem")
        item = _sub(_sub(message, _m("Items")), _t("CalendarItem"))
        _sub(item, _t("ItemId"), Id=stored.id, ChangeKey=stored.change_key)
    return response


_DELETABLE = {"item:Categories": ("categories", list), "calendar:Location": ("location", str),
              "item:Body": ("body", str)}  # fmt: skip


def _update_item(mailbox: FakeMailbox, request: ET.Element, _fault: Fault | None) -> ET.Element:
    resolution = request.get("ConflictResolution", "AutoResolve")
    if request.get("SendMeetingInvitationsOrCancellations") is None:
        raise SoapError(
            "ErrorSendMeetingInvitationsOrCancellationsRequired",
            "SendMeetingInvitationsOrCancellations is required for calendar items",
        )
    response = ET.Element(_m("UpdateItemResponse"))
    messages = _sub(response, _m("ResponseMessages"))
    changes_node = request.find(_m("ItemChanges"))
    for change in changes_node if changes_node is not None else ():
        try:
            item_id = change.find(_t("ItemId"))
            target = mailbox.lookup(item_id.get("Id", "")) if item_id is not None else None
            if target is None or target.folder != "calendar":
                raise _ItemError("ErrorItemNotFound", "The specified object was not found.")
            change_key = item_id.get("ChangeKey") if item_id is not None else None
            if resolution != "AlwaysOverwrite":
                if not change_key:
                    raise _ItemError(
                        "ErrorChangeKeyRequiredForWriteOperations",
                        "a ChangeKey is required unless ConflictResolution is AlwaysOverwrite",
                    )
                if change_key != target.change_key:
                    raise _ItemError(
                        "ErrorIrresolvableConflict",
                        "The send or update operation could not be performed because the "
                        "change key passed in the request does not match the current change "
                        "key for the item.",
                    )
            values: dict[str, Any] = {}
            updates = change.find(_t("Updates"))
            for update in updates if updates is not None else ():
                uri_node = update.find(_t("FieldURI"))
                uri = uri_node.get("FieldURI", "") if uri_node is not None else ""
                if update.tag == _t("DeleteItemField"):
                    if uri not in _DELETABLE:
                        raise _ItemError("ErrorInvalidPropertyDelete", f"cannot delete {uri}")
                    name, factory = _DELETABLE[uri]
                    values[name] = factory()
                    continue
                container = update.find(_t("CalendarItem"))
                if container is None:
                    raise _ItemError("ErrorInvalidPropertySet", "SetItemField without item")
                values.update(_content_changes(container))
            extended = values.pop("extended", None)
            _check_times(values.get("start", target.start), values.get("end", target.end))
            if extended:
                values["extended"] = {**target.extended, **extended}
            updated = mailbox.modify(target, values)
        except _ItemError as error:
            _message(messages, "UpdateItem", error)
            continue
        message = _message(messages, "UpdateItem")
        item = _sub(_sub(message, _m("Items")), _t("CalendarItem"))
        _sub(item, _t("ItemId"), Id=updated.id, ChangeKey=updated.change_key)
        _sub(message, _m("ConflictResults")).append(_count_zero())
    return response


def _count_zero() -> ET.Element:
    node = ET.Element(_t("Count"))
    node.text = "0"
    return node


def _delete_item(mailbox: FakeMailbox, request: ET.Element, _fault: Fault | None) -> ET.Element:
    if request.get("SendMeetingCancellations") is None:
        raise SoapError(
            "ErrorSendMeetingCancellationsRequired",
            "SendMeetingCancellations is required for calendar items",
        )
    response = ET.Element(_m("DeleteItemResponse"))
    messages = _sub(response, _m("ResponseMessages"))
    ids = request.find(_m("ItemIds"))
    for node in ids if ids is not None else ():
        target = mailbox.lookup(node.get("Id", ""))
        if target is None or target.folder != "calendar":
            error = _ItemError("ErrorItemNotFound", "The specified object was not found.")
            _message(messages, "DeleteItem", error)
            continue
        mailbox.remove(target)
        _message(messages, "DeleteItem")
    return response


def _resolve_names(mailbox: FakeMailbox, request: ET.Element, _fault: Fault | None) -> ET.Element:
    # The handler already resolved the impersonated address to ``mailbox``; the entry
    # must name the same mailbox (an address or alias, with or without "smtp:").
    entry = (request.findtext(_m("UnresolvedEntry")) or "").strip()
    if entry.lower().startswith("smtp:"):
        entry = entry[5:]
    names = {mailbox.address.lower(), *(alias.lower() for alias in mailbox.aliases)}
    response = ET.Element(_m("ResolveNamesResponse"))
    messages = _sub(response, _m("ResponseMessages"))
    if entry.lower() not in names:
        error = _ItemError("ErrorNameResolutionNoResults", "No results were found.")
        _message(messages, "ResolveNames", error)
        return response
    message = _message(messages, "ResolveNames")
    result = _sub(
        message,
        _m("ResolutionSet"),
        TotalItemsInView="1",
        IncludesLastItemInRange="true",
    )
    resolution = _sub(result, _t("Resolution"))
    box = _sub(resolution, _t("Mailbox"))
    _sub(box, _t("Name"), mailbox.address.partition("@")[0])
    _sub(box, _t("EmailAddress"), mailbox.address)
    _sub(box, _t("RoutingType"), "SMTP")
    _sub(box, _t("MailboxType"), "Mailbox")
    contact = _sub(resolution, _t("Contact"))
    addresses = _sub(contact, _t("EmailAddresses"))
    _sub(addresses, _t("Entry"), f"SMTP:{mailbox.address}", Key="EmailAddress1")
    for number, alias in enumerate(mailbox.aliases[:2], start=2):
        _sub(addresses, _t("Entry"), f"smtp:{alias}", Key=f"EmailAddress{number}")
    return response


_OPERATIONS: dict[str, _Operation] = {
    "CreateItem": _create_item,
    "DeleteItem": _delete_item,
    "FindItem": _find_item,
    "GetFolder": _get_folder,
    "GetItem": _get_item,
    "ResolveNames": _resolve_names,
    "SyncFolderItems": _sync_folder_items,
    "UpdateItem": _update_item,
}
