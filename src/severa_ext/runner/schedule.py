"""When each pair is due next (pure: the time is an argument, never read here).

:func:`next_due` is the one decision: after a clean run the pair is due again one
``interval`` later; after a failure it backs off exponentially (``backoff`` doubled
per consecutive failure, capped at ``max_backoff``, never sooner than a server's
``Retry-After``); a pair another run holds (its lease) is looked at again after
``busy_delay``. A change notification makes a pair due at once
(:meth:`~severa_ext.runner.ScheduleStore.hasten`), which never shortens a back-off
below the server's ``Retry-After``.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import attrs

from severa_ext.errors import ValidationError

__all__ = ["PairSchedule", "RunStatus", "SchedulePolicy", "next_due"]


class RunStatus(enum.Enum):
    """How one run of a pair ended."""

    SYNCED = "synced"
    """The run finished and every item went through."""
    PARTIAL = "partial"
    """The run finished, but some items failed (journaled, S6); retried with back-off."""
    FAILED = "failed"
    """The run failed as a whole (a listing, the credentials, the server; S6)."""
    BUSY = "busy"
    """Another run holds the pair's lease; nothing was done."""
    INACTIVE = "inactive"
    """The user's sync is off, or the organisation's add-on or settings are (S1, S2)."""


def _positive(instance: object, attribute: attrs.Attribute[timedelta], value: timedelta) -> None:
    if value <= timedelta(0):
        raise ValidationError(f"SchedulePolicy.{attribute.name} must be positive, got {value}")


@attrs.frozen
class SchedulePolicy:
    """How often pairs sync and how failures back off.

    Attributes:
        interval: time between runs of a healthy pair (a no-change run costs one delta
            request per side).
        backoff: the delay after a first failure, doubled per consecutive failure.
        max_backoff: the longest back-off.
        busy_delay: when a pair whose lease another run holds is looked at again.
    """

    interval: timedelta = attrs.field(default=timedelta(minutes=15), validator=_positive)
    backoff: timedelta = attrs.field(default=timedelta(minutes=1), validator=_positive)
    max_backoff: timedelta = attrs.field(default=timedelta(hours=6), validator=_positive)
    busy_delay: timedelta = attrs.field(default=timedelta(minutes=1), validator=_positive)


@attrs.frozen
class PairSchedule:
    """A pair's place in the schedule.

    Attributes:
        pair_id: the pair.
        due: when it should run next (aware).
        failures: consecutive failed runs (0 after a clean one).
        not_before: the earliest time a notification may bring it forward to (a
            server's ``Retry-After``); ``None`` when nothing holds it back.
    """

    pair_id: str
    due: datetime
    failures: int = 0
    not_before: datetime | None = None

    def hastened(self, now: datetime) -> PairSchedule:
        """Due at ``now`` (a change notification), but not before ``not_before``."""
        at = now if self.not_before is None else max(now, self.not_before)
        return attrs.evolve(self, due=min(self.due, at))


def next_due(
    policy: SchedulePolicy,
    previous: PairSchedule | None,
    status: RunStatus,
    now: datetime,
    *,
    pair_id: str,
    retry_after: float | None = None,
) -> PairSchedule:
    """The schedule of ``pair_id`` after a run that ended with ``status`` at ``now``."""
    failures = 0 if previous is None else previous.failures
    if status is RunStatus.BUSY:
        return PairSchedule(pair_id, now + policy.busy_delay, failures)
    if status in (RunStatus.SYNCED, RunStatus.INACTIVE):
        return PairSchedule(pair_id, now + policy.interval)
    failures += 1
    delay = min(policy.max_backoff, policy.backoff * 2 ** min(failures - 1, 32))
    waited = None if retry_after is None else now + timedelta(seconds=retry_after)
    due = now + delay if waited is None else max(now + delay, waited)
    return PairSchedule(pair_id, due, failures, not_before=waited)
