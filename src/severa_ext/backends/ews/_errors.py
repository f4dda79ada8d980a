"""EWS response codes to the package's exceptions: the one place they are mapped.

Exchange reports errors three ways: a SOAP fault (request level, with HTTP 500), a
``ResponseMessage`` with ``ResponseClass="Error"`` (one per item of a batch), and bare
HTTP statuses (401, 403/404 when EWS is switched off, 503 from a load balancer). All
three end here:

- :func:`fault_error` maps a response code (and its text) to an exception, for a
  request or for one item (``item=...``). Throttling codes become
  :class:`~severa_ext.errors.Throttled` whose ``retry_after`` is the server's
  ``BackOffMilliseconds`` in seconds (:func:`back_off_seconds`); the backend never
  waits itself.
- :func:`http_error` maps an HTTP status that carries no SOAP answer; a 503's
  ``Retry-After`` is read by :func:`severa_ext.backends._http.parse_retry_after`.

The server's text is cleared of secrets it may echo (tokens, passwords) before it
goes into a message.
"""

from __future__ import annotations

from datetime import UTC, datetime

from severa_ext.backends._http import (
    DEFAULT_RETRY_AFTER,
    MAX_RETRY_AFTER,
    parse_retry_after,
    safe_url,
)
from severa_ext.errors import (
    AuthError,
    BackendError,
    BackendUnavailable,
    BadItem,
    NotFound,
    Throttled,
    VersionConflict,
)
from severa_ext.sync.journal import redact

__all__ = [
    "IMPERSONATION_CODES",
    "ITEM_GONE_CODES",
    "REQUEST_LEVEL_CODES",
    "THROTTLE_CODES",
    "back_off_seconds",
    "fault_error",
    "http_error",
]

_BACKEND = "ews"
_MAX_TEXT = 500

THROTTLE_CODES = frozenset({"ErrorServerBusy", "ErrorExceededConnectionCount"})
"""Codes that mean "slow down" (with ``BackOffMilliseconds`` when the server says)."""

IMPERSONATION_CODES = frozenset(
    {"ErrorImpersonateUserDenied", "ErrorImpersonationDenied", "ErrorImpersonationFailed"}
)
_MAILBOX_CODES = frozenset({"ErrorNonExistentMailbox", "ErrorMailboxMoveInProgress"})
_TRANSIENT_CODES = frozenset(
    {
        "ErrorMailboxStoreUnavailable",
        "ErrorInternalServerTransientError",
        "ErrorTimeoutExpired",
        "ErrorConnectionFailed",
        "ErrorMailboxMoveInProgress",
    }
)
ITEM_GONE_CODES = frozenset({"ErrorItemNotFound", "ErrorInvalidIdMalformed"})
"""Codes that mean the item does not exist (any more)."""

REQUEST_LEVEL_CODES = IMPERSONATION_CODES | _MAILBOX_CODES | _TRANSIENT_CODES
"""Codes that fail the whole request even when they arrive in one item's message."""

_BAD_ITEM_PREFIXES = ("ErrorCalendar", "ErrorInvalidProperty", "ErrorInvalidValue")


def back_off_seconds(back_off_ms: int | None) -> float:
    """The wait a ``BackOffMilliseconds`` value asks for, in seconds (bounded).

    ``None`` (the server did not say) is :data:`~severa_ext.backends._http.DEFAULT_RETRY_AFTER`.
    """
    if back_off_ms is None:
        return DEFAULT_RETRY_AFTER
    return min(max(0.0, back_off_ms / 1000), MAX_RETRY_AFTER)


def _text(text: str) -> str:
    cleared = redact(text.strip())
    return cleared if len(cleared) <= _MAX_TEXT else cleared[:_MAX_TEXT] + "..."


