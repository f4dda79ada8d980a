"""The cattrs converter that turns links and journal entries into JSON text and back.

Whole records are stored as JSON built from their attrs fields, so a field added to
:class:`~severa_ext.sync.state.Link` (with a default) round-trips without a schema
change, and a row written before the field existed loads with the default.

Times keep their zone: an aware datetime is written as ISO 8601 with the IANA zone
name appended in brackets (the RFC 9557 form, ``2026-05-04T12:00:00+03:00[Europe/
Helsinki]``); a plain date as ``2026-05-04``.

A link is stored as a row (:func:`link_row`, :func:`load_row`): the fields the
lookups and the engine's bookkeeping use are columns of their own, the ``base`` is
JSON, and any other field goes to an ``extra`` JSON object (empty for a plain
:class:`~severa_ext.sync.state.Link`), so no field is ever lost.

Speed: a created item's link is written twice (the intent before the create, then
the final link) with the same ``base`` object, so the base's JSON and its S3 print
come from a small cache keyed by object identity (the cache holds the item itself,
so an identity is never reused while cached; items are frozen).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from severa_ext.errors import StateError
from severa_ext.sync.items import CalendarItem, copy_print
from severa_ext.sync.journal import JournalEntry
from severa_ext.sync.state import Link

__all__ = [
    "LINK_COLUMNS",
    "LinkRow",
    "dump_base",
    "dump_entry",
    "dump_link",
    "link_row",
    "load_entry",
    "load_link",
    "load_row",
    "make_converter",
    "utc_key",
]

_WHEN = datetime | date
_OPTIONAL_WHEN = datetime | date | None
_OPTIONAL_STR = str | None
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False, ensure_ascii=False)


def _compact_encoder() -> Callable[[Any], str]:
    """``_ENCODER.encode`` with json's C encoder built once: ``JSONEncoder.encode``
    builds it anew on every call, a third of the time of encoding a stored base.
    Falls back to ``_ENCODER.encode`` where the C encoder is missing or differs."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython has it
        return _ENCODER.encode
    try:
        encoder = make(
            None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",",
            False, False, True,
        )  # fmt: skip
    except TypeError:  # pragma: no cover - another signature
        return _ENCODER.encode

    def encode(value: Any) -> str:
        return "".join(encoder(value, 0))

    probe = {"a": [1, 2.5, None, True, 'é\n"'], "b": {}}
    return encode if encode(probe) == _ENCODER.encode(probe) else _ENCODER.encode


_encode = _compact_encoder()


def _dump_when(value: date) -> str:
    # One call per time field (this runs for every stored link): no helper calls.
    if value.__class__ is datetime and value.tzinfo is UTC:
        return value.isoformat()
    if isinstance(value, datetime):
        name = getattr(value.tzinfo, "key", None)
        text = value.isoformat()
        return f"{text}[{name}]" if isinstance(name, str) and name else text
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


def _load_optional_str(value: Any, _type: Any) -> str | None:
    # What cattrs does for ``str | None`` (``str()`` of a non-None value), in one call.
    if value is None or value.__class__ is str:
        return value
    return str(value)


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
    converter.register_structure_hook_func(lambda t: t == _OPTIONAL_STR, _load_optional_str)
    converter.register_structure_hook_func(
        lambda t: t == datetime | None,
        lambda v, _t: None if v is None else _load_datetime(v),
    )
    converter.register_structure_hook_func(lambda t: t == _WHEN, _load_when)
    converter.register_structure_hook_func(lambda t: t == _OPTIONAL_WHEN, _load_optional_when)
    # Last: the generated item hook picks up the time hooks above.
    item_hook = converter.get_structure_hook(CalendarItem)
    converter.register_structure_hook_func(
        lambda t: t == CalendarItem | None,
        lambda v, _t: None if v is None else item_hook(v, CalendarItem),
    )
    return converter


_CONVERTER = make_converter()

LINK_COLUMNS: tuple[str, ...] = (
    "sync_key",
    "a_id",
    "b_id",
    "a_etag",
    "b_etag",
    "pending",
    "quarantined",
)
"""The :class:`~severa_ext.sync.state.Link` fields stored in columns of their own (in
this order, after ``pair_id``); ``base`` has its own JSON column and any other field
goes to the ``extra`` JSON column."""

