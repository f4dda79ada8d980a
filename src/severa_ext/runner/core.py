"""The runner: syncs the due pairs of an organisation, one pair per call.

:class:`Runner` is engine-neutral: a task queue (Celery, :mod:`severa_ext.contrib.celery`),
a cron job or a loop calls :meth:`Runner.due_pairs` to fan out and
:meth:`Runner.run_pair` for each pair. A run:

1. re-reads the organisation settings and the user's activation: a user whose sync
   is off, or an organisation whose add-on or settings are, is never synced (S1, S2);
2. opens the pair's backends (:class:`~severa_ext.runner.PairBackends`),
   every request under the :class:`~severa_ext.runner.RequestGate`;
3. runs :class:`~severa_ext.sync.engine.SyncEngine` under the pair's lease (a pair
   another run holds is ``BUSY``, not a failure);
4. journals a failure of the run as a whole with the user (S6; item failures the
   engine journals itself) and decides the next due time
   (:func:`~severa_ext.runner.next_due`: back-off after failures).

A change notification only makes a pair due early (:meth:`Runner.signal`, a
:class:`~severa_ext.backends.graph_notifications.NotificationSink`): it never writes;
the delta query of the next run stays the source of truth.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import attrs

from severa_ext.backends._graph_receiver import Signal, SignalKind
from severa_ext.clock import Clock, SystemClock
from severa_ext.errors import LeaseHeld, SeveraExtError, Throttled
from severa_ext.runner.backends import OpenPair, PairBackends
from severa_ext.runner.limits import MemoryGate, RequestGate
from severa_ext.runner.pairs import Pair, active_pairs, inactive_reason, pair_id_of
from severa_ext.runner.schedule import PairSchedule, RunStatus, SchedulePolicy, next_due
from severa_ext.runner.store import ScheduleStore
from severa_ext.sync.activation import ActivationStore, OrganisationSettings
from severa_ext.sync.journal import JournalEntry
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.report import SyncReport
from severa_ext.sync.state import StateStore

__all__ = ["PairRun", "Runner", "sync_policy"]

logger = logging.getLogger(__name__)

_EARLY = frozenset({SignalKind.CHANGED, SignalKind.RESYNC, SignalKind.RECREATE})


@attrs.frozen
class PairRun:
    """What one :meth:`Runner.run_pair` did.

    Attributes:
        pair_id: the pair.
        status: how it ended.
        schedule: when the pair is due next.
        report: the engine's report (``None`` when the engine did not run).
        message: why it failed or was not run.
    """

    pair_id: str
    status: RunStatus
    schedule: PairSchedule
    report: SyncReport | None = None
    message: str = ""


def sync_policy(settings: OrganisationSettings) -> SyncPolicy:
    """The organisation's policy as the engine's
    :class:`~severa_ext.sync.policy.SyncPolicy` (S8, S9)."""
    policy = settings.policy
    if isinstance(policy, SyncPolicy):
        return policy
    assert policy is not None  # an organisation with missing settings never runs
    return SyncPolicy(
        outgoing_types=policy.outgoing_types,
        default_type=policy.default_type,
        personal_type=policy.personal_type,
    )


class Runner:
    """Runs an organisation's sync pairs (see the module doc).

    Args:
        organisation: the organisation settings (or a callable returning the current).
        activations: who has sync on (S2).
        state: the sync state (links, cursors, leases, the journal).
        backends: opens each pair's backends.
        schedule: when each pair is due.
        policy: intervals and back-off.
        gate: the per-mailbox request limits (default: Graph's, in this process).
        clock: the time source.
        engine_options: more keyword arguments for each ``SyncEngine``.
        on_lifecycle: called with a ``reauthorizationRequired`` or
            ``subscriptionRemoved`` signal (renew or create the subscription again).
    """

    def __init__(
        self,
        organisation: OrganisationSettings | Callable[[], OrganisationSettings],
        activations: ActivationStore,
        state: StateStore,
        backends: PairBackends,
        schedule: ScheduleStore,
        *,
        policy: SchedulePolicy | None = None,
        gate: RequestGate | None = None,
        clock: Clock | None = None,
        engine_options: dict[str, Any] | None = None,
        on_lifecycle: Callable[[Signal], None] | None = None,
    ) -> None:
        self._organisation = organisation
        self.activations = activations
        self.state = state
        self.backends = backends
        self.schedule = schedule
        self.policy = policy or SchedulePolicy()
        self.gate: RequestGate = gate or MemoryGate()
        self.clock: Clock = clock or SystemClock()
        self._engine_options = dict(engine_options or {})
        self._on_lifecycle = on_lifecycle

    def __repr__(self) -> str:
        return f"Runner(schedule={self.schedule!r})"

    def organisation(self) -> OrganisationSettings:
        """The current organisation settings."""
        org = self._organisation
        return org() if callable(org) else org

    def pairs(self) -> Iterator[Pair]:
        """Every pair that may sync (S1, S2), due or not."""
        return active_pairs(self.organisation(), self.activations)

    def due_pairs(self, *, limit: int | None = None) -> list[Pair]:
        """The pairs due now, active users only (S1, S2), at most ``limit``."""
        now = self.clock.now()
        found: list[Pair] = []
        chunk: list[Pair] = []
        for pair in self.pairs():
            chunk.append(pair)
            if len(chunk) == 500:
                found += self._due_of(chunk, now)
                chunk = []
            if limit is not None and len(found) >= limit:
                return found[:limit]
        found += self._due_of(chunk, now)
        return found if limit is None else found[:limit]

    def _due_of(self, chunk: list[Pair], now: datetime) -> list[Pair]:
        due = set(self.schedule.due([p.pair_id for p in chunk], now))
        return [p for p in chunk if p.pair_id in due]

    def signal(self, signal: Signal) -> None:
        """Take a change notification: make its pair due now (never a write).

        Lifecycle signals that need the subscription renewed or created again go to
        ``on_lifecycle``; a removed subscription or missed notifications also make the
        pair due (its delta query catches up).
        """
        if signal.kind in _EARLY:
            self.schedule.hasten(signal.pair, self.clock.now())
        if signal.kind in (SignalKind.REAUTHORIZE, SignalKind.RECREATE) and self._on_lifecycle:
            self._on_lifecycle(signal)

    def run_pair(self, pair_id: str) -> PairRun:
        """Sync one pair now, if it may sync (see the module doc). Never raises for a
        failure of the pair: it is journaled (S6) and the pair backed off."""
        user_id = pair_id.removeprefix("user:")
        activation = self.activations.get(user_id)
        organisation = self.organisation()
        reason = inactive_reason(organisation, activation)
        if reason is not None or activation is None or pair_id != pair_id_of(user_id):
            return self._finish(pair_id, RunStatus.INACTIVE, message=reason or "unknown pair")
        pair = Pair.of(activation)
        try:
            opened = self.backends.open(pair, self.gate)
        except SeveraExtError as exc:
            return self._failed(pair, exc, "open")
        try:
            return self._sync(pair, opened, organisation)
        finally:
            opened.close()

    def _sync(self, pair: Pair, opened: OpenPair, organisation: OrganisationSettings) -> PairRun:
        from severa_ext.sync.engine import SyncEngine

        try:
            engine = SyncEngine(
                opened.a,
                opened.b,
                self.state,
                pair_id=pair.pair_id,
                policy=sync_policy(organisation),
                clock=self.clock,
                user_id=pair.user_id,
                **self._engine_options,
            )
            report = engine.run()
        except LeaseHeld as held:
            return self._finish(pair.pair_id, RunStatus.BUSY, message=str(held))
        except SeveraExtError as exc:
            return self._failed(pair, exc, "run")
        status = RunStatus.SYNCED if report.ok else RunStatus.PARTIAL
        message = "" if report.ok else f"{len(report.errors)} item(s) failed (see the journal)"
        return self._finish(pair.pair_id, status, report=report, message=message)

    def _failed(self, pair: Pair, exc: SeveraExtError, operation: str) -> PairRun:
        entry = JournalEntry(
            time=self.clock.now(),
            pair_id=pair.pair_id,
            operation=operation,
            message=str(exc),
            user_id=pair.user_id,
            error_type=type(exc).__name__,
        )
        self.state.record(entry)
        logger.warning("pair %s: %s failed: %s", pair.pair_id, operation, entry.message)
        retry_after = exc.retry_after if isinstance(exc, Throttled) else None
        return self._finish(
            pair.pair_id, RunStatus.FAILED, message=entry.message, retry_after=retry_after
        )

    def _finish(
        self,
        pair_id: str,
        status: RunStatus,
        *,
        report: SyncReport | None = None,
        message: str = "",
        retry_after: float | None = None,
    ) -> PairRun:
        previous = self.schedule.get(pair_id)
        now = self.clock.now()
        schedule = next_due(
            self.policy, previous, status, now, pair_id=pair_id, retry_after=retry_after
        )
        if status is not RunStatus.INACTIVE or previous is not None:
            self.schedule.put(schedule)
        return PairRun(pair_id, status, schedule, report, message)
