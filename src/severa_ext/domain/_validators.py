"""Small attrs validators shared by the domain values."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import attrs

from severa_ext.errors import ValidationError

__all__ = ["aware", "non_blank"]


def non_blank(instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    """Refuse an empty or whitespace-only string, naming the class and field."""
    if not value.strip():
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a non-blank string, got {value!r}"
        )


def aware(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    """Refuse a naive datetime (``None`` and plain dates pass)."""
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be timezone-aware, "
            f"got naive {value.isoformat()}"
        )
    if value is not None and not isinstance(value, date):
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a date or datetime, got {value!r}"
        )
