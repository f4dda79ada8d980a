"""The sync engine: reads both sides, plans (pure), executes durably, reports.

:class:`SyncEngine` syncs backend A (by convention the Severa side) with backend B
(a calendar) for one pair, through a :class:`~severa_ext.sync.state.StateStore`.
It is a thin coordinator over one module per job:

=======================  ===========================================================
module                   job
=======================  ===========================================================
``_read``                read and recover: resolve the intents a crashed run left
                         (``find(sync_key)``), read each side's changes since its
                         cursor (``get`` makes deletes definite), journal the broken
                         items a backend skipped (S6), plan with
                         :func:`~severa_ext.sync.planner.plan_sync` (pure)
``_execute``             execute: the mass-deletion guard, then the writes batch by
                         batch, an intent stored before each create, stale etags
                         re-read and re-planned, an item that keeps failing
                         journaled (S6) and skipped
``_calls``               retry: every backend call, waiting only through the run's
                         one :class:`~severa_ext.sync.retry.Waiter`
``_steps``, ``_lease``   record: durable steps (flush, then one fenced ``apply``),
                         cursors moved only past durable work; the lease taken,
                         renewed while the run works, fenced
``_report``              report: the counts, one function over the plan's entries
                         and their outcomes, for real and dry runs
``_journal``             the S6 journal of a run
=======================  ===========================================================

A read-only side (``Capabilities.read_only``) gets no writes at all: the plan holds
``Skipped`` records instead, counted in ``SyncReport.skipped`` (nothing journaled).
Fields a side does not keep (``Capabilities.content_fields``) are not compared, in
merges or in :meth:`SyncEngine.verify`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import attrs

from severa_ext.clock import Clock, SystemClock
from severa_ext.errors import BackendError, ValidationError
from severa_ext.sync._collector import collector_paused
from severa_ext.sync._personal import policy_for_run
from severa_ext.sync.engine._calls import Calls
from severa_ext.sync.engine._context import Context
from severa_ext.sync.engine._entries import Run, group
from severa_ext.sync.engine._execute import Executor
from severa_ext.sync.engine._journal import RunJournal
from severa_ext.sync.engine._lease import LeaseKeeper
from severa_ext.sync.engine._read import Reader
from severa_ext.sync.engine._report import tally_plan
from severa_ext.sync.engine._steps import Steps
from severa_ext.sync.engine._stops import ListingFailed, RunStopped
from severa_ext.sync.items import Side
from severa_ext.sync.journal import JournalEntry
from severa_ext.sync.links import Link
from severa_ext.sync.merge import KeptFields
from severa_ext.sync.planner import Plan, differing_fields
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.protocol import Backend
from severa_ext.sync.report import Divergence, SyncReport, VerifyReport
from severa_ext.sync.retry import RetryPolicy, Waiter
from severa_ext.sync.state import StateStore

__all__ = ["ProgressCallback", "SyncEngine"]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, str], None]
"""``progress(done, total, phase)``; phases: ``"recover"``, ``"list"``, ``"plan"``,
``"write"``, ``"done"``."""

_SIDES: tuple[Side, Side] = ("a", "b")


class SyncEngine:
    """Two-way sync of backend ``a`` (the Severa side) with backend ``b`` (a calendar).

    Args:
        a: side A, usually the host's activity adapter.
        b: side B, a calendar backend.
        store: where links, cursors, intents, leases and the journal live.
        pair_id: which pair of the store this engine syncs (one user's sync).
        policy: S8/S9 rules, window and conflict rule.
        clock: the time source (``SystemClock`` by default).
        user_id: the syncing user, recorded in the journal (S6).
        holder: this engine's lease holder id (unique per engine by default).
        sleep: how to wait between retries (``time.sleep``; tests pass a recorder).
        max_attempts: tries per call before an item is journaled and skipped.
        backoff: first retry delay in seconds, doubled per attempt.
        max_backoff: the cap on the doubled delay (a longer ``Retry-After`` is
            still honoured).
        max_retry_after: a server asking to wait longer than this is not waited
            for: the item is journaled and retried on the next run.
        max_wait: the total seconds one run may wait over all its retries (one
            budget per run: :class:`~severa_ext.sync.retry.RetryPolicy`).
        max_replans: how many times an entry is re-read and re-planned after stale
            etags before it is journaled and skipped.
        lease_ttl: how long the lease lasts if a run dies.
        mass_delete_ratio: the share of a side a run may delete without override.
        mass_delete_min: deletes below this count are never refused.
        step_writes: writes per durable step: the intents of a step's creates are
            stored in one ``apply`` before any of them is sent (batch by batch), its
            final links go with the next step's intents. Rounded down to whole
            backend batches; ``0`` (the default): one step per backend batch. Larger
            steps cost the store less (1000 halves the store's share of a large
            initial sync); a crash still loses at most the step in flight, and
            the next run resolves its pending intents by ``find(sync_key)``.
        pause_gc: pause Python's cyclic garbage collector while a run plans and
            writes (process-wide, restored after; nests across threads): a large
            run keeps many objects alive, and the collector rescanning them costs
            about a tenth of a 100,000-item initial sync. Off by default because the
            collector belongs to the host; the command line turns it on.

    Raises:
        ValidationError: a side is the same object as the other, or a bad setting.
    """

    def __init__(
        self,
        a: Backend,
        b: Backend,
        store: StateStore,
        *,
        pair_id: str,
        policy: SyncPolicy,
        clock: Clock | None = None,
        user_id: str | None = None,
        holder: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_retry_after: float = 300.0,
        max_wait: float = 900.0,
        max_replans: int = 3,
        lease_ttl: timedelta = timedelta(minutes=30),
        mass_delete_ratio: float = 0.5,
        mass_delete_min: int = 10,
        step_writes: int = 0,
        pause_gc: bool = False,
    ) -> None:
        _validate(a, b, max_replans, step_writes, mass_delete_ratio)
        self._sides: dict[Side, Backend] = {"a": a, "b": b}
        self._store = store
        self.pair_id = pair_id
        self.policy = policy
        self._clock: Clock = clock or SystemClock()
        self.user_id = user_id
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._sleep = sleep
        self._retry = RetryPolicy(max_attempts, backoff, max_backoff, max_retry_after, max_wait)
        self._max_replans = max_replans
        self._lease_ttl = lease_ttl
        self._mass_ratio = mass_delete_ratio
        self._mass_min = mass_delete_min
        self._step_writes = step_writes
        self._pause_gc = pause_gc
        caps = {side: backend.capabilities for side, backend in self._sides.items()}
        self._kept = KeptFields.of(caps["a"].content_fields, caps["b"].content_fields)
        self._read_only = frozenset(side for side in _SIDES if caps[side].read_only)

    def __repr__(self) -> str:
        a, b = self._sides["a"].name, self._sides["b"].name
        return f"SyncEngine({a!r} <-> {b!r}, pair_id={self.pair_id!r})"

    def _context(self) -> Context:
        """A fresh run's services: its own retry budget, lease and journal."""
        journal = RunJournal(self._store, self._clock, self.pair_id, self.user_id)
        lease = LeaseKeeper(self._store, self._clock, journal, self.holder, self._lease_ttl)
        calls = Calls(self._sides, Waiter(self._retry, self._sleep), lease.keep)
        steps = Steps(self._store, self.pair_id, calls, lease, journal)
        return Context(
            self._store,
            self.pair_id,
            self.policy,
            self._clock,
            self._kept,
            self._read_only,
            journal,
            calls,
            lease,
            steps,
        )

    def _for_run(self, ctx: Context, *, record: bool) -> Context:
        """``ctx`` with the policy this run plans with: S9's fallback to the default
        type when side A lacks the Personal type (journaled once when ``record``)."""
        policy = policy_for_run(
            self.policy,
            self._sides["a"],
            read=lambda call: ctx.calls.read("a", "list activity types", call),
            store=self._store,
            pair_id=self.pair_id,
            note=lambda message: ctx.journal.note("settings", message, "a", None, "warning"),
            record=record,
        )
        return ctx if policy is self.policy else attrs.evolve(ctx, policy=policy)

    # -- public -------------------------------------------------------------------

    def run(
        self,
        *,
        dry_run: bool = False,
        allow_mass_delete: bool = False,
        progress: ProgressCallback | None = None,
    ) -> SyncReport:
        """Sync both sides once.

        Args:
            dry_run: plan and report, write nothing (no backend write, no state).
            allow_mass_delete: the explicit override of the mass-deletion guard.
            progress: called as ``progress(done, total, phase)``.

        Returns:
            The report; ``report.ok`` is False when an item failed (see ``errors``).

        Raises:
            LeaseHeld: another run holds this pair.
            MassDeletionRefused: the run would delete too much of one side; nothing
                was deleted and the journal says why.
        """
        started = self._clock.now()
        t0 = time.perf_counter()
        ctx, run = self._context(), Run()
        if dry_run:
            self._dry_run(self._for_run(ctx, record=False), run, progress)
            return run.tally.report(
                self.pair_id, started, time.perf_counter() - t0, dry_run=True, advanced=False
            )
        ctx.lease.take(started)
        try:
            ctx = self._for_run(ctx, record=True)
            with collector_paused(self._pause_gc):
                advanced = self._sync(ctx, run, allow_mass_delete, progress)
        finally:
            # A process that really dies keeps the lease until it expires (lease_ttl),
            # or until a run on the same host sees that its process is gone.
            ctx.lease.release()
        duration = time.perf_counter() - t0
        report = run.tally.report(self.pair_id, started, duration, dry_run=False, advanced=advanced)
        logger.info("%s", report.summary())
        if progress is not None:
            progress(run.total, run.total, "done")
        return report

    def _sync(
        self, ctx: Context, run: Run, allow_mass_delete: bool, progress: ProgressCallback | None
    ) -> bool:
        """Read, plan, guard, execute, advance; return whether the cursors moved."""
        executor = Executor(ctx, max_replans=self._max_replans, step_writes=self._step_writes)
        try:
            prepared = Reader(ctx).prepare(run, commit=True, progress=progress)
            run.links = prepared.links
            run.tally.changes = prepared.changes
            cursors = prepared.cursors
            executor.guard(
                prepared.plan,
                total=prepared.entries,
                allow=allow_mass_delete,
                mass_ratio=self._mass_ratio,
                mass_min=self._mass_min,
            )
            entries, new = group(prepared.plan.records), prepared.new
            del prepared  # the entries hold the records now; each freed when done
            executor.execute(entries, new, run, progress)
            return ctx.steps.advance(cursors, hold=run.hold_cursors)
        except ListingFailed:
            return False
        except RunStopped as stopped:
            run.tally.errors.append(stopped.args[0])
            return False

    def _dry_run(self, ctx: Context, run: Run, progress: ProgressCallback | None) -> None:
        """Plan and count as if every write succeeded; store nothing."""
        try:
            prepared = Reader(ctx).prepare(run, commit=False, progress=progress)
        except ListingFailed:
            return
        run.tally.changes = prepared.changes
        tally_plan(run.tally, group(prepared.whole().records))

    def plan(self) -> Plan:
        """What a run would do now; nothing is written (no lease, no state, no writes)."""
        ctx = self._for_run(self._context(), record=False)
        return Reader(ctx).prepare(Run(), commit=False, progress=None).whole()

    def verify(self) -> VerifyReport:
        """Re-read every linked item on both sides and compare it with the stored base.

        Finds silent divergence (an item changed behind the sync's back, or lost).
        Each divergence is journaled as a warning. Only fields both sides keep
        (``Capabilities.content_fields``) are compared.

        Returns:
            The report of what differs.
        """
        ctx = self._context()
        checked = 0
        divergences: list[Divergence] = []
        errors: list[JournalEntry] = []
        for link in self._store.links(self.pair_id):
            if not isinstance(link, Link) or link.base is None:
                continue
            checked += 1
            for side in _SIDES:
                found = self._diverges(ctx, link, side, errors)
                if found is not None:
                    divergences.append(found)
        return VerifyReport(checked, tuple(divergences), tuple(errors))

    def _diverges(
        self, ctx: Context, link: Link, side: Side, errors: list[JournalEntry]
    ) -> Divergence | None:
        """How ``link``'s item on ``side`` differs from its base (journaled), if it does."""
        item_id = link.id_on(side)
        if item_id is None:
            return None
        assert link.base is not None
        try:
            item = ctx.calls.get(side, item_id)
        except BackendError as exc:
            errors.append(ctx.journal.failure("verify", exc, side=side, item_ref=item_id))
            return None
        if item is None:
            found = Divergence(link.sync_key, side, item_id, missing=True)
        else:
            fields = differing_fields(item, link.base, self._kept.both)
            if not fields:
                return None
            found = Divergence(link.sync_key, side, item_id, fields)
        what = "is missing" if found.missing else f"differs in {', '.join(found.fields)}"
        ctx.journal.note("verify", f"linked item {what}", side, item_id, "warning")
        return found


def _validate(
    a: Backend, b: Backend, max_replans: int, step_writes: int, mass_delete_ratio: float
) -> None:
    if a is b:
        raise ValidationError("SyncEngine: side A and side B must be different backends")
    if max_replans < 0:
        raise ValidationError("SyncEngine: max_replans must be >= 0")
    if step_writes < 0:
        raise ValidationError(f"SyncEngine: step_writes must be >= 0, got {step_writes}")
    if not 0 < mass_delete_ratio <= 1:
        raise ValidationError(
            f"SyncEngine: mass_delete_ratio must be in (0, 1], got {mass_delete_ratio}"
        )
