"""The bytes of a calendar file: rendering with reuse, and atomic replacement.

Private helper of :mod:`severa_ext.backends.ics`. A sync writes a few hundred events
per durable step into a file of tens of thousands; serialising every component again
at each step makes an initial sync quadratic. :class:`Rendering` keeps the text of
each component as last rendered and renders again only the components a write
changed, so one flush costs one join of byte strings plus the write itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from icalendar import Calendar, Component

from severa_ext.backends._atomic import remove_stale_temporaries, replace_file
from severa_ext.backends._ics_scan import RawEvent
from severa_ext.errors import BackendError

__all__ = ["Rendering", "atomic_write"]

_END = b"END:VCALENDAR\r\n"


class Rendering:
    """The text of one in-memory calendar, component by component.

    Each entry holds its component next to its text and is used only for that very
    object (``is``), so an id reused by a new object never finds an old text; an
    entry is dropped when its component changes (:meth:`forget`) and the table is
    rebuilt from the calendar's current components at each :meth:`render`.
    """

    def __init__(self) -> None:
        self._texts: dict[int, tuple[Component, bytes]] = {}

    def forget(self, component: Component) -> None:
        """``component`` changed: render it again next time."""
        self._texts.pop(id(component), None)

    def render(self, calendar: Calendar, tail: Iterable[bytes] = ()) -> bytes:
        """The calendar as iCalendar bytes (RFC 5545 line folding, CRLF).

        ``tail``: components already rendered (created events), written last.
        """
        head = Calendar()
        head.update(calendar)
        head_text = head.to_ical()
        if head_text.endswith(_END):
            head_text = head_text[: -len(_END)]
        texts: dict[int, tuple[Component, bytes]] = {}
        parts = [head_text]
        entries: list[Any] = calendar.subcomponents  # RawEvents among them
        for stored in entries:
            component = stored
            if isinstance(stored, RawEvent):
                if stored.component is None:
                    parts.append(stored.text)  # unchanged since the read: as read
                    continue
                component = stored.component
            key = id(component)
            entry = self._texts.get(key)
            if entry is None or entry[0] is not component:
                entry = (component, component.to_ical())
            texts[key] = entry
            parts.append(entry[1])
        parts.extend(tail)
        parts.append(_END)
        self._texts = texts
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
