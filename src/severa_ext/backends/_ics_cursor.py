"""The ICS file backend's change cursor: "nothing changed" without parsing.

A cursor names exactly what one full listing was made from:

* ``ics1`` -- the format version (any other text is not a cursor of this format);
* the content hash of the file's bytes (BLAKE2b, 128 bits; the same digest the
  backend keeps for its own version checks);
* a fingerprint of the window (recurrence expansion and the window filter depend on
  it) and of every reading option and library that changes a listing (the floating
  zone, the encoding, the size limit, the expansion budget, the versions of
  severa_ext, icalendar, recurring-ical-events, x-wr-timezone and tzdata).

A cursor is only ever compared for equality with the cursor the current file, window
and options give: garbled, truncated, foreign or old-format cursors simply differ, so
they cost one full listing, never an error and never a missed change. Size and mtime
are never trusted: the file is hashed every time.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
from datetime import UTC, tzinfo
from pathlib import Path

from severa_ext.sync.items import Window

__all__ = [
    "CURSOR_PREFIX",
    "content_digest",
    "file_digest",
    "make_cursor",
    "options_fingerprint",
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


def make_cursor(digest: str, window: Window, options: str) -> str:
    """The cursor for a listing of ``window`` from a file with content ``digest``."""
    start = window.start.astimezone(UTC).isoformat()
    end = window.end.astimezone(UTC).isoformat()
    context = hashlib.blake2b(
        f"{start}/{end}/{options}".encode(), digest_size=_DIGEST_SIZE
    ).hexdigest()
    return f"{CURSOR_PREFIX}:{digest}:{context}"