_OMIT_COLUMNS: dict[str, Any] = {name: override(omit=True) for name in (*LINK_COLUMNS, "base")}

_LINK_EXTRA: Callable[[Link], dict[str, Any]] = make_dict_unstructure_fn(
    Link, _CONVERTER, _cattrs_omit_if_default=True, **_OMIT_COLUMNS
)
"""The link's fields that have no column, generated by cattrs (a new field is picked
up, and stored, without a schema change)."""

_WHOLE_LINK: Callable[[Link], dict[str, Any]] = _CONVERTER.get_unstructure_hook(Link)

_BASE_DICT: Callable[[CalendarItem], dict[str, Any]] = _CONVERTER.get_unstructure_hook(CalendarItem)

_BASE_CACHE_SIZE = 16384
"""Bases kept encoded (the older half is dropped when full): more than the intents of
one durable step (``SyncEngine(step_writes=...)``, typically a few thousand), so a
final link finds its base encoded (a larger step re-encodes, still correctly)."""

_base_cache: dict[int, tuple[CalendarItem, str, str]] = {}
_base_cache_lock = threading.Lock()


def dump_base(base: CalendarItem) -> tuple[str, str]:
    """The JSON text and the :func:`~severa_ext.sync.items.copy_print` of ``base``,
    computed once per object while it stays cached."""
    key = id(base)
    hit = _base_cache.get(key)
    if hit is not None and hit[0] is base:
        return hit[1], hit[2]
    fields = _BASE_DICT(base) if type(base) is CalendarItem else _CONVERTER.unstructure(base)
    text = _encode(fields)
    print_ = copy_print(base)
    with _base_cache_lock:
        if len(_base_cache) >= _BASE_CACHE_SIZE:
            # Oldest first (dicts keep insertion order): drop the older half.
            for stale in list(_base_cache)[: _BASE_CACHE_SIZE // 2]:
                del _base_cache[stale]
        _base_cache[key] = (base, text, print_)
    return text, print_


LinkRow = tuple[
    str,
    str | None,
    str | None,
    str | None,
    str | None,
    str | None,
    int,
    str | None,
    str | None,
    str | None,
]
"""A link as a ``links`` row: :data:`LINK_COLUMNS`, then ``print``, ``base``, ``extra``."""


def link_row(link: Link) -> LinkRow:
    """``link`` as the values of a ``links`` row (without ``pair_id``)."""
    base_text = print_ = None
    if link.base is not None:
        base_text, print_ = dump_base(link.base)
        if link.pending is not None:
            print_ = None  # an intent is not a copy yet: only settled links are indexed
    extra = _LINK_EXTRA(link)
    return (
        link.sync_key,
        link.a_id,
        link.b_id,
        link.a_etag,
        link.b_etag,
        link.pending,
        1 if link.quarantined else 0,
        print_,
        base_text,
        _encode(extra) if extra else None,
    )


def load_row(row: Sequence[Any], *, where: str) -> Link:
    """The link stored as ``row`` (the values :func:`link_row` makes).

    Raises:
        StateError: the row is not a stored link (naming ``where`` it came from).
    """
    try:
        key, a_id, b_id, a_etag, b_etag, pending, quarantined, _print, base, extra = row
        fields: dict[str, Any] = json.loads(extra) if extra else {}
        if not isinstance(fields, dict):
            raise TypeError(f"extra fields are not a JSON object: {extra!r}")
        fields.update(
            sync_key=key,
            a_id=a_id,
            b_id=b_id,
            a_etag=a_etag,
            b_etag=b_etag,
            pending=pending,
            quarantined=bool(quarantined),
        )
        if base is not None:
            fields["base"] = json.loads(base)
        return _CONVERTER.structure(fields, Link)
    except (ValueError, TypeError, KeyError, cattrs.BaseValidationError) as exc:
        raise StateError(f"{where}: a stored link cannot be read: {exc}") from exc


def dump_link(link: Link) -> str:
    """The JSON text of the whole ``link`` (schema versions 1 and 2 stored links so)."""
    return _ENCODER.encode(_WHOLE_LINK(link))


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
