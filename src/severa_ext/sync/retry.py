"""The engine's one retry policy: every wait of a run happens here.

Backends never sleep and never retry by themselves: they raise
:class:`~severa_ext.errors.Throttled` (with the server's ``retry_after``, already
parsed) or :class:`~severa_ext.errors.BackendUnavailable`, and the engine retries
through a :class:`Waiter`. A wait is exponential backoff (``backoff`` doubled per
attempt, capped at ``max_backoff``) or the server's ``Retry-After`` when longer.
One run waits at most ``max_wait`` seconds in total, whatever it retries: a run that
has spent its budget stops retrying, journals what is left and retries it on the next
run (cursors stay where they were), so waits never multiply across layers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import attrs

from severa_ext.errors import BackendUnavailable, SeveraExtError, Throttled, ValidationError

__all__ = ["TRANSIENT", "RetryPolicy", "Waiter"]

logger = logging.getLogger(__name__)

TRANSIENT = (Throttled, BackendUnavailable)
"""The errors worth another attempt in this run."""

T = TypeVar("T")
"""What a retried call returns."""


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValidationError(f"RetryPolicy.{attribute.name} must be >= 0, got {value!r}")


def _attempts(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValidationError(f"RetryPolicy.max_attempts must be >= 1, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """How the engine retries transient errors.

    Attributes:
        max_attempts: tries per call before the item is journaled and skipped.
        backoff: the first retry's delay in seconds, doubled per attempt.
        max_backoff: the cap on the doubled delay (a longer ``Retry-After`` is
            still honoured).
        max_retry_after: a server asking to wait longer than this is not waited
            for: the item is journaled and retried on the next run.
        max_wait: the total seconds one run may wait, over all its retries.
    """

    max_attempts: int = attrs.field(default=5, validator=_attempts)
    backoff: float = attrs.field(default=0.5, validator=_positive)
    max_backoff: float = attrs.field(default=30.0, validator=_positive)
    max_retry_after: float = attrs.field(default=300.0, validator=_positive)
    max_wait: float = attrs.field(default=900.0, validator=_positive)


class Waiter:
    """One run's retries: the policy, the sleep, and what is left of the budget."""

    def __init__(self, policy: RetryPolicy, sleep: Callable[[float], None]) -> None:
        self.policy = policy
        self._sleep = sleep
        self.waited = 0.0

    def delay(self, attempt: int, error: SeveraExtError | None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``; ``None``: not in this run
        (attempts used up, the server asks too much, or the budget is spent)."""
        policy = self.policy
        if attempt + 1 >= policy.max_attempts:
            return None
        delay = min(policy.max_backoff, policy.backoff * (2**attempt))
        if isinstance(error, Throttled):
            asked = error.retry_after
            if asked is not None:
                if asked > policy.max_retry_after:
                    return None
                delay = max(delay, asked)
        if self.waited + delay > policy.max_wait:
            logger.info("retry budget of %.0f s spent; retrying next run", policy.max_wait)
            return None
        return float(delay)

    def wait(self, delay: float) -> None:
        """Sleep ``delay`` seconds and charge them to the budget."""
        self.waited += delay
        self._sleep(delay)

    def call(self, what: str, call: Callable[[], T]) -> T:
        """``call()``, retried on transient errors within the policy and the budget.

        Raises:
            Throttled, BackendUnavailable: the last transient error, once no retry
                is left in this run.
        """
        attempt = 0
        while True:
            try:
                return call()
            except TRANSIENT as exc:
                delay = self.delay(attempt, exc)
                if delay is None:
                    raise
                logger.info(
                    "%s failed transiently (%s); retry in %.1f s", what, type(exc).__name__, delay
                )
                self.wait(delay)
                attempt += 1
