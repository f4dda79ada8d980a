"""The error journal (S6): what support reads when a sync goes wrong.

Entries are data, not log lines: each records when, for whom, which item, which
operation, and the backend's exact message (with secrets redacted), so support can
continue troubleshooting with the mail provider.
"""

from __future__ import annotations

import re
from datetime import datetime

import attrs

__all__ = ["JournalEntry", "redact"]

_CREDENTIAL_CHAR = r"[A-Za-z0-9\-._~+/]"
_CODE_VALUE = r"(?!AADSTS\d+\b|invalid_[a-z_]+\b|Error[A-Z]\w*\b)"
_SECRET_PATTERNS = (
    # Authorization headers: the whole value goes (``Authorization_RequestDenied`` is
    # a code, not a header: it has no colon right after the word).
    (re.compile(r"(?i)\b(authorization\s*[:=]\s*)[^\r\n,;]+"), r"\1[REDACTED]"),
    # Credentials after an auth scheme; a plain word ("Basic authentication is
    # disabled", "NTLM negotiation failed") is text, not a credential.
    (
        re.compile(
            rf"(?i)\b(bearer|basic|ntlm|negotiate)\s+(?={_CREDENTIAL_CHAR}*[0-9+/=._~-])"
            rf"{_CREDENTIAL_CHAR}+=*"
        ),
        r"\1 [REDACTED]",
    ),
    # key=value / "key": "value" pairs whose key names a secret, unless the value is an
    # error code (AADSTS numbers, OAuth ``invalid_*`` codes, EWS ``Error*`` codes).
    (
        re.compile(
            r"(?i)(?<![A-Za-z0-9])(\"?(?:client_secret|password|passwd|pwd|access_token|"
            r"refresh_token|id_token|client_assertion|assertion|secret|token|api[_-]?key)"
            rf"\"?\s*[:=]\s*\"?){_CODE_VALUE}([^\"&\s,;]+)"
        ),
        r"\1[REDACTED]",
    ),
    # user:password@ in URLs.
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/@\s:]+:[^/@\s]+@"), r"\1[REDACTED]@"),
    # JSON web tokens wherever they appear.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), "[REDACTED-JWT]"),
)


def redact(text: str) -> str:
    """Remove credentials (tokens, passwords, secrets) from a message before storing it.

    Error codes stay, so support can look them up (S6): OAuth codes such as
    ``invalid_client``, ``AADSTS`` numbers, Graph and EWS response codes
    (``InvalidAuthenticationToken``, ``ErrorAccessDenied``), and words such as "Basic
    authentication" that merely name a scheme.

    >>> redact("invalid_client: AADSTS7000215 client_secret=abc123 Bearer eyJ0eXAi.x.y")
    'invalid_client: AADSTS7000215 client_secret=[REDACTED] Bearer [REDACTED]'
    """
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


@attrs.frozen
class JournalEntry:
    """One recorded failure or notice of a sync run (S6).

    Attributes:
        time: when it happened (aware).
        pair_id: the sync pair (usually one user's activities <-> calendar).
        user_id: the user whose sync it was, if known.
        side: ``"a"``, ``"b"`` or ``None`` for the whole run.
        item_ref: the backend id / UID / sync key of the item, if any.
        operation: ``"list"``, ``"create"``, ``"update"``, ``"delete"``, ``"link"``,
            ``"quarantine"``, ``"guard"``, ``"verify"`` ...
        message: the backend's exact message, redacted of secrets.
        error_type: the exception class name, if the entry records an exception.
        level: ``"error"``, ``"warning"`` or ``"info"``.
    """

    time: datetime
    pair_id: str
    operation: str
    message: str = attrs.field(converter=redact)
    user_id: str | None = None
    side: str | None = None
    item_ref: str | None = None
    error_type: str | None = None
    level: str = "error"
