"""The ICS file backend's change cursor: "nothing changed" without parsing.

A cursor names exactly what one full listing was made from:

* ``ics1`` -- the format version (any other text is not a cursor of this format);
* the content hash of the file's bytes (BLAKE2b, 128 bits; the same digest the
  backend keeps for its own version checks);
* a fingerprint of the window (recurrence expansion and the window filter depend on
  it) and of every reading option and library that changes a listing (the floating
  zone, the encoding, the size limit, the expansion budget, the versions of
  severa_ext, icalendar, recurring-ical-events, x-wr-timezone and tzdata);
* the token of the consumer (one pair's side) the cursor was issued to, with a check
  over the whole cursor.

A cursor answers "nothing changed" only when the file's bytes, the window and the
options are those it names, or when the file is exactly what this backend wrote for
that same consumer starting from the file the cursor names (the *echo* of the
engine's own writes, proved by the :data:`STAMP_PROPERTY` line and its hash): garbled,
truncated, foreign or old-format cursors cost one full listing, never an error and
never a missed change. Size and mtime are never trusted: the file is hashed every time.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import re
import secrets
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any

import attrs

from severa_ext.sync.items import Window

__all__ = [
    "CURSOR_PREFIX",
    "END",
    "HEAD",
    "STAMP_PROPERTY",
    "CursorParts",
    "content_digest",
    "cursor_parts",
    "file_digest",
    "identity",
    "identity_hasher",
    "make_cursor",
    "options_fingerprint",
    "same_context",
    "same_listing",
    "short_digest",
    "stamp",
    "stamp_line",
    "stamped",
]

CURSOR_PREFIX = "ics1"
"""The version tag every cursor of this format starts with."""

_DIGEST_SIZE = 16
_LIBRARIES = ("severa_ext", "icalendar", "recurring-ical-events", "x-wr-timezone", "tzdata")


def content_digest(data: bytes) -> str:
    """The hex BLAKE2b-128 digest of ``data``."""
    return hashlib.blake2b(data, digest_size=_DIGEST_SIZE).hexdigest()


def file_digest(path: Path) -> str:
    """The digest :func:`content_digest` gives for the file's bytes, read in chunks.

    Raises:
        OSError: the file cannot be read.
    """
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, lambda: hashlib.blake2b(digest_size=_DIGEST_SIZE))
    return digest.hexdigest()


@functools.cache
def _library_versions() -> str:
    versions = []
    for name in _LIBRARIES:
        try:
            versions.append(f"{name}={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name}=-")
    return ",".join(versions)


def _zone_name(zone: tzinfo) -> str:
    key = getattr(zone, "key", None)
    return key if isinstance(key, str) else f"{type(zone).__name__}:{zone}"


def options_fingerprint(
    *, zone: tzinfo, encoding: str | None, max_bytes: int, expansion_budget: float
) -> str:
    """The reading options and library versions a listing depends on, as one text."""
    return "|".join(
        (
            _zone_name(zone),
            encoding or "-",
            str(max_bytes),
            repr(float(expansion_budget)),
            _library_versions(),
        )
    )


def new_token(digest: str, context: str) -> str:
    """A fresh consumer token: 8 random bytes and a check over them, the file digest
    and the context (an altered cursor never passes as one of ours)."""
    nonce = secrets.token_hex(8)
    return nonce + _check(nonce, digest, context)


def _check(nonce: str, digest: str, context: str) -> str:
    return hashlib.blake2b(f"{nonce}/{digest}/{context}".encode(), digest_size=4).hexdigest()


def _context(window: Window, options: str) -> str:
    start = window.start.astimezone(UTC).isoformat()
    end = window.end.astimezone(UTC).isoformat()
    return hashlib.blake2b(
        f"{start}/{end}/{options}".encode(), digest_size=_DIGEST_SIZE
    ).hexdigest()


@attrs.frozen
class CursorParts:
    """What a cursor of this format names."""

    digest: str
    context: str
    nonce: str
    """The consumer's token without its check (16 hex digits)."""


def make_cursor(digest: str, window: Window, options: str, nonce: str | None = None) -> str:
    """The cursor for a listing of ``window`` from a file with content ``digest``.

    ``nonce``: the consumer's token (see :func:`cursor_parts`); a new one when ``None``.
    """
    context = _context(window, options)
    token = new_token(digest, context) if nonce is None else nonce + _check(nonce, digest, context)
    return f"{CURSOR_PREFIX}:{digest}:{context}:{token}"


