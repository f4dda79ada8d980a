"""Execute: turn a grouped plan into backend writes and durable steps.

:meth:`Executor.execute` stores the entries that write nothing, then sends the
writes batch by batch per side (:meth:`Executor._write_side`): the intents of a
step's creates are stored before any of them is sent, each entry's final state
(:meth:`Executor._finish`) goes with the next step. After a side's other writes come
the creates of the run's new entries, planned one step at a time
(:class:`~severa_ext.sync.planner.NewItems`): a first sync holds one step of them.
An entry that met a stale etag is re-read and re-planned (:meth:`Executor._replan`, at
most ``max_replans`` times); one that keeps failing is journaled (S6) and skipped
while the rest goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from severa_ext.errors import (
    BackendError,
    MassDeletionRefused,
    NotFound,
    VersionConflict,
)
from severa_ext.sync.engine._calls import Outcome
from severa_ext.sync.engine._context import Context
from severa_ext.sync.engine._entries import Entry, Run, group, live, log_records
from severa_ext.sync.engine._steps import Pending
from severa_ext.sync.items import CalendarItem, Side, item_label
from severa_ext.sync.links import Intent, Link, Stored
from severa_ext.sync.planner import (
    Conflict,
    Create,
    Delete,
    LinkExisting,
    NewItems,
    Plan,
    PlanRecord,
    Relink,
    SetLink,
    Unlink,
    WriteRecord,
    plan_entry,
)
from severa_ext.sync.retry import TRANSIENT

__all__ = ["Executor", "step_size"]

logger = logging.getLogger(__name__)

_SIDES: tuple[Side, Side] = ("a", "b")
_STATE_CHUNK = 2000

ProgressCallback = Callable[[int, int, str], None]


class Executor:
    """Executes one run's plan."""

    def __init__(self, ctx: Context, *, max_replans: int, step_writes: int) -> None:
        self._ctx = ctx
        self._max_replans = max_replans
        self._step_writes = step_writes

    # -- guard ----------------------------------------------------------------------

    def guard(
        self, plan: Plan, *, total: int, allow: bool, mass_ratio: float, mass_min: int
    ) -> None:
        """Refuse a plan that deletes too much of one side (``total``: the entries
        the pair had when the run read), unless ``allow``.

        Raises:
            MassDeletionRefused: nothing was deleted; the journal says why.
        """
        ctx = self._ctx
        for side in _SIDES:
            deletes = plan.count(Delete, side)
            if deletes < mass_min or deletes <= mass_ratio * total:
                continue
            refused = MassDeletionRefused(side, deletes, total, mass_ratio)
            if allow:
                ctx.journal.note("guard", f"override: {refused}", side, None, "warning")
                continue
            ctx.journal.note("guard", str(refused), side, None, "error")
            raise refused

    # -- the rounds -------------------------------------------------------------------

    def execute(
        self, entries: list[Entry], new: NewItems, run: Run, progress: ProgressCallback | None
    ) -> None:
        """Execute the grouped plan (``entries`` is consumed: emptied), then plan and
        create the ``new`` entries step by step, after each side's other writes."""
        run.total = sum(len(entry.writes) for entry in entries) + sum(
            new.count(side) for side in _SIDES if side not in new.read_only
        )
        if progress is not None and run.total:
            progress(0, run.total, "write")  # the bar starts at the total planned
        pending = Pending()
        writing: list[Entry] = []
        for entry in entries:
            if entry.writes:
                writing.append(entry)
            else:
                self._finish(entry, run, pending)
                if len(pending) >= _STATE_CHUNK:
                    self._ctx.steps.apply(pending)
        entries.clear()
        self._ctx.steps.apply(pending)
        stale = self._write_all(writing, run, progress, new)
        for _ in range(self._max_replans):
            if not stale:
                return
            writing = self._replan(stale, run, pending)
            self._ctx.steps.apply(pending)
            stale = self._write_all(writing, run, progress)
        if stale:
            self._give_up(stale, run)

    def _give_up(self, stale: list[Entry], run: Run) -> None:
        for entry in stale:
            message = f"entry {entry.key} kept meeting concurrent edits; skipped"
            run.tally.errors.append(self._ctx.journal.error("update", message, entry.key))
            run.hold_cursors = True

    def _replan(self, stale: list[Entry], run: Run, pending: Pending) -> list[Entry]:
        """Re-read the entries that met stale etags and plan them again."""
        again: list[Entry] = []
        for entry in stale:
            for new in group(self._fresh_plan(entry, run)):
                if new.writes:
                    again.append(new)
                    run.total += len(new.writes)
                else:
                    self._finish(new, run, pending)
        return again

    def _fresh_plan(self, entry: Entry, run: Run) -> list[PlanRecord]:
        """The entry planned again from fresh reads of both its items; nothing
        (journaled, retried next run) when it cannot be."""
        ctx = self._ctx
        link = _as_planned(entry, run.links.get(entry.key))
        if link is None or link.a_id is None or link.b_id is None:
            message = f"entry {entry.key} met a concurrent change; retried next run"
            run.tally.errors.append(ctx.journal.error("update", message, entry.key))
            run.hold_cursors = True
            return []
        try:
            a = ctx.calls.get("a", link.a_id)
            b = ctx.calls.get("b", link.b_id)
        except BackendError as exc:
            run.tally.errors.append(ctx.journal.failure("get", exc, item_ref=entry.key))
            run.hold_cursors = True
            return []
        records = plan_entry(link, a, b, ctx.policy, kept=ctx.kept, read_only=ctx.read_only)
        logger.debug("re-planned %s after a stale etag: %d records", entry.key, len(records))
        return records

    # -- writing ----------------------------------------------------------------------

    def _write_all(
        self,
        entries: list[Entry],
        run: Run,
        progress: ProgressCallback | None,
        new: NewItems | None = None,
    ) -> list[Entry]:
        """Execute the writes of ``entries`` (the list is consumed: emptied, so that
        each entry is freed once its writes are done and its final link is stored),
        then on each side the creates of ``new``, planned a step at a time.

        Returns:
            The entries that met a stale etag, to re-plan (a create never does).
        """
        pending = Pending()
        stale: list[Entry] = []
        # Parallel lists per side (no (entry, record) pair per write: fewer objects
        # to allocate); a slot is cleared once done, and with ``entries`` emptied the
        # run holds only the writes still to do (less for the collector to scan).
        owners: dict[Side, list[Entry | None]] = {"a": [], "b": []}
        records: dict[Side, list[WriteRecord | None]] = {"a": [], "b": []}
        for entry in entries:
            for record in entry.writes:
                owners[record.side].append(entry)
                records[record.side].append(record)
        entries.clear()
        for side in _SIDES:
            slots = _Slots(side, owners[side], records[side], new)
            self._write_side(slots, run, pending, stale, progress)
        self._ctx.steps.apply(pending)
        return stale

    def _write_side(
        self,
        slots: _Slots,
        run: Run,
        pending: Pending,
        stale: list[Entry],
        progress: ProgressCallback | None,
    ) -> None:
        """One side's writes, step by step, then its new entries' creates. One
        durable step covers several backend batches: the intents of its creates are
        stored (with the previous step's final links) before any of them is sent; a
        crash leaves those intents pending and the next run resolves each by
        ``find(sync_key)``."""
        capabilities = self._ctx.calls.sides[slots.side].capabilities
        size, grows = capabilities.batch_size, capabilities.rewrites_on_flush
        done = first = 0
        while True:
            if first == len(slots.records):  # every slot so far is done: drop them
                done, first = done + first, 0
                slots.clear()
            step = step_size(size, done=done + first, floor=self._step_writes, grows=grows)
            self._plan_new(slots, first + step, run, pending)
            last = min(first + step, len(slots.records))
            if first >= last:
                return
            self._ctx.steps.apply(pending, slots.intents(first, last))
            for start in range(first, last, size):
                todo = [i for i in range(start, min(start + size, last)) if live(slots.owners[i])]
                if not todo:
                    continue
                stale.extend(self._write_batch(slots, todo, run, pending))
                if progress is not None:
                    progress(run.done, run.total, "write")
            first = last

    def _plan_new(self, slots: _Slots, want: int, run: Run, pending: Pending) -> None:
        """Plan new entries that create on the slots' side until the slots hold
        ``want`` writes or none is left; an entry that writes nothing (its side is
        read-only; the identity phase already left out what S8 does not send) is
        finished at once."""
        new, side = slots.new, slots.side
        if new is None:
            return
        count = new.count(side)
        while len(slots.records) < want and slots.planned < count:
            start = slots.planned
            slots.planned = min(start + want - len(slots.records), count)
            records = new.records(side, start, slots.planned)
            log_records(records)
            for entry in group(records):
                if entry.writes:
                    slots.add(entry)
                else:  # a create a read-only side does not get (counted in no total)
                    self._finish(entry, run, pending)

    def _write_batch(
        self, slots: _Slots, todo: list[int], run: Run, pending: Pending
    ) -> list[Entry]:
        """Send the writes of the slots ``todo`` as one batch; return the entries
        that met a stale etag."""
        batch = [w for i in todo if (w := slots.records[i]) is not None]
        outcomes = self._ctx.calls.write(slots.side, batch)
        stale: list[Entry] = []
        for i, write, outcome in zip(todo, batch, outcomes, strict=True):
            entry = slots.owners[i]
            assert entry is not None
            slots.owners[i] = slots.records[i] = None
            self._outcome(entry, write, outcome, run, pending)
            if entry.stopped is not None:
                if entry.stopped == "replan":
                    stale.append(entry)
                run.tally.entry(entry)  # counts the writes that succeeded
            elif len(entry.results) == len(entry.writes):
                self._finish(entry, run, pending)
        run.done += len(todo)
        return stale

    def _outcome(
        self,
        entry: Entry,
        record: WriteRecord,
        outcome: Outcome,
        run: Run,
        pending: Pending,
    ) -> None:
        """Record what one write gave on its entry."""
        item, error = outcome
        side = record.side
        if error is None or (isinstance(error, NotFound) and isinstance(record, Delete)):
            entry.results[side] = item
            if error is None and logger.isEnabledFor(logging.INFO):
                self._log_write(record, item)
            return
        if isinstance(error, VersionConflict | NotFound) and not isinstance(record, Create):
            entry.stopped = "replan"
            logger.info("stale etag on side %s for %s; re-planning", side, record.sync_key)
            return
        entry.stopped = "failed"
        ref = record.item_id if not isinstance(record, Create) else record.source_id
        operation = type(record).__name__.lower()
        run.tally.errors.append(
            self._ctx.journal.failure(operation, error, side=side, item_ref=ref)
        )
        if isinstance(error, (*TRANSIENT, VersionConflict)):
            run.hold_cursors = True  # retried next run; a create's intent stays pending
        elif isinstance(record, Create):
            prior = run.links.get(entry.key)  # the create is given up: drop its intent
            if isinstance(prior, Link):
                pending.put.append(prior)
            else:
                pending.drop.append(entry.key)

    def _log_write(self, record: WriteRecord, item: CalendarItem | None) -> None:
        label = item_label(item) if item is not None else getattr(record, "item_id", None)
        name = self._ctx.calls.sides[record.side].name
        logger.info(
            "%s on side %s (%s): %s", type(record).__name__.lower(), record.side, name, label
        )

    # -- the entry's final state ----------------------------------------------------

    def _finish(self, entry: Entry, run: Run, pending: Pending) -> None:
        """The entry completed: count it and store its final state."""
        if not run.tally.entry(entry):
            return
        if entry.quarantine is not None:
            q = entry.quarantine
            pending.put.append(q.parked())
            self._ctx.journal.note("quarantine", q.reason, q.side, q.item_id, "warning")
            return
        if entry.conflict is not None:
            self._note_conflict(entry.conflict)
        if isinstance(entry.final, Unlink):
            pending.drop.append(entry.key)
        elif isinstance(entry.final, SetLink):
            link = entry.final.link
            for side, item in entry.results.items():
                if item is not None:
                    link = link.with_item(side, item.id, item.etag)
            if isinstance(entry.joined, Relink):
                self._note_relink(entry.joined)
            pending.put.append(link)

    def _note_conflict(self, c: Conflict) -> None:
        message = f"both sides changed {', '.join(c.fields)}; side {c.winner} won"
        self._ctx.journal.note("conflict", message, None, c.sync_key, "info")

    def _note_relink(self, moved: Relink) -> None:
        message = (
            f"replacement (S3): {moved.new_id} replaces deleted "
            f"{moved.old_id} on side {moved.side}; relinked, nothing deleted"
        )
        self._ctx.journal.note("link", message, moved.side, moved.new_id, "info")


