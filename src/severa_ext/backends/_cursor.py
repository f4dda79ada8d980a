"""The JSON form of the backends' stored cursors: one converter for Graph, EWS and Severa.

A cursor is a frozen attrs class whose ``encode`` is :func:`encode_cursor` and whose
``decode`` is :func:`decode_cursor`; datetimes are ISO 8601 strings, keys are sorted,
and anything unreadable is a :class:`~severa_ext.errors.ValidationError` that names
the kind of cursor.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TypeVar

import cattrs

from severa_ext.errors import ValidationError

__all__ = ["decode_cursor", "encode_cursor"]

_C = TypeVar("_C")

_converter = cattrs.Converter()
_converter.register_unstructure_hook(datetime, lambda value: value.isoformat())
_converter.register_structure_hook(datetime, lambda value, _type: datetime.fromisoformat(value))


def encode_cursor(cursor: object) -> str:
    """The cursor as the string the state store keeps."""
    return json.dumps(_converter.unstructure(cursor), sort_keys=True)


def decode_cursor(cls: type[_C], text: str, kind: str) -> _C:
    """Parse a stored cursor of ``cls``; ``kind`` names it (``"a Graph cursor"``).

    Raises:
        ValidationError: the text is not such a cursor (``"not <kind>: <text>"``).
    """
    try:
        return _converter.structure(json.loads(text), cls)
    except (ValueError, TypeError, cattrs.BaseValidationError) as exc:
        raise ValidationError(f"not {kind}: {text[:60]!r}") from exc
