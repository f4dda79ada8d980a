"""The clock seam: the pure core never reads the wall clock, it is handed a ``Clock``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

import attrs

from severa_ext.errors import ValidationError

__all__ = ["Clock", "FixedClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the current time as an aware UTC ``datetime``."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware."""
        ...


class SystemClock:
    """The real clock. Only the edge (engine, stores, CLI) constructs one."""

    __slots__ = ()

    def now(self) -> datetime:
        """Return the wall-clock time in UTC."""
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


@attrs.define
class FixedClock:
    """A clock that stands still until moved; for tests, examples and replays."""

    current: datetime = attrs.field()

    @current.validator
    def _aware(self, _attribute: attrs.Attribute[datetime], value: datetime) -> None:
        if value.tzinfo is None:
            raise ValidationError("FixedClock needs a timezone-aware datetime")

    def now(self) -> datetime:
        """Return the fixed time."""
        return self.current

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` and return the new time."""
        self.current = self.current + delta
        return self.current