def cursor_parts(cursor: str) -> CursorParts | None:
    """The parts of a well-formed cursor of this format whose check holds, else ``None``.

    The token names one consumer of the file (one pair's side): the engine stores the
    cursor and hands it back, and the backend stamps what it writes for that consumer
    with it (:func:`stamp`), so another pair's writes to the same file never pass as
    this pair's echo.
    """
    parts = cursor.split(":")
    if len(parts) != 4 or parts[0] != CURSOR_PREFIX:
        return None
    _prefix, digest, context, token = parts
    if not re.fullmatch(r"[0-9a-f]{32}", digest) or not re.fullmatch(r"[0-9a-f]{24}", token):
        return None
    nonce = token[:16]
    if token[16:] != _check(nonce, digest, context):
        return None
    return CursorParts(digest, context, nonce)


def same_listing(cursor: CursorParts, digest: str, window: Window, options: str) -> bool:
    """Whether ``cursor`` was issued for this content, window and options."""
    return cursor.digest == digest and cursor.context == _context(window, options)


def same_context(cursor: CursorParts, window: Window, options: str) -> bool:
    """Whether ``cursor`` was issued for this window and these options."""
    return cursor.context == _context(window, options)


STAMP_PROPERTY = "X-SEVERA-EXT-WRITTEN"
"""The calendar property by which a file says it is exactly what this backend wrote.

It is the file's second line, ``X-SEVERA-EXT-WRITTEN:H.N.B``: ``H`` the first 64 bits
of the file's :func:`identity`, ``N`` the token of the consumer (the cursor) the writes
were made for, ``B`` the first 64 bits of the identity of the file that consumer had
last seen listed when they began. A file whose ``H`` does not match (edited by anyone
else, even keeping the line) names nothing.
"""

_SHORT = 16
HEAD = b"BEGIN:VCALENDAR\r\n"
END = b"END:VCALENDAR\r\n"
_STAMP = re.compile(
    rb"\ABEGIN:VCALENDAR\r\n"
    + STAMP_PROPERTY.encode()
    + rb":([0-9a-f]{16})\.([0-9a-f]{16})\.([0-9a-f]{16})\r\n"
)


def _hasher() -> Any:
    return hashlib.blake2b(digest_size=_DIGEST_SIZE)


def identity_hasher(data: bytes | memoryview) -> Any:
    """A BLAKE2b state over ``data`` without its :data:`STAMP_PROPERTY` line (more
    bytes can be added to it: the identity of an appended file costs the tail)."""
    hasher = _hasher()
    match = _STAMP.match(data)
    if match is None:
        hasher.update(data)
    else:
        hasher.update(HEAD)
        hasher.update(memoryview(data)[match.end() :])
    return hasher


def identity(data: bytes) -> str:
    """The content identity of a calendar file: :func:`content_digest` of its bytes
    without the :data:`STAMP_PROPERTY` line (of all its bytes when it has none), so a
    file without a stamp keeps the digest it always had."""
    digest: str = identity_hasher(data).hexdigest()
    return digest


def short_digest(digest: str) -> str:
    """The 64-bit prefix of a digest the stamp records."""
    return digest[:_SHORT]


def stamp_line(digest: str, nonce: str, base: str) -> bytes:
    """The :data:`STAMP_PROPERTY` line (always the same length)."""
    names = ".".join((short_digest(digest), nonce, short_digest(base)))
    return f"{STAMP_PROPERTY}:{names}\r\n".encode()


def stamp(body: bytes, nonce: str, base: str) -> tuple[bytes, str]:
    """``body`` (a rendered calendar without a stamp) with the stamp line second, and
    the identity of the result."""
    digest = identity(body)
    if not body.startswith(HEAD):
        return body, digest
    return HEAD + stamp_line(digest, nonce, base) + body[len(HEAD) :], digest


def stamped(data: bytes, digest: str) -> tuple[str, str] | None:
    """``(nonce, base)`` when ``data`` (whose :func:`identity` is ``digest``) is exactly
    what this backend wrote, else ``None``."""
    match = _STAMP.match(data)
    if match is None or short_digest(digest) != match.group(1).decode("ascii"):
        return None
    return match.group(2).decode("ascii"), match.group(3).decode("ascii")
