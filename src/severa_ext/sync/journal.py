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

_SECRET_PATTERNS = (
    # Authorization headers and bearer tokens.
    re.compile(r"(?i)\b(bearer|basic|ntlm|negotiate)\s+[A-Za-z0-9\-._~+/]+=*"),
    # key=value / "key": "value" pairs whose key names a secret.
    re.compile(
        r"(?i)(\"?(?:client_secret|password|passwd|pwd|access_token|refresh_token|"
        r"id_token|assertion|secret|token|api[_-]?key)\"?\s*[:=]\s*\"?)([^\"&\s,;]+)"
    ),
    # JSON web tokens wherever they appear.
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
)


def redact(text: str) -> str:
    """Remove credentials (tokens, passwords, secrets) from a message before storing it."""
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)} [REDACTED]", text)
    text = _SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)}[REDACTED]", text)
    return _SECRET_PATTERNS[2].sub("[REDACTED-JWT]", text)


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
