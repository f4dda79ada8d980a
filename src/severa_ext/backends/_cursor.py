"""The JSON form of the backends' stored cursors: one converter for Graph, EWS and Severa.

A cursor is a frozen attrs class deriving from :class:`JsonCursor` (``encode`` is
:func:`encode_cursor`, ``decode`` is :func:`decode_cursor`); datetimes are ISO 8601
strings, keys are sorted, and anything unreadable is a
:class:`~severa_ext.errors.ValidationError` that names the kind of cursor.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import ClassVar, Self, TypeVar

import cattrs

from severa_ext.errors import ValidationError

__all__ = ["JsonCursor", "decode_cursor", "encode_cursor"]

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


class JsonCursor:
    """The stored form of a backend's cursor; a subclass is a frozen attrs class."""

    kind: ClassVar[str] = "a cursor"
    """What an unreadable text is said not to be (``"a Graph cursor"``)."""

    def encode(self) -> str:
        """The cursor as the string the state store keeps."""
        return encode_cursor(self)

    @classmethod
    def decode(cls, text: str) -> Self:
        """Parse a stored cursor.

        Raises:
            ValidationError: the text is not such a cursor.
        """
        return decode_cursor(cls, text, cls.kind)
