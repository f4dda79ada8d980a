"""The sync engine: reads both sides, plans (pure), executes durably, reports.

:class:`SyncEngine` syncs backend A (by convention the Severa side) with backend B
(a calendar) for one pair, through a :class:`~severa_ext.sync.state.StateStore`.
A run:

1. takes the pair's lease (two runs never interleave);
2. resolves intents a crashed run left behind: ``find(sync_key)`` finds the item it
   created (link it) or not (re-plan its source), so nothing is created twice;
3. reads each side's changes from its delta cursor, asks ``get`` about removed ids
   (gone: a delete; still there: it moved, which is an edit, never a delete), and
   journals once each entry the backend skipped as broken (its optional
   ``problems`` attribute, read right after ``changes``; S6);
4. plans with :func:`~severa_ext.sync.planner.plan_sync` (pure);
5. refuses mass deletions unless overridden;
6. executes: an intent per create is stored before each batch, each batch goes
   through ``apply_batch``, the resulting links are stored with the next batch's
   intents in one durable step; transient errors are retried with bounded backoff
   honouring ``Retry-After``, stale etags re-read and re-plan the entry, an item that
   keeps failing is journaled (S6) and skipped while the rest goes on;
7. advances the cursors only when every change of the run is durably handled;
8. releases the lease and returns a :class:`~severa_ext.sync.report.SyncReport`.

A read-only side (``Capabilities.read_only``) gets no writes at all: the plan holds
``Skipped`` records instead, counted in ``SyncReport.skipped`` (nothing journaled).
Fields a side does not keep (``Capabilities.content_fields``) are not compared, in
merges or in :meth:`SyncEngine.verify`.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import attrs

from severa_ext.clock import Clock, SystemClock
from severa_ext.errors import (
    BackendError,
    BadItem,
    LeaseHeld,
    MassDeletionRefused,
    NotFound,
    SeveraExtError,
    Throttled,
    ValidationError,
    VersionConflict,
)
from severa_ext.sync._collector import collector_paused
from severa_ext.sync.items import CalendarItem, Side, Window, copy_print, item_label
from severa_ext.sync.journal import JournalEntry
from severa_ext.sync.links import Intent, Link, Parked, Stored
from severa_ext.sync.planner import (
    Conflict,
    Create,
    Delete,
    KeptFields,
    LinkExisting,
    Park,
    Plan,
    PlanRecord,
    Relink,
    SetLink,
    SideChanges,
    Skipped,
    Unlink,
    Update,
    WriteRecord,
    differing_fields,
    plan_entry,
    plan_retry_create,
    plan_sync,
)
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.protocol import Backend, CreateOp, DeleteOp, UpdateOp, WriteOp
from severa_ext.sync.report import Divergence, SyncReport, VerifyReport
from severa_ext.sync.retry import TRANSIENT, RetryPolicy, Waiter
from severa_ext.sync.state import Lease, StateChange, StateStore

__all__ = ["ProgressCallback", "SyncEngine"]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, str], None]
"""``progress(done, total, phase)``; phases: ``"recover"``, ``"list"``, ``"plan"``,
``"write"``, ``"done"``."""

_WRITES = (Create, Update, Delete)  # a tuple: isinstance is faster than with a union
_SIDES: tuple[Side, Side] = ("a", "b")
_T = TypeVar("_T")


def _change(put: list[Stored], drop: list[str]) -> StateChange:
    # StateChange's converter=tuple is opaque to mypy: hand it Anys.
    links: Any = tuple(put)
    keys: Any = tuple(drop)
    return StateChange(put=links, delete=keys)


_STATE_CHUNK = 2000


def _other(side: Side) -> Side:
    return "b" if side == "a" else "a"


class _OrderedKeys:
    """The sync keys of one run's new entries: time-ordered, globally unique.

    32 hex digits like :func:`~severa_ext.sync.planner.derive_sync_key`: the run's
    start in milliseconds (12), 48 random bits drawn per run (12) and a counter (8).
    Keys of one run sort together and in creation order, so the state store's
    ``sync_key`` index grows at its end instead of being written all over (the
    planner reads no clock: the engine hands it this factory).
    """

    __slots__ = ("_count", "_prefix")

    def __init__(self, now: datetime) -> None:
        millis = int(now.timestamp() * 1000) % (1 << 48)
        self._prefix = f"{millis:012x}{secrets.randbits(48):012x}"
        self._count = itertools.count()

    def __call__(self, side: Side, item_id: str) -> str:
        return f"{self._prefix}{next(self._count) % (1 << 32):08x}"


@attrs.define
class _Entry:
    """The records of one sync key, and how far their execution got."""

    key: str
    writes: list[WriteRecord] = attrs.field(factory=list)
    final: SetLink | Unlink | None = None
    joined: LinkExisting | Relink | None = None  # links existing copies / relinks (S3)
    conflict: Conflict | None = None
    quarantine: Park | None = None
    skipped: tuple[Skipped, ...] = ()  # rare: no list per entry
    results: dict[Side, CalendarItem | None] = attrs.field(factory=dict)
    stopped: str | None = None  # "replan" or "failed"

    def complete(self) -> bool:
        return self.stopped is None and len(self.results) == len(self.writes)


def _group(records: Iterable[PlanRecord]) -> list[_Entry]:
    entries: list[_Entry] = []
    current: _Entry | None = None
    for record in records:
        if isinstance(record, Park):
            entries.append(_Entry(record.sync_key, quarantine=record))
            current = None
            continue
        if current is None or current.key != record.sync_key:
            current = _Entry(record.sync_key)
            entries.append(current)
        if isinstance(record, _WRITES):
            current.writes.append(record)
        elif isinstance(record, Skipped):
            current.skipped = (*current.skipped, record)
        elif isinstance(record, Conflict):
            current.conflict = record
        elif isinstance(record, LinkExisting | Relink):
            current.joined = record
        else:
            current.final = record
    return entries


def _live(entry: _Entry | None) -> bool:
    """True for a write slot still to do (not done, its entry not stopped)."""
    return entry is not None and entry.stopped is None


def _op(record: WriteRecord) -> WriteOp:
    if isinstance(record, Create):
        return CreateOp(record.item, record.sync_key)
    if isinstance(record, Update):
        return UpdateOp(record.item_id, record.item, record.if_match)
    return DeleteOp(record.item_id, record.if_match)


@attrs.define
class _Run:
    """Mutable bookkeeping of one run."""

    created: dict[Side, int] = attrs.field(factory=lambda: {"a": 0, "b": 0})
    updated: dict[Side, int] = attrs.field(factory=lambda: {"a": 0, "b": 0})
    deleted: dict[Side, int] = attrs.field(factory=lambda: {"a": 0, "b": 0})
    skipped: dict[Side, int] = attrs.field(factory=lambda: {"a": 0, "b": 0})
    linked: int = 0
    unlinked: int = 0
    quarantined: int = 0
    conflicts: list[Conflict] = attrs.field(factory=list)
    errors: list[JournalEntry] = attrs.field(factory=list)
    problems: list[JournalEntry] = attrs.field(factory=list)
    hold_cursors: bool = False
    changes: int = 0
    links: dict[str, Stored] = attrs.field(factory=dict)
    done: int = 0
    total: int = 0


@attrs.frozen
class _Prepared:
    plan: Plan
    cursors: dict[Side, str | None]
    links: dict[str, Stored]
    changes: int


def _dead_here(holder: str) -> bool:
    """True when ``holder`` (``host:pid:...``, the default holder id) is a process of
    this host that no longer runs: its lease cannot be in use."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists (another user's process, say)
    return False