def step_size(batch: int, *, done: int, floor: int, grows: bool) -> int:
    """The writes of the next durable step: ``floor`` (``step_writes``) rounded down to
    whole batches of ``batch`` (at least one batch); on a side whose flush rewrites the
    whole store (``grows``), also at least the ``done`` writes, so the side is flushed
    O(log N) times and the bytes written stay linear in N (about twice the final
    store; the step a crash loses is at most half of the run's writes there, cheap to
    redo on a local file)."""
    writes = max(floor, done) if grows else floor
    return max(batch, writes // batch * batch)


class _Slots:
    """One side's writes as parallel lists; a slot is cleared once done. The
    creates of new entries are appended as they are planned (:meth:`add`)."""

    __slots__ = ("new", "owners", "planned", "records", "side")

    def __init__(
        self,
        side: Side,
        owners: list[Entry | None],
        records: list[WriteRecord | None],
        new: NewItems | None = None,
    ) -> None:
        self.side = side
        self.owners = owners
        self.records = records
        self.new = new  # the new entries to plan into these slots after the others
        self.planned = 0  # how many of them are planned so far

    def clear(self) -> None:
        """Drop every slot (all done): a side's new entries then hold one step's."""
        self.owners.clear()
        self.records.clear()

    def add(self, entry: Entry) -> None:
        """Add a new entry's one write (a create on this side)."""
        (write,) = entry.writes
        assert write.side == self.side
        self.owners.append(entry)
        self.records.append(write)

    def intents(self, first: int, last: int) -> list[Intent]:
        """The intents of the live creates among ``first:last``."""
        return [
            create.intent
            for i in range(first, last)
            if isinstance(create := self.records[i], Create)
            and (owner := self.owners[i]) is not None
            and owner.stopped is None
        ]


def _as_planned(entry: Entry, stored: Stored | None) -> Link | None:
    """The link the entry's records were planned against: the stored one, as the
    entry's :class:`LinkExisting` or :class:`Relink` record states it."""
    joined = entry.joined
    if isinstance(joined, LinkExisting):  # copies linked this run: as first seen
        return Link(entry.key, a_id=joined.a_id, b_id=joined.b_id)
    link = stored if isinstance(stored, Link) else None
    if isinstance(joined, Relink) and link is not None:  # as an edit of the entry
        return link.with_item(joined.side, joined.new_id, None)
    return link
