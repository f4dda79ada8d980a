"""The sync state machine, reusable with any backend on side B.

:class:`SyncMachine` is a hypothesis ``RuleBasedStateMachine``: users create, edit,
move (also out of the window), retype and delete items on both sides, copy items the
way other sync tools do (S3: with our sync key, and without it, as a tool that drops
extended properties), create the same entry on both sides, and let time pass;
syncs run with transient faults, with a crash at any step (after a remote write, or
before / after a state commit) and with concurrent edits between listing and writing.
After every sync a fault-free sync follows, and then the five invariants of the
design are checked:

1. **no duplicates**: per side, titles of non-quarantined items are unique (every
   user-made entry has a unique title) and no two links share an item;
2. **convergence**: every linked pair holds equal content (in the fields both sides
   keep, ``Capabilities.content_fields``);
3. **idempotence**: one more sync plans nothing and writes nothing;
4. **no loss**: every item in the window (and, on side A, in the policy) is linked or
   quarantined, and every user edit is still there unless the other side changed
   the same field (the conflict rule decided);
5. **deletes propagate, and only user deletes do**: an item vanishes only if the user
   deleted its partner and did not edit it since;

plus: writes so far never exceed user changes so far, a fault-free run never writes
more than the changes it read, no project task ever reaches the calendar (S8: only
a calendar copy the user made can be linked to one), an entry made on both sides
(of any activity type, even one the policy does not send) is linked, not copied (S3),
and a keyless copy of a synced entry is never synced as a second entry: it is
quarantined, linked to an existing copy, or takes over the link of an item deleted in
the same round (S3).

Side drivers (:class:`SideDriver`) adapt a backend to the machine. To run the very
same machine with another backend on side B::

    from severa_ext.testing.machine import make_sync_machine

    TestGraphSync = make_sync_machine(side_b=lambda clock: MyGraphDriver(clock)).TestCase
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Protocol
from zoneinfo import ZoneInfo

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from severa_ext.backends.base import Backend
from severa_ext.clock import Clock, FixedClock
from severa_ext.errors import MassDeletionRefused
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem, Capabilities, ShowAs, Side
from severa_ext.sync.journal import JournalEntry
from severa_ext.sync.links import Intent, Link, Stored
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.report import SyncReport
from severa_ext.sync.state import Lease, MemoryStateStore, StateChange, StateStore
from severa_ext.testing import _oracle as oracle
from severa_ext.testing.faults import Fault, InjectedCrash, MemoryBackend

__all__ = [
    "CrashingStore",
    "MemoryDriver",
    "SideDriver",
    "SyncMachine",
    "make_sync_machine",
    "memory_driver",
]

START = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
PAIR = "machine"
TYPES = ("meeting", "travel", "internal")
OUTGOING = frozenset({"meeting", "internal"})
_HELSINKI = ZoneInfo("Europe/Helsinki")


class SideDriver(Protocol):
    """What the machine needs from one side: the backend under test, a user who edits
    the ground truth directly, and fault injection.

    ``inject`` returns False when the driver cannot produce that fault; the machine
    then runs that step without it.
    """

    @property
    def backend(self) -> Backend:
        """The backend the engine syncs."""
        ...

    def user_create(self, item: CalendarItem) -> CalendarItem:
        """Create ``item`` as a user would; return it with its id."""
        ...

    def user_update(self, item_id: str, **changes: Any) -> CalendarItem:
        """Edit fields of ``item_id`` as a user would."""
        ...

    def user_delete(self, item_id: str) -> None:
        """Delete ``item_id`` as a user would."""
        ...

    def snapshot(self) -> list[CalendarItem]:
        """Every item on this side (the ground truth, not through the engine)."""
        ...

    def inject(self, operation: str, fault: Fault, *, times: int = 1) -> bool:
        """Arm ``fault`` for the next ``times`` calls of ``operation``."""
        ...

    def clear_faults(self) -> None:
        """Disarm every fault."""
        ...

    def write_count(self) -> int:
        """Successful writes the engine made through the backend so far."""
        ...

    def close(self) -> None:
        """Release what the driver holds (servers, files)."""
        ...


class MemoryDriver:
    """A :class:`SideDriver` over a :class:`~severa_ext.testing.faults.MemoryBackend`."""

    def __init__(self, backend: MemoryBackend) -> None:
        self._backend = backend

    @property
    def backend(self) -> MemoryBackend:
        """The memory backend."""
        return self._backend

    def user_create(self, item: CalendarItem) -> CalendarItem:
        """Create ``item`` as a user."""
        return self._backend.user_create(item)

    def user_update(self, item_id: str, **changes: Any) -> CalendarItem:
        """Edit ``item_id`` as a user."""
        return self._backend.user_update(item_id, **changes)

    def user_delete(self, item_id: str) -> None:
        """Delete ``item_id`` as a user."""
        self._backend.user_delete(item_id)

    def snapshot(self) -> list[CalendarItem]:
        """Every stored item."""
        return self._backend.all_items()

    def inject(self, operation: str, fault: Fault, *, times: int = 1) -> bool:
        """Arm a fault (every fault kind is supported)."""
        self._backend.inject(operation, fault, times=times)
        return True

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self._backend.clear_faults()

    def write_count(self) -> int:
        """Successful protocol writes."""
        return self._backend.write_count

    def close(self) -> None:
        """Nothing to release."""


def memory_driver(
    name: str, *, capabilities: Capabilities | None = None
) -> Callable[[Clock], SideDriver]:
    """A driver factory for :func:`make_sync_machine`: a fresh memory backend."""

    def make(clock: Clock) -> SideDriver:
        return MemoryDriver(MemoryBackend(name, capabilities=capabilities, clock=clock))

    return make


class CrashingStore:
    """A :class:`~severa_ext.sync.state.StateStore` wrapper that dies around a commit.

    ``arm(skip, before=True)`` lets ``skip`` calls of ``apply`` through, then raises
    :class:`~severa_ext.testing.faults.InjectedCrash` before (nothing stored) or after
    (everything stored) the next one.
    """

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self._countdown: int | None = None
        self._before = True

    def arm(self, skip: int, *, before: bool) -> None:
        """Crash at the ``skip + 1``-th ``apply`` from now."""
        self._countdown = skip
        self._before = before

    def disarm(self) -> None:
        """No crash."""
        self._countdown = None

    def apply(self, pair_id: str, change: StateChange) -> None:
        """Apply ``change``, or die around it when armed."""
        if self._countdown is not None:
            if self._countdown == 0:
                self._countdown = None
                if self._before:
                    raise InjectedCrash("process died before a state commit (injected)")
                self.inner.apply(pair_id, change)
                raise InjectedCrash("process died after a state commit (injected)")
            self._countdown -= 1
        self.inner.apply(pair_id, change)

    def links_by_ids(self, pair_id: str, side: Side, ids: Iterable[str]) -> dict[str, Stored]:
        """Delegate."""
        return self.inner.links_by_ids(pair_id, side, ids)

    def etags_by_ids(self, pair_id: str, side: Side, ids: Iterable[str]) -> dict[str, str | None]:
        """Delegate."""
        return self.inner.etags_by_ids(pair_id, side, ids)

    def etags(self, pair_id: str, side: Side) -> dict[str, str | None]:
        """Delegate."""
        return self.inner.etags(pair_id, side)

    def links_by_keys(self, pair_id: str, sync_keys: Iterable[str]) -> dict[str, Stored]:
        """Delegate."""
        return self.inner.links_by_keys(pair_id, sync_keys)

    def links_by_prints(self, pair_id: str, prints: Iterable[str]) -> dict[str, list[Link]]:
        """Delegate."""
        return self.inner.links_by_prints(pair_id, prints)

    def links(self, pair_id: str) -> Iterator[Stored]:
        """Delegate."""
        return self.inner.links(pair_id)

    def intents(self, pair_id: str) -> list[Intent]:
        """Delegate."""
        return self.inner.intents(pair_id)

    def count(self, pair_id: str) -> int:
        """Delegate."""
        return self.inner.count(pair_id)

    def cursor(self, pair_id: str, side: Side) -> str | None:
        """Delegate."""
        return self.inner.cursor(pair_id, side)

    def acquire(
        self,
        pair_id: str,
        holder: str,
        *,
        now: datetime,
        ttl: timedelta,
        replacing: str | None = None,
    ) -> Lease:
        """Delegate."""
        return self.inner.acquire(pair_id, holder, now=now, ttl=ttl, replacing=replacing)

    def renew(self, lease: Lease, *, now: datetime, ttl: timedelta) -> Lease:
        """Delegate."""
        return self.inner.renew(lease, now=now, ttl=ttl)

    def release(self, lease: Lease) -> None:
        """Delegate."""
        self.inner.release(lease)

    def record(self, entry: JournalEntry) -> None:
        """Delegate."""
        self.inner.record(entry)

    def journal(
        self,
        *,
        pair_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[JournalEntry]:
        """Delegate."""
        return self.inner.journal(pair_id=pair_id, since=since, limit=limit)

    def close(self) -> None:
        """Delegate."""
        self.inner.close()


# -- strategies of the machine ---------------------------------------------------------


@st.composite
def _when(draw: st.DrawFn) -> dict[str, datetime | date]:
    # Offsets from START reach past both window edges (30 days back, 365 ahead).
    days = draw(st.integers(min_value=-45, max_value=380))
    if draw(st.booleans()) and draw(st.booleans()):
        first = (START + timedelta(days=days)).date()
        return {"start": first, "end": first + timedelta(days=draw(st.integers(1, 3)))}
    minutes = draw(st.integers(min_value=0, max_value=24 * 60 - 1))
    start = START + timedelta(days=days, minutes=minutes)
    if draw(st.booleans()):
        start = start.astimezone(_HELSINKI)  # the same instant spelt in another zone
    # Durations are added by instant: wall-clock arithmetic in a zone drops ``fold``
    # and would end an item that starts in a DST fall-back hour before it starts.
    length = timedelta(minutes=draw(st.integers(0, 240)))
    end = (start.astimezone(UTC) + length).astimezone(start.tzinfo)
    return {"start": start, "end": end}


_TEXT = st.sampled_from(["", "Room 1", "Room 2 ", "Teams", "line one\r\nline two"])
_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "location": _TEXT,
    "body": _TEXT,
    "private": st.booleans(),
    "show_as": st.sampled_from([ShowAs.BUSY, ShowAs.FREE, ShowAs.TENTATIVE]),
    "categories": st.lists(st.sampled_from(["red", "blue", "green"]), max_size=2, unique=True),
}
_EDITABLE = ("title", "when", "location", "body", "private", "show_as", "categories")


@st.composite
def _content(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = draw(_when())
    for name, strategy in _FIELD_VALUES.items():
        fields[name] = draw(strategy)
    return fields


_FAULTS = {
    "throttle": lambda: Fault.throttle(2.0),
    "unavailable": Fault.unavailable,
    "timeout": Fault.timeout,
    "stale-etag": Fault.stale_etag,
}
_OPERATIONS = ("changes", "get", "find", "write", "create", "update", "delete", "apply_batch")
_SIDES: tuple[Side, Side] = ("a", "b")


def _default_policy() -> SyncPolicy:
    return SyncPolicy(outgoing_types=OUTGOING, default_type="internal", personal_type="travel")


class SyncMachine(RuleBasedStateMachine):
    """The sync state machine (see the module docstring).

    Class attributes (set them through :func:`make_sync_machine`):
        side_factories: the driver factories of side A and side B.
        store_factory: builds the state store (wrapped in :class:`CrashingStore`).
        policy: the pair's policy.
    """

    side_factories: ClassVar[Mapping[Side, Callable[[Clock], SideDriver]]] = {
        "a": memory_driver("severa"),
        "b": memory_driver("calendar", capabilities=Capabilities(delta=True, batch_size=3)),
    }
    store_factory: ClassVar[Callable[[], StateStore]] = MemoryStateStore
    policy: ClassVar[SyncPolicy] = _default_policy()

    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock(START)
        self.sides: dict[Side, SideDriver] = {
            side: type(self).side_factories[side](self.clock) for side in _SIDES
        }
        self.store = CrashingStore(type(self).store_factory())
        self.sleeps: list[float] = []
        self.engine = SyncEngine(
            self.sides["a"].backend,
            self.sides["b"].backend,
            self.store,
            pair_id=PAIR,
            policy=self.policy,
            clock=self.clock,
            user_id="user-1",
            sleep=self.sleeps.append,
            max_attempts=3,
        )
        self.both_kept = oracle.fields_kept(
            self.sides["a"].backend.capabilities, self.sides["b"].backend.capabilities
        )
        self.titles = 0
        self.pair_titles: set[str] = set()
        self.user_made: set[tuple[Side, str | None]] = set()
        # Copies made without a sync key (S3): copy -> the item it copies.
        self.keyless_copies: dict[tuple[Side, str], tuple[Side, str]] = {}
        # Copies made with our sync key (S3): copy -> the key it carries.
        self.keyed_copies: dict[tuple[Side, str], str] = {}
        # The print (title and times) of every item as the round's sync starts.
        self.sync_prints: dict[tuple[Side, str], tuple[object, ...]] = {}
        self.user_actions = 0
        self.synced = False
        self._start_round()

    def teardown(self) -> None:
        """Close the drivers and the store."""
        for driver in self.sides.values():
            driver.close()
        self.store.close()

    # -- bookkeeping ---------------------------------------------------------------

    def _start_round(self) -> None:
        self.twins: list[tuple[str, str]] = []
        self.user_deleted: set[tuple[Side, str]] = set()
        self.edits: dict[tuple[Side, str], dict[str, object]] = {}
        self.round_copies: set[tuple[Side, str]] = set()
        self.items_before: dict[tuple[Side, str], CalendarItem] = {
            (side, str(item.id)): item for side in _SIDES for item in self.sides[side].snapshot()
        }
        self.ids_before: set[tuple[Side, str]] = set(self.items_before)
        self.partner_before: dict[tuple[Side, str], tuple[Side, str]] = {}
        for link in self.store.links(PAIR):
            if isinstance(link, Link) and link.a_id is not None and link.b_id is not None:
                self.partner_before[("a", link.a_id)] = ("b", link.b_id)
                self.partner_before[("b", link.b_id)] = ("a", link.a_id)

    def _title(self) -> str:
        self.titles += 1
        return f"entry {self.titles}"

    def _act(self) -> None:
        self.user_actions += 1
        self.clock.advance(timedelta(minutes=1))

    def _pick(self, side: Side, index: int) -> CalendarItem | None:
        items = self.sides[side].snapshot()
        return items[index % len(items)] if items else None

    def copied_from(self, item: tuple[Side, str] | None) -> set[tuple[Side, str]]:
        """The items ``item`` is a keyless copy of, directly or through other copies."""
        sources: set[tuple[Side, str]] = set()
        while item is not None:
            item = self.keyless_copies.get(item)
            if item is None or item in sources:
                break
            sources.add(item)
        return sources

    def _record_edit(self, side: Side, item: CalendarItem, names: Iterable[str]) -> None:
        assert item.id is not None
        key = (side, item.id)
        slot = self.edits.setdefault(key, {})
        before = self.items_before.get(key)
        for name in names:
            value = oracle.value(item, name)
            if before is not None and oracle.value(before, name) == value:
                slot.pop(name, None)  # edited back to what the last sync left: no edit
            else:
                slot[name] = value
        if not slot:
            del self.edits[key]

    def _edit(self, side: Side, index: int, name: str, value: Any) -> None:
        item = self._pick(side, index)
        if item is None:
            return
        assert item.id is not None
        self._act()
        if name == "title":
            changes: dict[str, Any] = {"title": self._title()}
        elif name == "when":
            changes = dict(value)
        else:
            changes = {name: value}
        updated = self.sides[side].user_update(item.id, **changes)
        unit = "when" if name == "when" else name
        if oracle.value(updated, unit) != oracle.value(item, unit):  # a no-op is no edit
            self._record_edit(side, updated, [unit])

    # -- user rules ------------------------------------------------------------------

    @rule(
        side=st.sampled_from(_SIDES),
        content=_content(),
        activity_type=st.sampled_from((*TYPES, None)),
        project_task=st.booleans(),
    )
    def create(
        self,
        side: Side,
        content: dict[str, Any],
        activity_type: str | None,
        project_task: bool,
    ) -> None:
        """A user creates an item (on side A an activity with a type, S8)."""
        self._act()
        extra: dict[str, Any] = {}
        if side == "a":
            extra = {"activity_type": activity_type, "project_task": project_task}
        made = self.sides[side].user_create(CalendarItem(self._title(), **content, **extra))
        self.user_made.add((side, made.id))

    @rule(
        content=_content(),
        activity_type=st.sampled_from(TYPES),
        project_task=st.booleans(),
    )
    def create_on_both_sides(
        self, content: dict[str, Any], activity_type: str, project_task: bool
    ) -> None:
        """The same entry is made on both sides before a sync (S3: link, don't copy),
        whether or not the policy sends its activity type."""
        title = self._title()
        self.pair_titles.add(title)
        ids: list[str] = []
        for side in _SIDES:
            self._act()
            extra: dict[str, Any] = (
                {"activity_type": activity_type, "project_task": project_task}
                if side == "a"
                else {}
            )
            made = self.sides[side].user_create(CalendarItem(title, **content, **extra))
            self.user_made.add((side, made.id))
            ids.append(str(made.id))
            # Linking copies without a base lets the conflict rule pick each field.
            self._record_edit(side, made, oracle.FIELDS)
        self.twins.append((ids[0], ids[1]))

    @rule(side=st.sampled_from(_SIDES), index=st.integers(min_value=0))
    def copy_like_another_tool(self, side: Side, index: int) -> None:
        """Another sync tool copies an item with its sync key (S3: quarantine, or it
        takes over the link when the item it copies is deleted in the same round)."""
        item = self._pick(side, index)
        if item is None or item.sync_key is None or item.id is None:
            return
        self._act()
        made = self.sides[side].user_create(item.evolve(id=None, etag=None))
        assert made.id is not None
        self.user_made.add((side, made.id))
        self.keyed_copies[(side, made.id)] = item.sync_key

    @rule(side=st.sampled_from(_SIDES), index=st.integers(min_value=0))
    def copy_without_key_like_another_tool(self, side: Side, index: int) -> None:
        """Another tool copies an item and drops extended properties: no id, etag or
        sync key (S3: a copy of a synced entry is quarantined, never multiplied; one
        that replaces a linked item deleted in the same run takes over its link)."""
        item = self._pick(side, index)
        if item is None or item.id is None:
            return
        self._act()
        made = self.sides[side].user_create(item.without_identity())
        assert made.id is not None
        self.user_made.add((side, made.id))
        self.keyless_copies[(side, made.id)] = (side, item.id)
        self.round_copies.add((side, made.id))
        # Its content is the tool's: when it is linked to an existing copy without a
        # base (S3), the conflict rule picks each field, as for an entry made on
        # both sides.
        self._record_edit(side, made, oracle.FIELDS)

    @rule(
        side=st.sampled_from(_SIDES),
        index=st.integers(min_value=0),
        name=st.sampled_from(_EDITABLE),
        data=st.data(),
    )
    def edit(self, side: Side, index: int, name: str, data: st.DataObject) -> None:
        """A user edits one field (``when`` may move the item out of the window)."""
        value = data.draw(_when() if name == "when" else _FIELD_VALUES.get(name, st.none()))
        self._edit(side, index, name, value)

    @rule(index=st.integers(min_value=0), activity_type=st.sampled_from(TYPES))
    def retype(self, index: int, activity_type: str) -> None:
        """A user changes an activity's type (leaving the policy is not a delete)."""
        item = self._pick("a", index)
        if item is None or item.id is None:
            return
        self._act()
        self.sides["a"].user_update(item.id, activity_type=activity_type)

    @rule(side=st.sampled_from(_SIDES), index=st.integers(min_value=0))
    def delete(self, side: Side, index: int) -> None:
        """A user deletes an item."""
        item = self._pick(side, index)
        if item is None or item.id is None:
            return
        self._act()
        self.sides[side].user_delete(item.id)
        self.user_deleted.add((side, item.id))

    @rule(days=st.integers(min_value=1, max_value=40))
    def time_passes(self, days: int) -> None:
        """The window slides: items enter and leave it without changing."""
        self.clock.advance(timedelta(days=days))

    # -- sync rules ------------------------------------------------------------------

    @rule()
    def sync(self) -> None:
        """A plain sync."""
        self._sync_and_check()

    @rule(
        side=st.sampled_from(_SIDES),
        operation=st.sampled_from(_OPERATIONS),
        kind=st.sampled_from(sorted(_FAULTS)),
        times=st.integers(min_value=1, max_value=6),
    )
    def sync_with_transient_faults(self, side: Side, operation: str, kind: str, times: int) -> None:
        """Throttling, 5xx, timeouts, stale etags; more than the retries sometimes."""
        self.sides[side].inject(operation, _FAULTS[kind](), times=times)
        self._sync_and_check()

    @rule(
        side=st.sampled_from(_SIDES),
        operation=st.sampled_from(_OPERATIONS),
        skip=st.integers(min_value=0, max_value=6),
    )
    def sync_with_crash_after_write(self, side: Side, operation: str, skip: int) -> None:
        """The process dies right after the ``skip + 1``-th call of ``operation``."""
        driver = self.sides[side]
        if skip and not driver.inject(operation, Fault.call(lambda: None), times=skip):
            return
        driver.inject(operation, Fault.crash_after_write())
        self._sync_and_check()

    @rule(skip=st.integers(min_value=0, max_value=6), before=st.booleans())
    def sync_with_crash_at_commit(self, skip: int, before: bool) -> None:
        """The process dies before or after the ``skip + 1``-th state commit."""
        self.store.arm(skip, before=before)
        self._sync_and_check()

    @rule(
        side=st.sampled_from(_SIDES),
        index=st.integers(min_value=0),
        name=st.sampled_from(_EDITABLE),
        data=st.data(),
    )
    def sync_with_concurrent_edit(
        self, side: Side, index: int, name: str, data: st.DataObject
    ) -> None:
        """A user edits an item between the engine's listing and its write."""
        value = data.draw(_when() if name == "when" else _FIELD_VALUES.get(name, st.none()))
        self.sides[side].inject("write", Fault.call(lambda: self._edit(side, index, name, value)))
        self._sync_and_check()

    # -- running and checking --------------------------------------------------------

    def _writes(self) -> int:
        return sum(driver.write_count() for driver in self.sides.values())

    def _run(self) -> SyncReport | None:
        try:
            return self.engine.run()
        except InjectedCrash:
            return None
        except MassDeletionRefused:
            # The guard stops before deleting anything; the user confirms.
            return self.engine.run(allow_mass_delete=True)

    def _sync_and_check(self) -> None:
        self.sync_prints = {
            (side, str(item.id)): oracle.print_of(item)
            for side in _SIDES
            for item in self.sides[side].snapshot()
        }
        self._run()
        for driver in self.sides.values():
            driver.clear_faults()
        self.store.disarm()
        report = self._run()
        assert report is not None
        assert report.ok, report.errors
        # Without concurrent edits a run writes at most once per change it read.
        assert report.total_writes <= report.changes, report.summary()
        self.synced = True
        self._check_idempotent()
        self._check_state()
        self._start_round()

    def _check_idempotent(self) -> None:
        """Invariant 3: one more sync plans nothing and writes nothing."""
        plan = self.engine.plan()
        assert len(plan) == 0, plan
        before = self._writes()
        report = self.engine.run()
        assert report.total_writes == 0
        assert self._writes() == before

    def _check_state(self) -> None:
        """Invariants 1, 2, 4 and 5 (:mod:`severa_ext.testing._oracle`), and writes
        so far bounded by user changes so far."""
        snapshots = {side: self.sides[side].snapshot() for side in _SIDES}
        oracle.check(self, oracle.World.observe(snapshots, self.store.links(PAIR)))
        assert self._writes() <= self.user_actions, (self._writes(), self.user_actions)

    @invariant()
    def journal_is_redacted_data(self) -> None:
        """Every journal entry names its pair (S6)."""
        for entry in self.store.journal(pair_id=PAIR, limit=5):
            assert entry.pair_id == PAIR

    @precondition(lambda self: self.synced)
    @invariant()
    def lease_is_free_after_a_clean_run(self) -> None:
        """A finished run gives its lease back."""
        lease = self.store.acquire(PAIR, "probe", now=self.clock.now(), ttl=timedelta(seconds=1))
        self.store.release(lease)


def make_sync_machine(
    *,
    side_a: Callable[[Clock], SideDriver] | None = None,
    side_b: Callable[[Clock], SideDriver] | None = None,
    store: Callable[[], StateStore] | None = None,
    policy: SyncPolicy | None = None,
    name: str = "CustomSyncMachine",
) -> type[SyncMachine]:
    """The same machine with other drivers, store or policy.

    Args:
        side_a: a factory of side A's driver (a memory activity side by default).
        side_b: a factory of side B's driver, e.g. an ICS or fake-Graph driver.
        store: a factory of the state store (``MemoryStateStore`` by default).
        policy: the pair's policy.
        name: the class name (shows in hypothesis reports).

    Returns:
        A ``SyncMachine`` subclass; its ``TestCase`` attribute is a unittest case
        for pytest to collect.
    """
    base = SyncMachine.side_factories
    attributes: dict[str, Any] = {
        "side_factories": {"a": side_a or base["a"], "b": side_b or base["b"]},
    }
    if store is not None:
        attributes["store_factory"] = staticmethod(store)
    if policy is not None:
        attributes["policy"] = policy
    return type(name, (SyncMachine,), attributes)
