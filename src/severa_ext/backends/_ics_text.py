"""Bytes to an ``icalendar.Calendar``, safely: size limit, encoding, structure, lines.

Private helper of :mod:`severa_ext.backends.ics`. The parser is always handed bytes we
read ourselves (``Calendar.from_ical`` treats a one-line *string* as a file path), and
every failure becomes a :class:`~severa_ext.errors.BackendError` that names the source
and, where it can be known, the line.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import warnings
from collections.abc import Iterator

import attrs
from icalendar import Calendar

from severa_ext.errors import BackendError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ParsedText",
    "PreparedText",
    "captured_warnings",
    "check_structure",
    "parse_calendar_bytes",
    "parse_prepared",
    "prepare_text",
    "repair_folds",
    "scan_event_lines",
]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""Files and downloads above this size are refused (a huge-file guard)."""

_BEGIN_END = re.compile(rb"^(BEGIN|END)[ \t]*:[ \t]*([A-Za-z0-9-]+)[ \t]*\r?$", re.IGNORECASE)
_LINE_SPLIT = re.compile(rb"\r\n|\n|\r")
_NAME = re.compile(rb"^([A-Za-z0-9-]+)[;:]")
_DURATION = re.compile(rb"^DURATION(?:;[^:]*)?:[ \t]*([+-]?P[0-9WDTHMS]+)[ \t]*$", re.IGNORECASE)


@attrs.frozen
class ParsedText:
    """A parsed calendar plus what the pre-scan learnt about the text.

    Attributes:
        calendar: the parsed ``VCALENDAR``.
        event_lines: the line number of each top-level ``BEGIN:VEVENT``, in file order.
        durations: the ``DURATION`` value of each of those events as written (``None``
            where it has none), since the parser keeps only a ``timedelta`` and
            RFC 5545 3.3.6 tells ``PT24H`` (exact) from ``P1D`` (nominal).
        property_lines: for each of those events, the physical line where each of its
            own properties (not those of a nested VALARM) first appears.
        encoding: the encoding the bytes were decoded with (``"utf-8"`` normally).
        notes: non-fatal findings about the text (a BOM, a non-UTF-8 encoding).
    """

    calendar: Calendar
    event_lines: tuple[int, ...]
    encoding: str
    notes: tuple[str, ...]
    durations: tuple[str | None, ...] = ()
    property_lines: tuple[dict[str, int], ...] = ()


