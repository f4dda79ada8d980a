"""Read and recover: what a run knows before it plans.

:meth:`Reader.prepare` resolves the intents a crashed run left (:meth:`Reader.recover`),
reads each side's changes since its cursor (:meth:`Reader.observe`: removed ids are
asked about, so a delete is definite and a move out of the window is an edit), loads
the links the changes mention and plans with the pure
:func:`~severa_ext.sync.planner.plan_sync`.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import Callable
from datetime import datetime

import attrs

from severa_ext.errors import BackendError
from severa_ext.sync.engine._context import Context
from severa_ext.sync.engine._entries import Run, log_records
from severa_ext.sync.engine._steps import state_change
from severa_ext.sync.engine._stops import ListingFailed
from severa_ext.sync.items import CalendarItem, Side, Window, copy_print
from severa_ext.sync.links import Intent, Link, Stored
from severa_ext.sync.match import match
from severa_ext.sync.planner import (
    NewItems,
    Plan,
    PlanRecord,
    SideChanges,
    plan_matched,
    plan_retry_create,
)

__all__ = ["OrderedKeys", "Prepared", "Reader"]

logger = logging.getLogger(__name__)

_SIDES: tuple[Side, Side] = ("a", "b")

ProgressCallback = Callable[[int, int, str], None]


def _other(side: Side) -> Side:
    return "b" if side == "a" else "a"


class OrderedKeys:
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


@attrs.frozen
class Prepared:
    """A run's plan and what it was made from.

    Attributes:
        plan: the plan of every entry but the new ones.
        new: the new entries, planned as they are written (:meth:`whole`: all now).
    """

    plan: Plan
    new: NewItems
    cursors: dict[Side, str | None]
    links: dict[str, Stored]
    changes: int
    entries: int  # the pair's entries in the store when the run read

    def whole(self) -> Plan:
        """The whole plan, the new entries' records included (as ``plan_sync``)."""
        return self.new.after(self.plan)


@attrs.define
class _Observed:
    """Both sides' changes, by side."""

    changed: dict[Side, dict[str, CalendarItem]] = attrs.field(factory=dict)
    deleted: dict[Side, set[str]] = attrs.field(factory=dict)
    cursors: dict[Side, str | None] = attrs.field(factory=dict)
    first: bool = False  # the store held no entry of the pair: nothing to look up

    def count(self) -> int:
        return sum(len(self.changed[s]) + len(self.deleted[s]) for s in _SIDES)


@attrs.define
class _Recovery:
    """What resolving the pending intents gave."""

    fixed: list[Stored] = attrs.field(factory=list)  # the links settled
    extras: dict[Side, list[CalendarItem]] = attrs.field(factory=lambda: {"a": [], "b": []})
    retries: list[tuple[Intent, CalendarItem]] = attrs.field(factory=list)
    drop: list[str] = attrs.field(factory=list)


def _unechoed(items: list[CalendarItem], stored: dict[str, str | None]) -> dict[str, CalendarItem]:
    """``items`` by id, less those whose etag is the one ``stored`` for their id:
    unchanged since this engine last wrote or read them (above all, the echo of its
    own writes in the next listing). The planner would find each unchanged;
    comparing ids and etags spares loading their links."""
    return {
        item_id: item
        for item in items
        if (item_id := item.id) is not None
        and ((etag := stored.get(item_id)) is None or etag != item.etag)
    }


