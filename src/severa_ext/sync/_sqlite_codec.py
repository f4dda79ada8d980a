"""The cattrs converter that turns links and journal entries into JSON text and back.

Whole records are stored as JSON built from their attrs fields, so a field added to
:class:`~severa_ext.sync.state.Link` (with a default) round-trips without a schema
change, and a row written before the field existed loads with the default.

Times keep their zone: an aware datetime is written as ISO 8601 with the IANA zone
name appended in brackets (the RFC 9557 form, ``2026-05-04T12:00:00+03:00[Europe/
Helsinki]``); a plain date as ``2026-05-04``.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import cattrs

from severa_ext.errors import StateError
from severa_ext.sync.journal import JournalEntry
from severa_ext.sync.state import Link

__all__ = [
    "dump_entry",
    "dump_link",
    "load_entry",
    "load_link",
    "make_converter",
    "utc_key",
]

_WHEN = datetime | date
_OPTIONAL_WHEN = datetime | date | None
_OPTIONAL_STR = str | None
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False, ensure_ascii=False)


def _zone_name(zone: tzinfo | None) -> str | None:
    key = getattr(zone, "key", None)
    return key if isinstance(key, str) else None


def _dump_when(value: date) -> str:
    if isinstance(value, datetime):
        name = _zone_name(value.tzinfo)
        text = value.isoformat()
        return f"{text}[{name}]" if name else text
    return value.isoformat()


def _load_datetime(text: str) -> datetime:
    zone_name = None
    if text.endswith("]") and "[" in text:
        text, _, rest = text.partition("[")
        zone_name = rest[:-1]
    value = datetime.fromisoformat(text)
    if zone_name:
        # An unknown zone keeps the fixed offset: the instant is what matters.
        with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
            value = value.astimezone(ZoneInfo(zone_name))
    return value


def _load_when(value: Any, _type: Any) -> datetime | date:
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 string, got {value!r}")
    if len(value) == 10:
        return date.fromisoformat(value)
    return _load_datetime(value)


def _load_optional_when(value: Any, _type: Any) -> datetime | date | None:
    return None if value is None else _load_when(value, _type)


def _identity(value: Any) -> Any:
    return value


def _dump_optional_when(value: date | None) -> str | None:
    return None if value is None else _dump_when(value)


def make_converter() -> cattrs.Converter:
    """A converter for links and journal entries (datetime, date, enum hooks)."""
    converter = cattrs.Converter(omit_if_default=True)
    converter.register_unstructure_hook(datetime, _dump_when)
    converter.register_unstructure_hook(date, _dump_when)
    # Direct hooks for the common optional types (skips a dispatch per field).
    converter.register_unstructure_hook_func(lambda t: t == _OPTIONAL_STR, _identity)
    converter.register_unstructure_hook_func(
        lambda t: t in (_WHEN, _OPTIONAL_WHEN, datetime | None), _dump_optional_when
    )
    converter.register_structure_hook(datetime, lambda v, _t: _load_datetime(v))
    converter.register_structure_hook(date, lambda v, _t: date.fromisoformat(v))
    converter.register_structure_hook_func(lambda t: t == _WHEN, _load_when)
    converter.register_structure_hook_func(lambda t: t == _OPTIONAL_WHEN, _load_optional_when)
    return converter


_CONVERTER = make_converter()


def dump_link(link: Link) -> str:
    """The JSON text of ``link``."""
    return _ENCODER.encode(_CONVERTER.unstructure(link, Link))


def load_link(text: str, *, where: str) -> Link:
    """The link stored as ``text``.

    Raises:
        StateError: the text is not a stored link (naming ``where`` it came from).
    """
    try:
        return _CONVERTER.structure(json.loads(text), Link)
    except (ValueError, TypeError, KeyError, cattrs.BaseValidationError) as exc:
        raise StateError(f"{where}: a stored link cannot be read: {exc}") from exc


def dump_entry(entry: JournalEntry) -> str:
    """The JSON text of a journal entry."""
    return _ENCODER.encode(_CONVERTER.unstructure(entry, JournalEntry))


def load_entry(text: str, *, where: str) -> JournalEntry:
    """The journal entry stored as ``text``.

    Raises:
        StateError: the text is not a stored entry (naming ``where`` it came from).
    """
    try:
        return _CONVERTER.structure(json.loads(text), JournalEntry)
    except (ValueError, TypeError, KeyError, cattrs.BaseValidationError) as exc:
        raise StateError(f"{where}: a stored journal entry cannot be read: {exc}") from exc


def utc_key(value: datetime) -> str:
    """A sortable UTC text of an aware instant (journal times, lease expiries)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")
