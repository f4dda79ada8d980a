"""A fast line scanner for iCalendar bytes: top-level components and event properties.

Private helper of :mod:`severa_ext.backends.ics`. ``icalendar`` builds an object per
property and parameter; for a file of tens of thousands of plain events that is most
of the cost of a read. This module finds the top-level components of a normalised
text (line ends ``\\n``) with one regular expression over the whole text, keeps each
``VEVENT``'s text span as it is, and splits an event's own properties into
``(parameters, value)`` pairs after unfolding (RFC 5545 3.1, on bytes).

Nothing here decides what a property means (see :mod:`._ics_fast`); anything it does
not recognise with certainty answers ``None``, and the caller takes ``icalendar``'s
path for that event or file.
"""

from __future__ import annotations

import re

import attrs
from icalendar import Component

__all__ = [
    "EventProps",
    "Span",
    "StoredEvent",
    "event_details",
    "event_props",
    "normalise",
    "top_level",
]

_MARK = re.compile(
    rb"^(BEGIN|END)[ \t]*:[ \t]*([A-Za-z0-9-]+)[ \t]*$", re.MULTILINE | re.IGNORECASE
)
_UNFOLD = re.compile(rb"\n[ \t]")
_NAME = re.compile(rb"^([A-Za-z0-9-]+)[;:]")
_DURATION = re.compile(rb"^DURATION(?:;[^:]*)?:[ \t]*([+-]?P[0-9WDTHMS]+)[ \t]*$", re.IGNORECASE)
_PARAM = re.compile(r"[A-Za-z0-9-]+=[^;:,\"]*")
_NESTING = ("BEGIN:", "END:")

EventProps = dict[str, list[tuple[str, str]]]
"""An event's own properties: upper-case name to ``(parameters, value)`` in order."""


@attrs.frozen
class Span:
    """One top-level component of the calendar: its name, bytes and first line."""

    name: str
    start: int
    end: int
    line: int


class StoredEvent:
    """One stored VEVENT of a calendar: the text the file gets for it and, once a write
    needs it, its ``icalendar`` component.

    ``text`` is the event as read (or as created), byte for byte, or its component's
    rendering once made; ``None`` while a component a write changed waits to be
    rendered again (:meth:`changed`). The text lives on the record, so writing the file
    joins the records' texts and renders only the events a write changed.
    """

    __slots__ = ("component", "text")
    name = "VEVENT"

    def __init__(self, text: bytes | None, component: Component | None = None) -> None:
        if text is None and component is None:
            raise ValueError("a stored event needs its text or its component")
        self.text = text
        self.component = component

    def materialize(self) -> Component:
        """The event as an ``icalendar`` component (parsed once)."""
        if self.component is None:
            assert self.text is not None  # one of the two is always there
            self.component = Component.from_ical(self.text)
        return self.component

    def rendered(self) -> bytes:
        """The event's text in the file (its component rendered once after a change)."""
        if self.text is None:
            assert self.component is not None
            self.text = self.component.to_ical()
        return self.text

    def changed(self) -> None:
        """Its component was changed by a write: render it anew next time."""
        self.materialize()
        self.text = None


def normalise(data: bytes) -> bytes:
    """``data`` with every line end (CRLF, CR, LF) as ``\\n``; line numbers stay."""
    text = data.replace(b"\r\n", b"\n")
    return text.replace(b"\r", b"\n") if b"\r" in text else text


def top_level(text: bytes) -> list[Span] | None:
    """The top-level components of the one ``VCALENDAR`` in normalised ``text``.

    ``None`` when the text is not one well-nested calendar with nothing outside it
    (the caller's full check then names the fault and its line).
    """
    stack: list[bytes] = []
    spans: list[Span] = []
    seen = False
    line, counted = 1, 0
    opened = (0, 0)
    outside = bytearray()
    previous_end = 0
    for mark in _MARK.finditer(text):
        name = mark.group(2).upper()
        if mark.group(1).upper() == b"BEGIN":
            if not stack:
                if name != b"VCALENDAR" or seen:
                    return None
                seen = True
                outside += text[previous_end : mark.start()]
            elif len(stack) == 1:
                line += text.count(b"\n", counted, mark.start())
                counted = mark.start()
                opened = (mark.start(), line)
            stack.append(name)
            continue
        if not stack or stack[-1] != name:
            return None
        stack.pop()
        if len(stack) == 1:
            end = mark.end() + 1 if text[mark.end() : mark.end() + 1] == b"\n" else mark.end()
            spans.append(Span(name.decode("ascii"), opened[0], end, opened[1]))
        elif not stack:
            previous_end = mark.end()
    if stack or not seen or (outside + text[previous_end:]).strip():
        return None
    return spans


def _unescaped_params(params: str) -> bool:
    return all(_PARAM.fullmatch(part) for part in params.split(";"))


def event_props(span: bytes) -> EventProps | None:
    """The event's own properties (nested components skipped), or ``None`` when a
    line is not a plain ``NAME[;PARAM=VALUE...]:VALUE`` content line."""
    try:
        text = _UNFOLD.sub(b"", span).decode("utf-8")
    except UnicodeDecodeError:
        return None
    props: EventProps = {}
    depth = 0
    lines = text.split("\n")
    for line in lines[1:]:
        if not line:
            continue
        upper = line[:6].upper()
        if upper.startswith(_NESTING):
            if _MARK.fullmatch(line.encode("utf-8")) is None:
                return None
            depth += 1 if upper.startswith("BEGIN:") else -1
            continue
        if depth:
            continue
        colon = line.find(":")
        if colon < 1:
            return None
        head = line[:colon]
        name, semi, params = head.partition(";")
        if not (name.isascii() and name.replace("-", "").isalnum()):
            return None
        if semi and ('"' in params or not _unescaped_params(params)):
            return None
        props.setdefault(name.upper(), []).append((params, line[colon + 1 :]))
    return props if depth == -1 else None


def event_details(span: bytes, first_line: int) -> tuple[str | None, dict[str, int]]:
    """The DURATION as written and the physical line of each of the event's own
    properties (as the whole-file scan of :mod:`._ics_text` records them)."""
    duration: str | None = None
    lines: dict[str, int] = {}
    depth = 0
    for number, line in enumerate(span.split(b"\n")[1:], start=first_line + 1):
        if not line or line[:1] in b" \t":
            continue
        if _MARK.fullmatch(line) is not None:
            depth += 1 if line[:5].upper() == b"BEGIN" else -1
            continue
        if depth:
            continue
        match = _NAME.match(line)
        if match is not None:
            lines.setdefault(match.group(1).decode("ascii").upper(), number)
        found = _DURATION.match(line)
        if found is not None:
            duration = found.group(1).decode("ascii")
    return duration, lines