@contextlib.contextmanager
def captured_warnings(notes: list[str]) -> Iterator[None]:
    """Turn the warnings the calendar libraries emit inside into ``notes``.

    ``icalendar`` warns, for example, when it guesses what a "globally unique" TZID
    means; under ``-W error`` that warning would be raised out of the parser. Inside
    this block every warning is recorded instead (whatever the process's filters say)
    and its text appended to ``notes``, for the journal.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        notes.append(f"{warning.category.__name__}: {warning.message}")


_SPLIT_CHARACTER = re.compile(rb"([\xc0-\xf7][\x80-\xbf]*)(\r?\n[ \t])([\x80-\xbf]+)")
_CONTENT_LINE = re.compile(rb"^[A-Za-z0-9-]+[;:]")
_SUSPECT_LINE = re.compile(rb"\n(?![ \t]|[A-Za-z0-9-]+[;:]|\r?\n|\r?$)")


def repair_folds(data: bytes, *, utf8: bool = True) -> tuple[bytes, list[str]]:
    """Mend two folding faults on the bytes, before any decoding; line numbers stay.

    * A multi-byte UTF-8 character split by a fold (RFC 5545 3.1 folds on octets, and
      some writers split characters): its continuation bytes move before the fold, so
      the character is restored exactly.
    * A continuation line that lost its leading space (inside a component, not a
      ``NAME:`` or ``NAME;`` content line, not ``BEGIN``/``END``): the space is put
      back, and a note names the line.

    ``utf8``: whether the bytes are UTF-8 (a legacy encoding skips the first repair).

    Returns:
        The mended bytes and one note per repair.
    """
    notes: list[str] = []
    mended = data
    if utf8:
        mended = _SPLIT_CHARACTER.sub(lambda m: m.group(1) + m.group(3) + m.group(2), data)
    if mended != data:
        notes.append("a UTF-8 character split across a folded line was joined")
    if _SUSPECT_LINE.search(mended) is None:
        return mended, notes  # the usual case: no line to look at one by one
    lines = mended.split(b"\n")
    depth = 0
    for position, line in enumerate(lines):
        body = line.rstrip(b"\r")
        if not body.strip() or body[:1] in b" \t":
            continue
        if _BEGIN_END.match(line) is not None:
            depth += 1 if body[:5].upper() == b"BEGIN" else -1
            continue
        if depth > 0 and position > 0 and _CONTENT_LINE.match(body) is None:
            lines[position] = b" " + line
            notes.append(
                f"line {position + 1}: a continuation line without its leading space "
                "was joined to the line before"
            )
    return b"\n".join(lines), notes


def _decode(data: bytes, source: str, encoding: str | None) -> tuple[str, str, list[str]]:
    notes: list[str] = []
    if encoding is not None and encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        try:
            return data.decode(encoding), encoding, [f"read as {encoding} (configured)"]
        except (UnicodeDecodeError, LookupError) as exc:
            raise BackendError(
                f"{source}: cannot be read as {encoding}: {exc}", backend="ics"
            ) from exc
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
        notes.append("a UTF-8 byte order mark was removed")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16", ["the file is UTF-16, not UTF-8"]
        except UnicodeDecodeError as exc:
            raise BackendError(f"{source}: broken UTF-16 text: {exc}", backend="ics") from exc
    try:
        return data.decode("utf-8"), "utf-8", notes
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise BackendError(
            f"{source}, line {line}, column {column}: not UTF-8 (byte "
            f"0x{data[exc.start]:02X}); the text is never guessed at: if the file is in a "
            "legacy encoding such as windows-1252, configure that encoding",
            backend="ics",
        ) from exc


@attrs.frozen
class _Scan:
    events: tuple[int, ...]
    durations: tuple[str | None, ...]
    property_lines: tuple[dict[str, int], ...]


def _scan(text_bytes: bytes, source: str) -> _Scan:
    """Check BEGIN/END nesting; return the lines, DURATIONs and property lines of
    top-level VEVENTs."""
    stack: list[tuple[str, int]] = []
    events: list[int] = []
    durations: list[str | None] = []
    property_lines: list[dict[str, int]] = []
    last = 0
    seen_calendar = False
    for number, line in enumerate(_LINE_SPLIT.split(text_bytes), start=1):
        if line.strip():
            last = number
        if not line or line[:1] in b" \t":
            continue
        match = _BEGIN_END.match(line)
        if match is None and len(stack) == 2 and stack[-1][0] == "VEVENT":
            name_match = _NAME.match(line)
            if name_match is not None:
                prop = name_match.group(1).decode("ascii").upper()
                property_lines[-1].setdefault(prop, number)
            duration = _DURATION.match(line)
            if duration is not None:
                durations[-1] = duration.group(1).decode("ascii")
        if match is None:
            if not stack and line.strip():
                raise BackendError(
                    f"{source}, line {number}: content outside BEGIN:VCALENDAR "
                    f"({line[:40].decode('utf-8', 'replace')!r}); not an iCalendar file",
                    backend="ics",
                )
            continue
        kind, name = match.group(1).upper(), match.group(2).decode("ascii").upper()
        if kind == b"BEGIN":
            if not stack:
                if name != "VCALENDAR" or seen_calendar:
                    raise BackendError(
                        f"{source}, line {number}: expected one BEGIN:VCALENDAR, "
                        f"found BEGIN:{name}",
                        backend="ics",
                    )
                seen_calendar = True
            elif len(stack) == 1 and name == "VEVENT":
                events.append(number)
                durations.append(None)
                property_lines.append({})
            stack.append((name, number))
        else:
            if not stack or stack[-1][0] != name:
                opened = f"BEGIN:{stack[-1][0]} of line {stack[-1][1]}" if stack else "nothing"
                raise BackendError(
                    f"{source}, line {number}: END:{name} does not close {opened}",
                    backend="ics",
                )
            stack.pop()
    if stack:
        opened_name, opened_line = stack[-1]
        raise BackendError(
            f"{source}, line {last}: the file ends inside BEGIN:{opened_name} of line "
            f"{opened_line}, which is never closed (a truncated file or download?)",
            backend="ics",
        )
    if not seen_calendar:
        raise BackendError(
            f"{source}: no BEGIN:VCALENDAR found (an empty body is never an empty calendar)",
            backend="ics",
        )
    return _Scan(tuple(events), tuple(durations), tuple(property_lines))


@attrs.frozen
class PreparedText:
    """Checked, mended UTF-8 text of a calendar, before any parser has seen it."""

    utf8: bytes
    encoding: str
    notes: tuple[str, ...]


def prepare_text(
    data: bytes, source: str, *, max_bytes: int = DEFAULT_MAX_BYTES, encoding: str | None = None
) -> PreparedText:
    """Size limit, emptiness, folding repairs, decoding and the HTML check.

    Raises:
        BackendError: too big, empty, not text in a known encoding, or HTML.
    """
    if len(data) > max_bytes:
        raise BackendError(
            f"{source}: {len(data)} bytes is more than the limit of {max_bytes} bytes",
            backend="ics",
        )
    if not data.strip():
        raise BackendError(
            f"{source}: empty content (never read as an empty calendar)", backend="ics"
        )
    legacy = encoding is not None and encoding.lower().replace("_", "-") not in ("utf-8", "utf8")
    data, repairs = repair_folds(data, utf8=not legacy)
    text, used, notes = _decode(data, source, encoding)
    notes.extend(repairs)
    utf8 = text.encode("utf-8")
    if utf8.lstrip()[:1] == b"<":
        raise BackendError(
            f"{source}, line 1: the content is HTML or XML, not iCalendar (an error page?)",
            backend="ics",
        )
    return PreparedText(utf8, used, tuple(notes))


def check_structure(utf8: bytes, source: str) -> None:
    """Raise the error the whole-file scan finds (nesting, content outside, truncation).

    Raises:
        BackendError: the components are not one well-nested ``VCALENDAR``.
    """
    _scan(utf8, source)


def parse_prepared(prepared: PreparedText, source: str) -> ParsedText:
    """Parse prepared text with ``icalendar`` (every component), with the lines.

    Raises:
        BackendError: not one well-nested ``VCALENDAR`` (naming the line), or refused
            by the parser.
    """
    utf8 = prepared.utf8
    notes = list(prepared.notes)
    scan = _scan(utf8, source)
    try:
        with captured_warnings(notes):
            calendar = Calendar.from_ical(utf8)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise BackendError(
            f"{source}: not a readable iCalendar file: {exc}", backend="ics"
        ) from exc
    if not isinstance(calendar, Calendar):
        raise BackendError(f"{source}: the top component is not a VCALENDAR", backend="ics")
    return ParsedText(
        calendar, scan.events, prepared.encoding, tuple(notes), scan.durations, scan.property_lines
    )


def parse_calendar_bytes(
    data: bytes, source: str, *, max_bytes: int = DEFAULT_MAX_BYTES, encoding: str | None = None
) -> ParsedText:
    """Parse ``data`` (the whole file or download) into a calendar.

    Args:
        data: the raw bytes.
        source: the file name or URL, for messages.
        max_bytes: the size limit.
        encoding: a legacy encoding to read the text in; ``None`` means UTF-8 (a BOM
            is dropped, UTF-16 with a BOM is accepted) and anything else is an error.

    Returns:
        The parsed calendar with line numbers of its events.

    Raises:
        BackendError: too big, empty, not text in a known encoding, not one well-nested
            ``VCALENDAR`` (naming the line), or refused by the parser.
    """
    prepared = prepare_text(data, source, max_bytes=max_bytes, encoding=encoding)
    return parse_prepared(prepared, source)


def scan_event_lines(data: bytes, source: str) -> tuple[int, ...]:
    """The line of each top-level ``BEGIN:VEVENT`` of UTF-8 ``data`` (nesting checked).

    Raises:
        BackendError: the components are not well nested.
    """
    return _scan(data, source).events