class _ListingFailed(Exception):
    """Internal: a side could not be read; the run stops before planning."""


class _StepFailed(Exception):
    """Internal: a backend could not make a step's writes durable (``flush``); the
    step is not committed and the run stops (the next run resolves its intents)."""


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
        self._sides: dict[Side, Backend] = {"a": a, "b": b}
        self._store = store
        self.pair_id = pair_id
        self.policy = policy
        self._clock: Clock = clock or SystemClock()
        self.user_id = user_id
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._sleep = sleep
        self._retry = RetryPolicy(max_attempts, backoff, max_backoff, max_retry_after, max_wait)
        self._waiter = Waiter(self._retry, sleep)
        self._unflushed: set[Side] = set()
        self._lease: Lease | None = None
        self._renewed = datetime.min.replace(tzinfo=UTC)
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
        run = _Run()
        self._waiter = Waiter(self._retry, self._sleep)
        if dry_run:
            return self._dry_run(run, started, t0, progress)
        lease = self._lease = self._take_lease(started)
        self._renewed = started
        advanced = False
        try:
            with collector_paused(self._pause_gc):
                try:
                    prepared = self._prepare(run, commit_recovery=True, progress=progress)
                    run.links = prepared.links
                    run.changes = prepared.changes
                    cursors = prepared.cursors
                    self._guard(prepared.plan, allow_mass_delete)
                    entries = _group(prepared.plan.records)
                    del prepared  # the entries hold the records now; each freed when done
                    self._execute(entries, run, progress)
                    advanced = self._advance(cursors, run)
                except _ListingFailed:
                    pass
                except _StepFailed as failed:
                    run.errors.append(failed.args[0])
        finally:
            # A process that really dies keeps the lease until it expires (lease_ttl),
            # or until a run on the same host sees that its process is gone.
            self._store.release(lease)  # by holder: the renewed lease is the same
            self._lease = None
        report = self._report(run, started, t0, dry_run=False, advanced=advanced)
        logger.info("%s", report.summary())
        if progress is not None:
            progress(run.total, run.total, "done")
        return report

    def _take_lease(self, now: datetime) -> Lease:
        """The pair's lease; a lease whose holder is known dead is taken over at once.

        Raises:
            LeaseHeld: another live run holds the pair (``expires`` says until when).
        """
        try:
            return self._store.acquire(self.pair_id, self.holder, now=now, ttl=self._lease_ttl)
        except LeaseHeld as held:
            if held.holder is None or not _dead_here(held.holder):
                self._note("lease", f"run refused: {held}", None, None, "warning")
                raise
            lease = self._store.acquire(
                self.pair_id, self.holder, now=now, ttl=self._lease_ttl, replacing=held.holder
            )
            message = f"took over the lease of {held.holder}: its process is gone"
            self._note("lease", message, None, None, "warning")
            logger.warning("pair %s: %s", self.pair_id, message)
            return lease

    def _keep_lease(self) -> None:
        """Renew the lease once a third of its time has passed; stop if it was lost.

        Raises:
            _StepFailed: another run holds the pair now (nothing more is written).
        """
        lease = self._lease
        now = self._clock.now()
        if lease is None or now - self._renewed < self._lease_ttl / 3:
            return
        try:
            self._lease = self._store.renew(lease, now=now, ttl=self._lease_ttl)
        except LeaseHeld as lost:
            raise _StepFailed(self._lost(lost)) from lost
        self._renewed = now

    def _lost(self, lost: LeaseHeld) -> JournalEntry:
        message = f"lease lost ({lost}); the run stops before writing more"
        return self._journal_text("lease", message, self.pair_id)

    def plan(self) -> Plan:
        """What a run would do now; nothing is written (no lease, no state, no writes)."""
        self._waiter = Waiter(self._retry, self._sleep)
        return self._prepare(_Run(), commit_recovery=False, progress=None).plan

    def verify(self) -> VerifyReport:
        """Re-read every linked item on both sides and compare it with the stored base.

        Finds silent divergence (an item changed behind the sync's back, or lost).
        Each divergence is journaled as a warning. Only fields both sides keep
        (``Capabilities.content_fields``) are compared.

        Returns:
            The report of what differs.
        """
        self._waiter = Waiter(self._retry, self._sleep)
        checked = 0
        divergences: list[Divergence] = []
        errors: list[JournalEntry] = []
        for link in self._store.links(self.pair_id):
            if not isinstance(link, Link) or link.base is None:
                continue
            checked += 1
            for side in _SIDES:
                item_id = link.id_on(side)
                if item_id is None:
                    continue
                try:
                    item = self._read(side, "get", self._sides[side].get, item_id)
                except BackendError as exc:
                    errors.append(self._journal("verify", exc, side=side, item_ref=item_id))
                    continue
                if item is None:
                    found = Divergence(link.sync_key, side, item_id, missing=True)
                else:
                    fields = differing_fields(item, link.base, self._kept.both)
                    if not fields:
                        continue
                    found = Divergence(link.sync_key, side, item_id, fields)
                divergences.append(found)
                what = "is missing" if found.missing else f"differs in {', '.join(found.fields)}"
                self._note("verify", f"linked item {what}", side, item_id, "warning")
        return VerifyReport(checked, tuple(divergences), tuple(errors))

    # -- preparing ------------------------------------------------------------------

    def _prepare(
        self, run: _Run, *, commit_recovery: bool, progress: ProgressCallback | None
    ) -> _Prepared:
        extras: dict[Side, list[CalendarItem]] = {"a": [], "b": []}
        retries: list[tuple[Intent, CalendarItem]] = []
        recovered = self._recover(run, extras, retries, commit=commit_recovery)
        if progress is not None:
            progress(0, 0, "list")
        now = self._clock.now()
        window = self.policy.window(now)
        changed: dict[Side, dict[str, CalendarItem]] = {}
        deleted: dict[Side, set[str]] = {}
        cursors: dict[Side, str | None] = {}
        for side in _SIDES:
            items, gone, cursor = self._list(side, window, run, record=commit_recovery)
            by_id = {item.id: item for item in items if item.id is not None}
            for extra in extras[side]:
                if extra.id is not None:
                    by_id.setdefault(extra.id, extra)
            self._drop_echoes(side, by_id)
            changed[side] = by_id
            deleted[side] = gone
            cursors[side] = cursor
        if progress is not None:
            progress(0, 0, "plan")
        links: dict[str, Stored] = {link.sync_key: link for link in recovered}
        keys: set[str] = set()
        known: dict[Side, set[str | None]] = {}
        for side in _SIDES:
            ids = list(changed[side]) + list(deleted[side])
            found = self._store.links_by_ids(self.pair_id, side, ids)
            for link in found.values():
                links.setdefault(link.sync_key, link)
            known[side] = {*found, *(link.id_on(side) for link in recovered)}
            keys.update(i.sync_key for i in changed[side].values() if i.sync_key is not None)
        keys.difference_update(links)
        if keys:
            links.update(self._store.links_by_keys(self.pair_id, keys))
        shared = {side: self._shared_keys(side, changed[side], links, run) for side in _SIDES}
        copies = self._known_copies(changed, known, links, window)
        plan = plan_sync(
            links.values(),
            SideChanges(tuple(changed["a"].values()), frozenset(deleted["a"]), shared["a"]),
            SideChanges(tuple(changed["b"].values()), frozenset(deleted["b"]), shared["b"]),
            self.policy,
            window,
            kept=self._kept,
            read_only=self._read_only,
            new_key=_OrderedKeys(now),
            known_copies=copies,
        )
        if retries:
            again: list[PlanRecord] = []
            for intent, source in retries:
                again.extend(
                    plan_retry_create(
                        intent, source, self.policy, kept=self._kept, read_only=self._read_only
                    )
                )
            plan = Plan((*again, *plan.records))
        count = sum(len(changed[s]) + len(deleted[s]) for s in ("a", "b")) + len(retries)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "pair %s: %d changes, plan of %d records (%d writes)",
                self.pair_id,
                count,
                len(plan),
                len(plan.writes),
            )
            for record in plan.records:  # kinds, sides and keys: never bodies
                logger.debug(
                    "plan: %s side=%s key=%s",
                    type(record).__name__,
                    getattr(record, "side", "-"),
                    record.sync_key,
                )
        return _Prepared(plan, cursors, links, count)

    def _drop_echoes(self, side: Side, changed: dict[str, CalendarItem]) -> None:
        """Leave out listed items whose etag is the one their link stores: unchanged
        since this engine last wrote or read them (above all, the echo of its own
        writes in the next delta). The planner would find each unchanged; asking the
        store for ids and etags only spares loading their links."""
        if not changed:
            return
        for item_id, etag in self._store.etags_by_ids(self.pair_id, side, changed).items():
            if etag is not None and changed[item_id].etag == etag:
                del changed[item_id]

    def _shared_keys(
        self, side: Side, changed: dict[str, CalendarItem], links: dict[str, Stored], run: _Run
    ) -> frozenset[str]:
        """Sync keys of unlinked changed items that another item of the side carries.

        Only items that carry a sync key no link owns are asked about (copies made
        by another tool, S3), so this costs nothing on the usual path. An item that
        cannot be checked is left for the next run.
        """
        linked = {link.id_on(side) for link in links.values()}
        shared: set[str] = set()
        for item_id, item in list(changed.items()):
            key = item.sync_key
            if key is None or key in links or item_id in linked:
                continue
            try:
                found = self._read(side, "find", self._sides[side].find, key)
            except BackendError as exc:
                run.errors.append(self._journal("find", exc, side=side, item_ref=item_id))
                run.hold_cursors = True
                del changed[item_id]
                continue
            if any(other.id != item_id for other in found):
                shared.add(key)
        return frozenset(shared)

    def _known_copies(
        self,
        changed: dict[Side, dict[str, CalendarItem]],
        known: dict[Side, set[str | None]],
        links: dict[str, Stored],
        window: Window,
    ) -> dict[str, list[Link]]:
        """Stored links whose base has the print of a new item (S3, later copies).

        Asked only when the pair has links (never on a first sync) and only about
        changed items no link knows (``known``: the ids on each side that links
        own), in the window (on side A only those the policy
        sends, the ones the planner matches): the cost is one bulk lookup,
        proportional to the new items of the run.
        """
        if not (changed["a"] or changed["b"]):
            return {}
        if not links and self._store.count(self.pair_id) == 0:
            return {}
        prints: set[str] = set()
        for side in _SIDES:
            linked = known[side]
            for item_id, item in changed[side].items():
                if item_id in linked or (item.sync_key is not None and item.sync_key in links):
                    continue
                if not window.contains(item) or (side == "a" and not self.policy.sends(item)):
                    continue
                prints.add(copy_print(item))
        if not prints:
            return {}
        return self._store.links_by_prints(self.pair_id, prints)

    def _recover(
        self,
        run: _Run,
        extras: dict[Side, list[CalendarItem]],
        retries: list[tuple[Intent, CalendarItem]],
        *,
        commit: bool,
    ) -> list[Stored]:
        """Resolve intents left by a crashed or refused create; return the links it
        fixed. An intent whose item is not there and whose source still is goes to
        ``retries``: its create is planned again under the same key and link
        (:func:`~severa_ext.sync.planner.plan_retry_create`), never as a new item."""
        put: list[Stored] = []
        drop: list[str] = []
        for link in self._store.intents(self.pair_id):
            side = link.side
            other = _other(side)
            key = link.sync_key
            try:
                found = self._read(side, "find", self._sides[side].find, key)
            except BackendError as exc:
                run.errors.append(self._journal("recover", exc, side=side, item_ref=key))
                run.hold_cursors = True
                continue
            # An item another link owns (a copy quarantined under this key, S3) is
            # not the one this intent created: taking it would link stale content
            # and overwrite the edit the create carried (invariant 4).
            owners = self._store.links_by_ids(
                self.pair_id, side, [f.id for f in found if f.id is not None]
            )
            found = tuple(
                f
                for f in found
                if f.id is None or (owner := owners.get(f.id)) is None or owner.sync_key == key
            )
            if found:
                first, *duplicates = found
                put.append(link.settled(first.id, None))
                extras[side].append(first)
                run.linked += 1
                logger.info("recovered create of %s on side %s as %s", key, side, first.id)
                for dup in duplicates:
                    assert dup.id is not None
                    put.append(Parked(side, dup.id, dup.etag, dup.without_identity()))
                    run.quarantined += 1
                    if commit:
                        self._note(
                            "quarantine",
                            f"duplicate (S3): sync key {key} also on {dup.id}",
                            side,
                            dup.id,
                            "warning",
                        )
                continue
            source_id = link.id_on(other)
            source = None
            if source_id is not None:
                try:
                    source = self._read(other, "get", self._sides[other].get, source_id)
                except BackendError as exc:
                    run.errors.append(self._journal("recover", exc, side=other, item_ref=key))
                    run.hold_cursors = True
                    continue
            if source is not None:
                # The create never happened: plan it again, keeping the intent (and
                # so the key the source may carry) until it is done.
                retries.append((link, source))
                continue
            drop.append(key)
        if commit and (put or drop):
            self._commit(_change(put, drop))
        return put

    def _list(
        self, side: Side, window: Window, run: _Run, *, record: bool = True
    ) -> tuple[list[CalendarItem], set[str], str | None]:
        backend = self._sides[side]
        cursor = self._store.cursor(self.pair_id, side)
        try:
            changes = self._read(side, "list", backend.changes, cursor, window)
        except BackendError as exc:
            run.errors.append(self._journal("list", exc, side=side))
            raise _ListingFailed from exc
        for problem in getattr(backend, "problems", None) or ():
            run.problems.append(self._problem(side, problem, record=record))
        items = list(changes.items)
        removed = list(changes.removed)
        if changes.full:
            listed = {item.id for item in items}
            for link in self._store.links(self.pair_id):
                item_id = link.id_on(side)
                if item_id is not None and item_id not in listed and not isinstance(link, Intent):
                    removed.append(item_id)
        gone: set[str] = set()
        linked = self._store.links_by_ids(self.pair_id, side, removed)
        for item_id in removed:
            if item_id not in linked:
                continue
            try:
                current = self._read(side, "get", self._sides[side].get, item_id)
            except BackendError as exc:
                run.errors.append(self._journal("get", exc, side=side, item_ref=item_id))
                raise _ListingFailed from exc
            if current is None:
                gone.add(item_id)
            else:
                items.append(current)  # moved out of the window: an edit, not a delete
        return items, gone, changes.cursor

    # -- guard ------------------------------------------------------------------------

    def _guard(self, plan: Plan, allow: bool) -> None:
        total = self._store.count(self.pair_id)
        for side in _SIDES:
            deletes = plan.count(Delete, side)
            if deletes < self._mass_min or deletes <= self._mass_ratio * total:
                continue
            refused = MassDeletionRefused(side, deletes, total, self._mass_ratio)
            if allow:
                self._note("guard", f"override: {refused}", side, None, "warning")
                continue
            self._note("guard", str(refused), side, None, "error")
            raise refused

    # -- executing ----------------------------------------------------------------------

    def _execute(self, entries: list[_Entry], run: _Run, progress: ProgressCallback | None) -> None:
        """Execute the grouped plan (``entries`` is consumed: emptied)."""
        run.total = sum(len(entry.writes) for entry in entries)
        put: list[Stored] = []
        drop: list[str] = []
        writing: list[_Entry] = []
        for entry in entries:
            if entry.writes:
                writing.append(entry)
            else:
                self._finish(entry, run, put, drop)
                if len(put) + len(drop) >= _STATE_CHUNK:
                    self._apply(put, drop)
        entries.clear()
        self._apply(put, drop)
        for attempt in range(self._max_replans + 1):
            if not writing:
                break
            stale = self._execute_batched(writing, run, progress)
            if not stale:
                break
            if attempt == self._max_replans:
                for entry in stale:
                    message = f"entry {entry.key} kept meeting concurrent edits; skipped"
                    run.errors.append(self._journal_text("update", message, entry.key))
                    run.hold_cursors = True
                break
            writing = self._replan(stale, run, put, drop)
            self._apply(put, drop)

    def _replan(
        self, stale: list[_Entry], run: _Run, put: list[Stored], drop: list[str]
    ) -> list[_Entry]:
        """Re-read the entries that met stale etags and plan them again."""
        again: list[_Entry] = []
        for entry in stale:
            stored = run.links.get(entry.key)
            link = stored if isinstance(stored, Link) else None
            joined = entry.joined
            if isinstance(joined, LinkExisting):  # copies linked this run: as first seen
                link = Link(entry.key, a_id=joined.a_id, b_id=joined.b_id)
            elif isinstance(joined, Relink) and link is not None:  # as an edit of the entry
                link = link.with_item(joined.side, joined.new_id, None)
            if link is None or link.a_id is None or link.b_id is None:
                message = f"entry {entry.key} met a concurrent change; retried next run"
                run.errors.append(self._journal_text("update", message, entry.key))
                run.hold_cursors = True
                continue
            fresh: dict[Side, CalendarItem | None] = {}
            try:
                for side in _SIDES:
                    item_id = link.id_on(side)
                    fresh[side] = (
                        None
                        if item_id is None
                        else self._read(side, "get", self._sides[side].get, item_id)
                    )
            except BackendError as exc:
                run.errors.append(self._journal("get", exc, item_ref=entry.key))
                run.hold_cursors = True
                continue
            records = plan_entry(
                link,
                fresh["a"],
                fresh["b"],
                self.policy,
                kept=self._kept,
                read_only=self._read_only,
            )
            logger.debug("re-planned %s after a stale etag: %d records", entry.key, len(records))
            for new in _group(records):
                if new.writes:
                    again.append(new)
                    run.total += len(new.writes)
                else:
                    self._finish(new, run, put, drop)
        return again

    def _execute_batched(
        self, entries: list[_Entry], run: _Run, progress: ProgressCallback | None
    ) -> list[_Entry]:
        """Execute the writes of ``entries`` (the list is consumed: emptied, so that
        each entry is freed once its writes are done and its final link is stored).

        Returns:
            The entries that met a stale etag, to re-plan.
        """
        put: list[Stored] = []
        drop: list[str] = []
        stale: list[_Entry] = []
        # Parallel lists per side (no (entry, record) pair per write: fewer objects
        # to allocate); a slot is cleared once done, and with ``entries`` emptied the
        # run holds only the writes still to do (less for the collector to scan).
        owners: dict[Side, list[_Entry | None]] = {"a": [], "b": []}
        records: dict[Side, list[WriteRecord | None]] = {"a": [], "b": []}
        for entry in entries:
            for record in entry.writes:
                owners[record.side].append(entry)
                records[record.side].append(record)
        entries.clear()
        for side in _SIDES:
            size = self._sides[side].capabilities.batch_size
            # One durable step covers several backend batches: the intents of its
            # creates are stored (with the previous step's final links) before any of
            # them is sent; a crash leaves those intents pending and the next run
            # resolves each by ``find(sync_key)``.
            step = max(size, self._step_writes // size * size)
            side_owners = owners[side]
            side_records = records[side]
            for first in range(0, len(side_records), step):
                last = min(first + step, len(side_records))
                intents = [
                    create.intent
                    for i in range(first, last)
                    if isinstance(create := side_records[i], Create)
                    and (owner := side_owners[i]) is not None
                    and owner.stopped is None
                ]
                self._apply(put, drop, intents)
                del intents
                for start in range(first, last, size):
                    end = min(start + size, last)
                    todo = [i for i in range(start, end) if _live(side_owners[i])]
                    if not todo:
                        continue
                    batch = [w for i in todo if (w := side_records[i]) is not None]
                    self._keep_lease()
                    outcomes = self._write(side, batch)
                    for i, write, (item, error) in zip(todo, batch, outcomes, strict=True):
                        done = side_owners[i]
                        assert done is not None
                        side_owners[i] = side_records[i] = None
                        self._outcome(
                            done, write, item=item, error=error, run=run, put=put, drop=drop
                        )
                        if done.stopped == "replan":
                            stale.append(done)
                        elif done.complete():
                            self._finish(done, run, put, drop)
                    run.done += len(todo)
                    if progress is not None:
                        progress(run.done, run.total, "write")
        self._apply(put, drop)
        return stale

    def _outcome(
        self,
        entry: _Entry,
        record: WriteRecord,
        *,
        item: CalendarItem | None,
        error: SeveraExtError | None,
        run: _Run,
        put: list[Stored],
        drop: list[str],
    ) -> None:
        side = record.side
        if error is None or (isinstance(error, NotFound) and isinstance(record, Delete)):
            entry.results[side] = item
            if isinstance(record, Create):
                run.created[side] += 1
            elif isinstance(record, Update):
                run.updated[side] += 1
            else:
                run.deleted[side] += 1
            if error is None and logger.isEnabledFor(logging.INFO):
                label = item_label(item) if item is not None else record.item_id  # type: ignore[union-attr]
                logger.info(
                    "%s on side %s (%s): %s",
                    type(record).__name__.lower(),
                    side,
                    self._sides[side].name,
                    label,
                )
            return
        if isinstance(error, VersionConflict | NotFound) and not isinstance(record, Create):
            entry.stopped = "replan"
            logger.info("stale etag on side %s for %s; re-planning", side, record.sync_key)
            return
        entry.stopped = "failed"
        ref = record.item_id if not isinstance(record, Create) else record.source_id
        operation = type(record).__name__.lower()
        run.errors.append(self._journal(operation, error, side=side, item_ref=ref))
        transient = isinstance(error, (*TRANSIENT, VersionConflict))
        if transient:
            run.hold_cursors = True  # retried next run; a create's intent stays pending
        elif isinstance(record, Create):
            prior = run.links.get(entry.key)
            if isinstance(prior, Link):
                put.append(prior)
            else:
                drop.append(entry.key)

    def _finish(self, entry: _Entry, run: _Run, put: list[Stored], drop: list[str]) -> None:
        for skipped in entry.skipped:
            run.skipped[skipped.side] += 1
        if entry.quarantine is not None:
            q = entry.quarantine
            put.append(q.parked())
            run.quarantined += 1
            self._note("quarantine", q.reason, q.side, q.item_id, "warning")
            return
        if entry.conflict is not None:
            c = entry.conflict
            run.conflicts.append(c)
            self._note(
                "conflict",
                f"both sides changed {', '.join(c.fields)}; side {c.winner} won",
                None,
                c.sync_key,
                "info",
            )
        if isinstance(entry.final, Unlink):
            drop.append(entry.key)
            run.unlinked += 1
        elif isinstance(entry.final, SetLink):
            link = entry.final.link
            for side, item in entry.results.items():
                if item is not None:
                    link = link.with_item(side, item.id, item.etag)
            if entry.joined is not None:
                run.linked += 1
            if isinstance(entry.joined, Relink):
                moved = entry.joined
                self._note(
                    "link",
                    f"replacement (S3): {moved.new_id} replaces deleted "
                    f"{moved.old_id} on side {moved.side}; relinked, nothing deleted",
                    moved.side,
                    moved.new_id,
                    "info",
                )
            put.append(link)

    def _apply(self, put: list[Stored], drop: list[str], intents: Sequence[Intent] = ()) -> None:
        if not put and not drop and not intents:
            return
        self._commit(_change([*put, *intents], list(drop)))
        put.clear()
        drop.clear()

    def _commit(self, change: StateChange) -> None:
        """End a durable step: flush the backends written since the last step
        (``Backend.flush``), then commit ``change`` to the store.

        Raises:
            _StepFailed: a flush failed; nothing of the step is committed.
        """
        self._keep_lease()
        for side in _SIDES:
            if side not in self._unflushed:
                continue
            try:
                self._read(side, "flush", self._sides[side].flush)
            except BackendError as exc:
                raise _StepFailed(self._journal("flush", exc, side=side)) from exc
            self._unflushed.discard(side)
        if self._lease is not None:  # fenced: only while this run holds the pair
            change = attrs.evolve(change, lease=self._lease)
        try:
            self._store.apply(self.pair_id, change)
        except LeaseHeld as lost:
            raise _StepFailed(self._lost(lost)) from lost

    def _advance(self, cursors: dict[Side, str | None], run: _Run) -> bool:
        if run.hold_cursors:
            logger.info("pair %s: cursors held back (items will be retried)", self.pair_id)
            return False
        moved = {
            side: cursor
            for side, cursor in cursors.items()
            if cursor != self._store.cursor(self.pair_id, side)
        }
        if moved or self._unflushed:
            self._commit(StateChange(cursors=moved))
        return True

    # -- calls with retries -------------------------------------------------------------

    def _read(self, side: Side, operation: str, call: Callable[..., _T], *args: Any) -> _T:
        return self._waiter.call(f"{operation} on side {side}", lambda: call(*args))

    def _write(
        self, side: Side, records: list[WriteRecord]
    ) -> list[tuple[CalendarItem | None, SeveraExtError | None]]:
        backend = self._sides[side]
        ops = [_op(r) for r in records]
        outcome: list[tuple[CalendarItem | None, SeveraExtError | None]] = [
            (None, None) for _ in ops
        ]
        todo = list(range(len(ops)))
        self._unflushed.add(side)
        for attempt in itertools.count():
            last: SeveraExtError | None = None
            try:
                results = backend.apply_batch([ops[i] for i in todo])
            except (*TRANSIENT, VersionConflict) as exc:
                for i in todo:
                    outcome[i] = (None, exc)
                last = exc
                retry = todo
            except BackendError as exc:
                for i in todo:
                    outcome[i] = (None, exc)
                return outcome
            else:
                retry = []
                for i, result in zip(todo, results, strict=True):
                    error = result.error
                    outcome[i] = (result.item, error)
                    if isinstance(error, TRANSIENT) or (
                        isinstance(error, VersionConflict) and isinstance(ops[i], CreateOp)
                    ):
                        retry.append(i)
                        if last is None or isinstance(error, Throttled):
                            last = error
            todo = retry
            if not todo:
                break
            delay = self._waiter.delay(attempt, last)
            if delay is None:
                break
            logger.info(
                "%d writes on side %s failed transiently; retry in %.1f s", len(todo), side, delay
            )
            self._waiter.wait(delay)
        return outcome

    # -- journal ----------------------------------------------------------------------------

    def _journal(
        self,
        operation: str,
        error: SeveraExtError,
        *,
        side: Side | None = None,
        item_ref: str | None = None,
    ) -> JournalEntry:
        entry = JournalEntry(
            time=self._clock.now(),
            pair_id=self.pair_id,
            operation=operation,
            message=str(error),
            user_id=self.user_id,
            side=side,
            item_ref=item_ref,
            error_type=type(error).__name__,
        )
        self._store.record(entry)
        logger.warning(
            "pair %s: %s on side %s failed for %s: %s",
            self.pair_id,
            operation,
            side,
            item_ref,
            entry.message,
        )
        return entry

    def _problem(self, side: Side, problem: BadItem, *, record: bool) -> JournalEntry:
        """The journal entry of an item the backend skipped as broken (S6); stored
        only when ``record`` (a dry run stores nothing)."""
        entry = JournalEntry(
            time=self._clock.now(),
            pair_id=self.pair_id,
            operation="list",
            message=f"skipped: {problem.reason}",
            user_id=self.user_id,
            side=side,
            item_ref=problem.item_ref,
            error_type=type(problem).__name__,
        )
        if record:
            self._store.record(entry)
            logger.warning(
                "pair %s: side %s skipped broken item %s: %s",
                self.pair_id,
                side,
                problem.item_ref,
                entry.message,
            )
        return entry

    def _journal_text(self, operation: str, message: str, item_ref: str) -> JournalEntry:
        entry = JournalEntry(
            time=self._clock.now(),
            pair_id=self.pair_id,
            operation=operation,
            message=message,
            user_id=self.user_id,
            item_ref=item_ref,
        )
        self._store.record(entry)
        logger.warning("pair %s: %s", self.pair_id, entry.message)
        return entry

    def _note(
        self, operation: str, message: str, side: Side | None, item_ref: str | None, level: str
    ) -> None:
        self._store.record(
            JournalEntry(
                time=self._clock.now(),
                pair_id=self.pair_id,
                operation=operation,
                message=message,
                user_id=self.user_id,
                side=side,
                item_ref=item_ref,
                level=level,
            )
        )

    # -- reports ---------------------------------------------------------------------------

    def _dry_run(
        self, run: _Run, started: datetime, t0: float, progress: ProgressCallback | None
    ) -> SyncReport:
        try:
            prepared = self._prepare(run, commit_recovery=False, progress=progress)
        except _ListingFailed:
            return self._report(run, started, t0, dry_run=True, advanced=False)
        run.changes = prepared.changes
        # Count the way the executor does (_outcome, _finish), as if every write worked.
        for entry in _group(prepared.plan.records):
            for write in entry.writes:
                if isinstance(write, Create):
                    run.created[write.side] += 1
                elif isinstance(write, Update):
                    run.updated[write.side] += 1
                else:
                    run.deleted[write.side] += 1
            for skipped in entry.skipped:
                run.skipped[skipped.side] += 1
            if entry.quarantine is not None:
                run.quarantined += 1
            if entry.conflict is not None:
                run.conflicts.append(entry.conflict)
            if isinstance(entry.final, Unlink):
                run.unlinked += 1
            elif entry.joined is not None:
                run.linked += 1
        return self._report(run, started, t0, dry_run=True, advanced=False)

    def _report(
        self, run: _Run, started: datetime, t0: float, *, dry_run: bool, advanced: bool
    ) -> SyncReport:
        return SyncReport(
            pair_id=self.pair_id,
            started=started,
            duration=time.perf_counter() - t0,
            dry_run=dry_run,
            created=dict(run.created),
            updated=dict(run.updated),
            deleted=dict(run.deleted),
            skipped=dict(run.skipped),
            linked=run.linked,
            unlinked=run.unlinked,
            quarantined=run.quarantined,
            conflicts=tuple(run.conflicts),
            errors=tuple(run.errors),
            problems=tuple(run.problems),
            changes=run.changes,
            cursors_advanced=advanced,
        )
