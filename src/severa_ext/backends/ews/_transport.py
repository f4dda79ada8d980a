"""EWS over HTTP: one SOAP call in, its response messages or one mapped error out.

:class:`EwsTransport` wraps each operation in a SOAP envelope (with the
``ExchangeImpersonation`` header when asked), posts it over one ``requests.Session``
through :func:`severa_ext.backends._http.send` (body size, total deadline, no
redirects) and reads the answer with ``defusedxml``. :func:`translate_errors` is the
one edge where what the wire raises becomes the package's errors naming the
endpoint; SOAP faults and error response messages are mapped by
:mod:`severa_ext.backends.ews._errors`. The transport never sleeps and never retries,
bar one fresh OAuth token after a 401.
"""

from __future__ import annotations

import contextlib
import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import requests

from severa_ext.backends._http import HttpAnswer, HttpLimits, safe_url, send
from severa_ext.backends.ews._auth import BearerAuth
from severa_ext.backends.ews._errors import (
    REQUEST_LEVEL_CODES,
    THROTTLE_CODES,
    fault_error,
    http_error,
)
from severa_ext.backends.ews._xml import (
    ResponseMessage,
    build_envelope,
    parse_envelope,
    response_messages,
    soap_fault,
)
from severa_ext.errors import BackendError, BackendUnavailable, MalformedResponse

__all__ = ["EwsTransport", "translate_errors"]

logger = logging.getLogger(__name__)

_BACKEND = "ews"
_SOAP_ACTION = "http://schemas.microsoft.com/exchange/services/2006/messages/"


@contextlib.contextmanager
def translate_errors(operation: str, url: str, status: int = 200) -> Iterator[None]:
    """Map the failures of one EWS exchange to package errors that name the endpoint.

    An unreachable server (connection, TLS, deadline) is
    :class:`~severa_ext.errors.BackendUnavailable` naming the URL without secrets; an
    unreadable answer to an HTTP 500 is an IIS or proxy error page, so it is
    ``BackendUnavailable`` too, while any other unreadable answer stays
    :class:`~severa_ext.errors.MalformedResponse`.
    """
    try:
        yield
    except BackendUnavailable as exc:
        raise BackendUnavailable(
            f"EWS {operation}: cannot reach {safe_url(url)} ({exc})",
            backend=_BACKEND,
            code=exc.code,
        ) from exc
    except MalformedResponse as exc:
        if status != 500:
            raise
        raise BackendUnavailable(
            f"EWS {operation}: HTTP 500 from {safe_url(url)} without a SOAP fault",
            backend=_BACKEND,
            code="500",
        ) from exc


class EwsTransport:
    """Sends EWS operations for one mailbox to one endpoint.

    Args:
        url: the EWS endpoint.
        mailbox: the mailbox acted on unless a call names another.
        session: the one ``requests.Session``.
        auth: the ``requests`` credentials (:class:`BearerAuth` for OAuth).
        server_version: the ``RequestServerVersion`` header.
        impersonate: send ``ExchangeImpersonation`` for the target mailbox.
        timeout: seconds for connecting and for each socket read.
        limits: body size and total seconds per call.
    """

    def __init__(
        self,
        url: str,
        mailbox: str,
        *,
        session: requests.Session,
        auth: requests.auth.AuthBase | None,
        server_version: str,
        impersonate: bool,
        timeout: float,
        limits: HttpLimits,
    ) -> None:
        self.url = url
        self.mailbox = mailbox
        self.session = session
        self.auth = auth
        self.server_version = server_version
        self.impersonate = impersonate
        self.timeout = timeout
        self.limits = limits

    def __repr__(self) -> str:
        return f"EwsTransport(url={self.url!r}, mailbox={self.mailbox!r})"

    def request(
        self,
        operation: str,
        body: ET.Element,
        *,
        mailbox: str | None = None,
        write: bool = False,
    ) -> list[ResponseMessage]:
        """Send one operation; its response messages, or the mapped error (no waiting).

        A busy answer to one item of a write (``write=True``) stays that item's
        message: failing the whole request would hide the items that did succeed.
        A refused OAuth token is replaced once; nothing else is retried here.
        """
        target = mailbox or self.mailbox
        payload = build_envelope(
            body,
            server_version=self.server_version,
            impersonate=target if self.impersonate else None,
        )
        answer = self._post(operation, payload, target)
        if answer.status == 401 and isinstance(self.auth, BearerAuth):
            logger.info("EWS %s: token refused; getting a new one", operation)
            self.auth.provider.invalidate()
            answer = self._post(operation, payload, target)
        return self._messages(operation, answer, target, write=write)

    def fault(
        self,
        code: str,
        text: str,
        operation: str,
        mailbox: str | None = None,
        *,
        back_off_ms: int | None = None,
    ) -> BackendError:
        """The error for a response code of a request (for ``mailbox`` or the default)."""
        return fault_error(
            code, text, operation=operation, mailbox=mailbox or self.mailbox,
            back_off_ms=back_off_ms,
        )  # fmt: skip

    def item_error(self, message: ResponseMessage, operation: str, ref: str) -> BackendError:
        """The error for one item's failed response message."""
        return fault_error(
            message.code,
            message.message,
            operation=operation,
            mailbox=self.mailbox,
            back_off_ms=message.back_off_ms,
            item=ref,
        )

    def _post(self, operation: str, payload: bytes, target: str) -> HttpAnswer:
        headers = {
            "Content-Type": "text/xml; charset=utf-8",
            "Accept": "text/xml",
            "SOAPAction": f'"{_SOAP_ACTION}{operation}"',
            "X-AnchorMailbox": target,
        }
        with translate_errors(operation, self.url):
            return send(
                self.session,
                "POST",
                self.url,
                limits=self.limits,
                timeout=self.timeout,
                backend=_BACKEND,
                what=operation,
                data=payload,
                headers=headers,
                auth=self.auth,
            )

    def _body(self, operation: str, answer: HttpAnswer) -> ET.Element:
        with translate_errors(operation, self.url, answer.status):
            if answer.content_type == "text/html":
                raise MalformedResponse(
                    f"EWS {operation}: the server answered with an HTML page, not SOAP "
                    "(a login page or a proxy in front of EWS?)",
                    backend=_BACKEND,
                    code="not-xml",
                )
            return parse_envelope(answer.body, operation=operation)

    def _messages(
        self, operation: str, answer: HttpAnswer, target: str, *, write: bool
    ) -> list[ResponseMessage]:
        status = answer.status
        if status not in {200, 500}:
            raise http_error(
                status, operation=operation, url=self.url, retry_after=answer.header("Retry-After")
            )
        body = self._body(operation, answer)
        fault = soap_fault(body)
        if fault is not None:
            raise self.fault(fault.code or "SoapFault", fault.message, operation, target,
                             back_off_ms=fault.back_off_ms)  # fmt: skip
        if status != 200:
            raise BackendUnavailable(
                f"EWS {operation}: HTTP {status} without a SOAP fault", backend=_BACKEND
            )
        messages = list(response_messages(body, operation))
        for message in messages:
            if message.code in THROTTLE_CODES and write:
                continue
            if message.code in THROTTLE_CODES | REQUEST_LEVEL_CODES:
                raise self.fault(message.code, message.message or message.code, operation,
                                 target, back_off_ms=message.back_off_ms)  # fmt: skip
        return messages