class Reader:
    """Reads, recovers and plans for one run."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def prepare(self, run: Run, *, commit: bool, progress: ProgressCallback | None) -> Prepared:
        """Recover, observe and plan (``commit``: store what recovery resolved and
        journal the broken items; a dry run stores nothing).

        Raises:
            ListingFailed: a side could not be read (journaled).
        """
        recovery = self.recover(run, commit=commit)
        if progress is not None:
            progress(0, 0, "list")
        now = self._ctx.clock.now()
        window = self._ctx.policy.window(now)
        entries = self._ctx.store.count(self._ctx.pair_id)
        seen = self.observe(run, window, recovery.extras, record=commit, first=entries == 0)
        if progress is not None:
            progress(0, 0, "plan")
        links, known = self._links_of(seen, recovery.fixed)
        plan, new = self._plan(run, seen, links, known, window=window, now=now)
        if recovery.retries:
            plan = Plan((*self._retry_creates(recovery.retries), *plan.records))
        count = seen.count() + len(recovery.retries)
        if logger.isEnabledFor(logging.DEBUG):
            self._log_plan(plan, new, count)
        return Prepared(plan, new, seen.cursors, links, count, entries)

    # -- recover ----------------------------------------------------------------------

    def recover(self, run: Run, *, commit: bool) -> _Recovery:
        """Resolve the intents left by a crashed or refused create.

        An intent whose item ``find(sync_key)`` finds is settled into its link (a
        second item with the key is observed, and the identity phase makes it a copy
        to park, S3); one whose item is not there and
        whose source still is goes to ``retries``: its create is planned again under
        the same key and link (:func:`~severa_ext.sync.planner.plan_retry_create`),
        never as a new item; one whose source is gone too is dropped.
        """
        ctx = self._ctx
        recovery = _Recovery()
        for intent in ctx.store.intents(ctx.pair_id):
            self._resolve(intent, recovery, run, commit=commit)
        run.tally.recovered(linked=len(recovery.fixed))
        if commit and (recovery.fixed or recovery.drop):
            ctx.steps.commit(state_change(recovery.fixed, recovery.drop))
        return recovery

    def _resolve(self, intent: Intent, recovery: _Recovery, run: Run, *, commit: bool) -> None:
        ctx = self._ctx
        side, key = intent.side, intent.sync_key
        try:
            found = self._created(side, key)
        except BackendError as exc:
            run.tally.errors.append(ctx.journal.failure("recover", exc, side=side, item_ref=key))
            run.hold_cursors = True
            return
        if found:
            self._settle(intent, found, recovery)
            return
        source_id = intent.id_on(_other(side))
        source = None
        if source_id is not None:
            try:
                source = ctx.calls.get(_other(side), source_id)
            except BackendError as exc:
                failure = ctx.journal.failure("recover", exc, side=_other(side), item_ref=key)
                run.tally.errors.append(failure)
                run.hold_cursors = True
                return
        if source is not None:
            # The create never happened: plan it again, keeping the intent (and
            # so the key the source may carry) until it is done.
            recovery.retries.append((intent, source))
        else:
            recovery.drop.append(key)

    def _created(self, side: Side, key: str) -> tuple[CalendarItem, ...]:
        """The items of ``side`` with ``key`` that no other link owns.

        An item another link owns (a copy quarantined under this key, S3) is not
        the one this intent created: taking it would link stale content and
        overwrite the edit the create carried (invariant 4).
        """
        ctx = self._ctx
        found = ctx.calls.find(side, key)
        owners = ctx.store.links_by_ids(
            ctx.pair_id, side, [f.id for f in found if f.id is not None]
        )
        return tuple(
            f
            for f in found
            if f.id is None or (owner := owners.get(f.id)) is None or owner.sync_key == key
        )

    def _settle(
        self,
        intent: Intent,
        found: tuple[CalendarItem, ...],
        recovery: _Recovery,
    ) -> None:
        """Link the item an intent created. Any further item with its key goes to the
        run's observations: the identity phase finds it a copy (S3) and the plan parks it."""
        side, key = intent.side, intent.sync_key
        first, *duplicates = found
        recovery.fixed.append(intent.settled(first.id, None))
        recovery.extras[side].extend((first, *duplicates))
        logger.info("recovered create of %s on side %s as %s", key, side, first.id)

    # -- observe ----------------------------------------------------------------------

    def observe(
        self,
        run: Run,
        window: Window,
        extras: dict[Side, list[CalendarItem]],
        *,
        record: bool,
        first: bool,
    ) -> _Observed:
        """Each side's changes (with ``extras``: items recovery found), minus the
        echoes of the engine's own writes (``first``: the store holds no entry of the
        pair, so nothing is looked up)."""
        seen = _Observed(first=first)
        for side in _SIDES:
            changed, gone, cursor = self._list(side, window, run, record=record, first=seen.first)
            for extra in extras[side]:
                if extra.id is not None:
                    changed.setdefault(extra.id, extra)
            seen.changed[side] = changed
            seen.deleted[side] = gone
            seen.cursors[side] = cursor
        return seen

    def _list(
        self, side: Side, window: Window, run: Run, *, record: bool, first: bool
    ) -> tuple[dict[str, CalendarItem], set[str], str | None]:
        """The side's changed items by id (less the echoes of the engine's own
        writes), the ids gone and the next cursor."""
        ctx = self._ctx
        backend = ctx.calls.sides[side]
        cursor = ctx.store.cursor(ctx.pair_id, side)
        try:
            changes = ctx.calls.read(side, "list", backend.changes, cursor, window)
        except BackendError as exc:
            run.tally.errors.append(ctx.journal.failure("list", exc, side=side))
            raise ListingFailed from exc
        for problem in getattr(backend, "problems", None) or ():
            run.tally.problems.append(ctx.journal.problem(side, problem, record=record))
        items = list(changes.items)
        if first:
            return {item.id: item for item in items if item.id is not None}, set(), changes.cursor
        removed = list(changes.removed)
        stored = None
        if changes.full:  # every stored id and etag of the side, in one read
            stored = ctx.store.etags(ctx.pair_id, side)
            removed.extend(self._unlisted(side, items, stored))
        gone = self._confirm_gone(side, removed, items, run)
        if stored is None:
            ids = [item.id for item in items if item.id is not None]
            stored = ctx.store.etags_by_ids(ctx.pair_id, side, ids)
        return _unechoed(items, stored), gone, changes.cursor

    def _unlisted(
        self, side: Side, items: list[CalendarItem], stored: dict[str, str | None]
    ) -> list[str]:
        """The ids of ``side`` that entries other than intents own and a full listing
        of ``items`` left out."""
        listed = {item.id for item in items}
        if stored.keys() <= listed:
            return []
        ctx = self._ctx
        pending = {intent.id_on(side) for intent in ctx.store.intents(ctx.pair_id)}
        return [i for i in stored if i not in listed and i not in pending]

    def _confirm_gone(
        self, side: Side, removed: list[str], items: list[CalendarItem], run: Run
    ) -> set[str]:
        """The linked ids of ``removed`` that ``get`` says are gone; those still
        there moved out of the window (an edit, not a delete: added to ``items``).

        Raises:
            ListingFailed: an item could not be asked about (journaled).
        """
        ctx = self._ctx
        gone: set[str] = set()
        linked = ctx.store.links_by_ids(ctx.pair_id, side, removed)
        for item_id in removed:
            if item_id not in linked:
                continue
            try:
                current = ctx.calls.get(side, item_id)
            except BackendError as exc:
                run.tally.errors.append(
                    ctx.journal.failure("get", exc, side=side, item_ref=item_id)
                )
                raise ListingFailed from exc
            if current is None:
                gone.add(item_id)
            else:
                items.append(current)
        return gone

    # -- links and plan ---------------------------------------------------------------

    def _links_of(
        self, seen: _Observed, recovered: list[Stored]
    ) -> tuple[dict[str, Stored], dict[Side, set[str | None]]]:
        """The stored links the changes mention (by id or sync key), and per side
        the ids that links own."""
        ctx = self._ctx
        links: dict[str, Stored] = {link.sync_key: link for link in recovered}
        keys: set[str] = set()
        known: dict[Side, set[str | None]] = {}
        for side in _SIDES:
            changed = seen.changed[side]
            ids = list(changed) + list(seen.deleted[side])
            found = ctx.store.links_by_ids(ctx.pair_id, side, ids)
            for link in found.values():
                links.setdefault(link.sync_key, link)
            known[side] = {*found, *(link.id_on(side) for link in recovered)}
            keys.update(i.sync_key for i in changed.values() if i.sync_key is not None)
        keys.difference_update(links)
        if keys:
            links.update(ctx.store.links_by_keys(ctx.pair_id, keys))
        return links, known

    def _plan(
        self,
        run: Run,
        seen: _Observed,
        links: dict[str, Stored],
        known: dict[Side, set[str | None]],
        *,
        window: Window,
        now: datetime,
    ) -> tuple[Plan, NewItems]:
        ctx = self._ctx
        changed, deleted = seen.changed, seen.deleted
        shared = {side: self._shared_keys(side, changed[side], links, run) for side in _SIDES}
        matching = match(
            list(links.values()),
            SideChanges(tuple(changed["a"].values()), frozenset(deleted["a"]), shared["a"]),
            SideChanges(tuple(changed["b"].values()), frozenset(deleted["b"]), shared["b"]),
            ctx.policy,
            window,
            known_copies={} if seen.first else self._known_copies(changed, known, links),
        )
        return plan_matched(
            matching,
            links,
            ctx.policy,
            kept=ctx.kept,
            read_only=ctx.read_only,
            new_key=OrderedKeys(now),
        )

    def _shared_keys(
        self, side: Side, changed: dict[str, CalendarItem], links: dict[str, Stored], run: Run
    ) -> frozenset[str]:
        """Sync keys of unlinked changed items that another item of the side carries.

        Only items that carry a sync key no link owns are asked about (copies made
        by another tool, S3), so this costs nothing on the usual path. An item that
        cannot be checked is left for the next run.
        """
        ctx = self._ctx
        linked = {link.id_on(side) for link in links.values()}
        shared: set[str] = set()
        for item_id, item in list(changed.items()):
            key = item.sync_key
            if key is None or key in links or item_id in linked:
                continue
            try:
                found = ctx.calls.find(side, key)
            except BackendError as exc:
                run.tally.errors.append(
                    ctx.journal.failure("find", exc, side=side, item_ref=item_id)
                )
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
    ) -> dict[str, list[Link]]:
        """Stored links whose base has the print of a changed item no link knows
        (S3, later copies): one bulk lookup, never on a first sync.

        Which of them are copies is the identity phase's decision
        (:func:`~severa_ext.sync.match.match`); this only fetches the candidates.
        """
        ctx = self._ctx
        if not (changed["a"] or changed["b"]):
            return {}
        prints: set[str] = set()
        for side in _SIDES:
            linked = known[side]
            for item_id, item in changed[side].items():
                if item_id in linked or (item.sync_key is not None and item.sync_key in links):
                    continue
                prints.add(copy_print(item))
        if not prints:
            return {}
        return ctx.store.links_by_prints(ctx.pair_id, prints)

    def _retry_creates(self, retries: list[tuple[Intent, CalendarItem]]) -> list[PlanRecord]:
        ctx = self._ctx
        again: list[PlanRecord] = []
        for intent, source in retries:
            again.extend(
                plan_retry_create(
                    intent, source, ctx.policy, kept=ctx.kept, read_only=ctx.read_only
                )
            )
        return again

    def _log_plan(self, plan: Plan, new: NewItems, count: int) -> None:
        logger.debug(
            "pair %s: %d changes, plan of %d records (%d writes) and %d + %d new entries "
            "(created on side A + B, planned as they are written)",
            self._ctx.pair_id,
            count,
            len(plan),
            len(plan.writes),
            new.count("a"),
            new.count("b"),
        )
        log_records(plan.records)
