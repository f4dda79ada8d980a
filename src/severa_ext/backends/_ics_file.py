"""The bytes of a calendar file: rendering from the events' own texts, and atomic
replacement.

Private helper of :mod:`severa_ext.backends.ics`. A sync writes a few hundred events
per durable step into a file of tens of thousands; serialising every component again
at each step makes an initial sync quadratic. Each stored event keeps its text on its
own record (:class:`~._ics_scan.StoredEvent`: as read, as created, or as last
rendered; events created since the read are bare texts until a write needs their
record), so a rendering renders only the events a write changed and otherwise joins
byte strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from icalendar import Calendar

from severa_ext.backends._atomic import remove_stale_temporaries, replace_file
from severa_ext.backends._ics_scan import StoredEvent
from severa_ext.errors import BackendError

__all__ = ["atomic_write", "render_calendar"]

_END = b"END:VCALENDAR\r\n"


def render_calendar(calendar: Calendar, tail: Iterable[bytes] = ()) -> bytes:
    """The calendar as iCalendar bytes (RFC 5545 line folding, CRLF): its own
    properties, then each top-level component in order (an event from its record),
    then ``tail`` (the texts of events created since the read)."""
    head = Calendar()
    head.update(calendar)
    head_text = head.to_ical()
    if head_text.endswith(_END):
        head_text = head_text[: -len(_END)]
    parts = [head_text]
    entries: list[Any] = calendar.subcomponents  # StoredEvents among them
    for entry in entries:
        parts.append(entry.rendered() if isinstance(entry, StoredEvent) else entry.to_ical())
    parts.extend(tail)
    parts.append(_END)
    return b"".join(parts)


def atomic_write(path: Path, data: bytes | bytearray) -> None:
    """Replace ``path`` by ``data`` atomically (:func:`.replace_file`: temporary file
    in the same folder, fsync, rename, folder fsync), then remove the temporary files
    a killed writer left beside it (:func:`.remove_stale_temporaries`: one listing of
    the folder).

    Raises:
        BackendError: the file cannot be written (the old content is untouched).
    """
    try:
        replace_file(path, data)
    except OSError as exc:
        raise BackendError(f"{path}: cannot be written: {exc}", backend="ics") from exc
    remove_stale_temporaries(path)