def fault_error(
    code: str,
    text: str,
    *,
    operation: str,
    mailbox: str,
    back_off_ms: int | None = None,
    item: str | None = None,
) -> BackendError:
    """The exception for an EWS response code.

    Args:
        code: the ``ResponseCode`` (``ErrorServerBusy``, ``ErrorItemNotFound`` ...).
        text: the server's ``MessageText`` / ``faultstring``.
        operation: the EWS operation (``GetItem`` ...).
        mailbox: the mailbox the request was for.
        back_off_ms: ``BackOffMilliseconds`` from the fault's or message's details.
        item: the item the message is about, for per-item answers of a batch.
    """
    text = _text(text)
    where = f"EWS {operation}" + (f": item {item!r}" if item is not None else "")
    detail = f"{where}: {code}: {text}".rstrip(": ")
    if code in THROTTLE_CODES:
        wait = back_off_seconds(back_off_ms)
        return Throttled(detail, retry_after=wait, backend=_BACKEND, code=code)
    if code in IMPERSONATION_CODES:
        return AuthError(
            f"{detail}. The account may not impersonate {mailbox}: it needs the "
            "ApplicationImpersonation role (or, with OAuth, EWS.AccessAsApp scoped to "
            "this mailbox) (S7)",
            backend=_BACKEND,
            code=code,
        )
    if code == "ErrorNonExistentMailbox":
        return NotFound(
            f"{detail}. No mailbox {mailbox!r} on this server. Use the primary "
            "SMTP address: aliases / proxy addresses of accounts with several domains "
            "may not resolve, and a mailbox migrated to another server (e.g. to "
            "Exchange Online) must be reached there (S5)",
            backend=_BACKEND,
            code=code,
        )
    if code == "ErrorAccessDenied":
        return AuthError(detail, backend=_BACKEND, code=code)
    if code in _TRANSIENT_CODES:
        return BackendUnavailable(detail, backend=_BACKEND, code=code)
    if code in ITEM_GONE_CODES:
        return NotFound(detail, backend=_BACKEND, code=code)
    if item is not None:
        if code == "ErrorIrresolvableConflict":
            return VersionConflict(
                f"{where} changed since it was read: {text}", backend=_BACKEND, code=code
            )
        if code.startswith(_BAD_ITEM_PREFIXES):
            return BadItem(item, f"{code}: {text}", backend=_BACKEND)
    return BackendError(detail, backend=_BACKEND, code=code)


def http_error(
    status: int, *, operation: str, url: str, retry_after: str | None = None
) -> BackendError:
    """The exception for an HTTP status that came without a SOAP answer.

    Args:
        status: the HTTP status (not 200 or 500).
        operation: the EWS operation.
        url: the endpoint (shown without query or user info).
        retry_after: the ``Retry-After`` header of a 503, if any.
    """
    where = f"EWS {operation}: {safe_url(url)}"
    if status == 401:
        return AuthError(
            f"{where} refused the credentials (HTTP 401); check the account's user name "
            "and password (or token)",
            backend=_BACKEND,
            code="401",
        )
    if status in {403, 404}:
        return BackendUnavailable(
            f"{where} answered HTTP {status}: EWS looks disabled on this server or for "
            "this mailbox (ask the Exchange admin to check the EWS virtual directory and "
            "Set-CASMailbox -EwsEnabled), or the URL is wrong",
            backend=_BACKEND,
            code="EwsDisabled",
        )
    if status in {429, 503}:
        seconds = parse_retry_after(retry_after, now=datetime.now(UTC))
        return Throttled(
            f"{where}: HTTP {status} service unavailable",
            retry_after=DEFAULT_RETRY_AFTER if seconds is None else seconds,
            backend=_BACKEND,
            code=str(status),
        )
    if 300 <= status < 400:
        return BackendUnavailable(
            f"{where} redirected (HTTP {status}); redirects are not followed, so the "
            "credentials go only to the configured URL: configure the address it names",
            backend=_BACKEND,
            code=str(status),
        )
    return BackendUnavailable(
        f"{where}: unexpected HTTP {status}", backend=_BACKEND, code=str(status)
    )
