"""What every SQL store shares: SQLAlchemy's errors mapped to ours, and the row converter.

:func:`translated` turns any ``SQLAlchemyError`` into a
:class:`~severa_ext.errors.StoreError` naming the store. The message and the chained
cause are the driver's own error, never SQLAlchemy's statement text with its bound
parameters (an invite's salt and hash are parameters).

:data:`rows` is a cattrs converter between records and the column values of a row:
datetimes, bytes and JSON values pass through as they are (the column types convert
them), rights become their sorted name list.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import cattrs
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from severa_ext.errors import SeveraExtError, StoreError, ValidationError
from severa_ext.extranet.rights import register_rights_hooks

__all__ = ["from_row", "make_row_converter", "rows", "to_row", "translated"]

T = TypeVar("T")


def _cause(exc: SQLAlchemyError) -> BaseException:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return exc.orig
    return exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@contextmanager
def translated(store: str) -> Iterator[None]:
    """Map SQLAlchemy's errors to :class:`~severa_ext.errors.StoreError` for ``store``."""
    try:
        yield
    except SQLAlchemyError as exc:
        cause = _cause(exc)
        if cause is exc:
            raise StoreError(f"{store}: {type(exc).__name__}") from None
        raise StoreError(f"{store}: the database failed: {_first_line(cause)}") from cause


def _aware(value: Any, _type: Any) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationError(f"expected an aware datetime, got {value!r}")
    return value


def _bytes(value: Any, _type: Any) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ValidationError(f"expected bytes, got {type(value).__name__}")
    return bytes(value)


def make_row_converter() -> cattrs.Converter:
    """A converter between records and row values (see the module doc)."""
    conv = cattrs.Converter(forbid_extra_keys=True)
    register_rights_hooks(conv)
    conv.register_unstructure_hook(datetime, lambda value: value)
    conv.register_structure_hook(datetime, _aware)
    conv.register_unstructure_hook(bytes, lambda value: value)
    conv.register_structure_hook(bytes, _bytes)
    return conv


rows = make_row_converter()
"""The shared row converter."""


def to_row(record: object) -> dict[str, Any]:
    """The column values of ``record``."""
    values: dict[str, Any] = rows.unstructure(record)
    return values


def from_row(values: Any, cls: type[T], *, store: str) -> T:
    """Read a ``cls`` record from a row's values (a mapping of column to value).

    Raises:
        StoreError: the row does not make a valid record (edited by hand, corrupt).
    """
    try:
        return rows.structure(dict(values), cls)
    except (SeveraExtError, cattrs.BaseValidationError, TypeError, ValueError, KeyError) as exc:
        raise StoreError(f"{store}: a stored {cls.__name__} is not valid: {exc}") from exc
