"""Serialization of Extranet records through cattrs (shares, audit events, approvals).

:data:`converter` reads and writes :class:`~severa_ext.extranet.shares.Share`,
:class:`~severa_ext.extranet.audit.AuditEvent` and
:class:`~severa_ext.extranet.approvals.Approval` as JSON-ready dicts: rights as a sorted
list of names, datetimes as ISO 8601 strings with their offset. Use :func:`structure`
and :func:`unstructure`, which turn every failure into a
:class:`~severa_ext.errors.ValidationError` that names the record type.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import cattrs

from severa_ext.errors import SeveraExtError, ValidationError
from severa_ext.extranet.rights import register_rights_hooks

__all__ = ["converter", "make_converter", "structure", "unstructure"]

T = TypeVar("T")


def _structure_datetime(value: Any, _type: Any) -> datetime:
    if not isinstance(value, str):
        raise ValidationError(f"expected an ISO 8601 datetime string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(f"not an ISO 8601 datetime: {value!r}") from exc
    if parsed.tzinfo is None:
        raise ValidationError(f"datetime {value!r} has no UTC offset")
    return parsed


def make_converter() -> cattrs.Converter:
    """Build a converter with the Extranet's hooks (rights, aware datetimes).

    Returns:
        A new ``cattrs.Converter``; extend it for a host's own records.
    """
    conv = cattrs.Converter(detailed_validation=False, forbid_extra_keys=True)
    register_rights_hooks(conv)
    conv.register_unstructure_hook(datetime, datetime.isoformat)
    conv.register_structure_hook(datetime, _structure_datetime)
    return conv


converter = make_converter()
"""The shared converter for Extranet records."""


def unstructure(record: object) -> Any:
    """Turn a record into JSON-ready data.

    Args:
        record: a ``Share``, ``AuditEvent``, ``Approval`` (or tuple of them).

    Returns:
        Dicts, lists, strings, numbers and ``None`` only.
    """
    return converter.unstructure(record)


def structure(data: Any, cls: type[T]) -> T:
    """Read a record of type ``cls`` from data made by :func:`unstructure`.

    Args:
        data: the data (e.g. from ``json.loads``).
        cls: the record class.

    Returns:
        The record, validated as if constructed directly.

    Raises:
        RightsError: unknown right names or inconsistent rights.
        ValidationError: anything else wrong with ``data``.
    """
    try:
        return converter.structure(data, cls)
    except SeveraExtError:
        raise
    except (
        cattrs.BaseValidationError,
        cattrs.ForbiddenExtraKeysError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
    ) as exc:
        raise ValidationError(f"cannot read a {cls.__name__} from {data!r}: {exc!r}") from exc
