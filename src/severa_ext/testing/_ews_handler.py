"""The HTTP side of ``FakeEwsServer``: authentication, impersonation, injected faults.

:class:`EwsRequestHandler` reads one POST, checks who calls (:mod:`._ews_auth`,
with the NTLM handshake), records it, acts out an injected fault or hands the SOAP
request to its operation (:mod:`._ews_operations`), and writes the answer. Requests
are parsed with ``defusedxml`` (a test server is still a server).
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler
from typing import Any

import attrs
import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from severa_ext.testing._ews_auth import authenticate
from severa_ext.testing._ews_operations import OPERATIONS
from severa_ext.testing._ews_soap import (
    SOAP_NS,
    Fault,
    SoapError,
    _envelope,
    _ItemError,
    _m,
    _malformed,
    _message,
    _sub,
    _t,
)
from severa_ext.testing._ews_store import FakeMailbox
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

_MAX_BODY = 10 * 1024 * 1024


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
        state = self.state
        header = self.headers.get("Authorization", "")
        return authenticate(header, state.username, state.password, state.tokens)

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
            handler = OPERATIONS.get(operation)
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
