"""SOAP plumbing of the EWS backend: namespaces, request envelopes, safe parsing.

Requests are built with :mod:`xml.etree.ElementTree`; responses are parsed ONLY with
:mod:`defusedxml.ElementTree`, which refuses DTDs, entity declarations and external
references, so entity bombs and external entities fail fast with a clear
:class:`~severa_ext.errors.MalformedResponse` instead of expanding.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import attrs
import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from severa_ext.errors import MalformedResponse

__all__ = [
    "ERRORS_NS",
    "MESSAGES_NS",
    "SOAP_NS",
    "TYPES_NS",
    "ResponseMessage",
    "SoapFault",
    "build_envelope",
    "child_text",
    "m",
    "parse_envelope",
    "response_messages",
    "soap_fault",
    "sub",
    "t",
]

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MESSAGES_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
TYPES_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
ERRORS_NS = "http://schemas.microsoft.com/exchange/services/2006/errors"

ET.register_namespace("soap", SOAP_NS)
ET.register_namespace("m", MESSAGES_NS)
ET.register_namespace("t", TYPES_NS)

_BACKEND = "ews"


def m(local: str) -> str:
    """The qualified name of ``local`` in the messages namespace."""
    return f"{{{MESSAGES_NS}}}{local}"


def t(local: str) -> str:
    """The qualified name of ``local`` in the types namespace."""
    return f"{{{TYPES_NS}}}{local}"


def sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    """Append a child ``tag`` to ``parent`` with optional text and attributes."""
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


def build_envelope(
    body: ET.Element,
    *,
    server_version: str,
    impersonate: str | None,
) -> bytes:
    """Wrap an operation element in a SOAP envelope with the EWS headers.

    Args:
        body: the operation element (``m:GetItem`` ...).
        server_version: the ``RequestServerVersion`` (``"Exchange2016"``).
        impersonate: the SMTP address for ``ExchangeImpersonation``, or ``None``.

    Returns:
        The UTF-8 encoded request document.
    """
    envelope = ET.Element(f"{{{SOAP_NS}}}Envelope")
    header = sub(envelope, f"{{{SOAP_NS}}}Header")
    sub(header, t("RequestServerVersion"), Version=server_version)
    if impersonate is not None:
        impersonation = sub(header, t("ExchangeImpersonation"))
        sid = sub(impersonation, t("ConnectingSID"))
        sub(sid, t("SmtpAddress"), impersonate)
    # Every time the server sends back is in UTC; the mapping converts to zones.
    context = sub(header, t("TimeZoneContext"))
    sub(context, t("TimeZoneDefinition"), Id="UTC")
    sub(envelope, f"{{{SOAP_NS}}}Body").append(body)
    document: bytes = ET.tostring(envelope, encoding="utf-8", xml_declaration=True)
    return document


def parse_envelope(content: bytes, *, operation: str) -> ET.Element:
    """Parse a SOAP response safely and return its ``soap:Body``.

    Raises:
        MalformedResponse: the document is not well-formed XML, declares entities or a
            DTD (entity bombs, external entities), or is not a SOAP envelope.
    """
    if not content.strip():
        raise MalformedResponse(f"EWS {operation}: empty response body", backend=_BACKEND)
    head = content.lstrip()[:200].lower()
    if head.startswith((b"<!doctype html", b"<html")):
        raise MalformedResponse(
            f"EWS {operation}: the server answered with an HTML page, not SOAP "
            "(a login page or a proxy in front of EWS?)",
            backend=_BACKEND,
        )
    try:
        root = SafeET.fromstring(content, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise MalformedResponse(
            f"EWS {operation}: refused unsafe XML ({type(exc).__name__}: entity "
            "declarations, DTDs and external references are not accepted)",
            backend=_BACKEND,
        ) from exc
    except ET.ParseError as exc:
        raise MalformedResponse(
            f"EWS {operation}: response is not well-formed XML ({exc})", backend=_BACKEND
        ) from exc
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise MalformedResponse(
            f"EWS {operation}: expected a SOAP 1.1 Envelope, got <{root.tag}> "
            "(wrong namespace or not a SOAP response)",
            backend=_BACKEND,
        )
    body = root.find(f"{{{SOAP_NS}}}Body")
    if body is None:
        raise MalformedResponse(f"EWS {operation}: SOAP envelope has no Body", backend=_BACKEND)
    return body


def child_text(element: ET.Element, tag: str) -> str | None:
    """The text of the first child ``tag`` of ``element`` (``""`` if empty), or ``None``."""
    child = element.find(tag)
    if child is None:
        return None
    return child.text or ""


@attrs.frozen
class SoapFault:
    """A SOAP fault (EWS sends most request-level errors this way, with HTTP 500)."""

    code: str | None
    message: str
    back_off_ms: int | None


def _back_off(container: ET.Element | None) -> int | None:
    if container is None:
        return None
    for value in container.iter(t("Value")):
        if value.get("Name") == "BackOffMilliseconds":
            try:
                return int((value.text or "").strip())
            except ValueError:
                return None
    return None


def soap_fault(body: ET.Element) -> SoapFault | None:
    """The fault in a SOAP body, if there is one."""
    fault = body.find(f"{{{SOAP_NS}}}Fault")
    if fault is None:
        return None
    message = (fault.findtext("faultstring") or "").strip() or "SOAP fault"
    detail = fault.find("detail")
    code: str | None = None
    if detail is not None:
        code = detail.findtext(f"{{{ERRORS_NS}}}ResponseCode") or detail.findtext(m("ResponseCode"))
        message = detail.findtext(f"{{{ERRORS_NS}}}Message") or message
    if code is None:
        faultcode = (fault.findtext("faultcode") or "").strip()
        code = faultcode.rpartition(":")[2] or None
    return SoapFault(code=code, message=message.strip(), back_off_ms=_back_off(detail))


@attrs.frozen
class ResponseMessage:
    """One ``*ResponseMessage`` of an EWS response (one per item of a batch)."""

    element: ET.Element = attrs.field(repr=False)
    success: bool
    code: str
    message: str
    back_off_ms: int | None


def response_messages(body: ET.Element, operation: str) -> Iterator[ResponseMessage]:
    """The response messages of ``operation`` in a SOAP body, in order.

    Raises:
        MalformedResponse: the body does not hold ``m:<operation>Response`` with
            ``m:ResponseMessages``.
    """
    response = body.find(m(f"{operation}Response"))
    messages = response.find(m("ResponseMessages")) if response is not None else None
    if messages is None:
        raise MalformedResponse(
            f"EWS {operation}: the response has no {operation}Response/ResponseMessages "
            "in the EWS messages namespace",
            backend=_BACKEND,
        )
    for element in messages:
        response_class = element.get("ResponseClass", "")
        code = (element.findtext(m("ResponseCode")) or "").strip()
        if response_class not in {"Success", "Warning", "Error"} or not code:
            raise MalformedResponse(
                f"EWS {operation}: a response message lacks ResponseClass/ResponseCode",
                backend=_BACKEND,
            )
        yield ResponseMessage(
            element=element,
            success=response_class != "Error" and code == "NoError",
            code=code,
            message=(element.findtext(m("MessageText")) or "").strip(),
            back_off_ms=_back_off(element.find(m("MessageXml"))),
        )
