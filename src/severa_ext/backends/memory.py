"""The in-memory reference backend, with delta cursors, etags and fault injection.

:class:`MemoryBackend` implements :class:`~severa_ext.sync.protocol.Backend` the way a
real calendar server behaves: every stored item gets an id and an etag, writes are
guarded by ``if_match``, ``changes`` returns deltas from a cursor (cost proportional
to the changes, not to the calendar), and ``find`` looks items up by sync key.

Two families of methods sit beside the protocol:

* user-side methods (``user_create``, ``user_update``, ``user_delete``,
  ``all_items``) play the human editing the calendar; they never go through fault
  injection and are not counted as writes;
* fault injection (``inject``) makes the next protocol calls fail the way real servers
  do: throttling with ``Retry-After``, 5xx, timeouts, stale etags, a callback that runs
  just before the call (a concurrent edit between listing and writing), and a crash
  *after* the write (the write is stored, then :class:`InjectedCrash` escapes, as if
  the process died before it saw the reply).
"""

from __future__ import annotations

import enum
import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from severa_ext.clock import Clock, SystemClock
from severa_ext.errors import (
    BackendUnavailable,
    NotFound,
    ReadOnlyBackend,
    Throttled,
    ValidationError,
    VersionConflict,
)
from severa_ext.sync.items import CalendarItem, Capabilities, ChangeSet, ShowAs, Window
from severa_ext.sync.protocol import WriteOp, WriteResult, apply_one_by_one

__all__ = [
    "OPERATIONS",
    "Fault",
    "FaultKind",
    "InjectedCrash",
    "MemoryBackend",
]

OPERATIONS: frozenset[str] = frozenset(
    {"changes", "get", "find", "create", "update", "delete", "apply_batch", "write"}
)
"""Operation names :meth:`MemoryBackend.inject` accepts (``"write"``: any of
create / update / delete, also inside a batch)."""


class InjectedCrash(Exception):
    """The simulated death of the process.

    Deliberately *not* a :class:`~severa_ext.errors.SeveraExtError`: the engine must
    not catch it, exactly as it could not catch a power cut.
    """


class FaultKind(enum.Enum):
    """What an injected fault does."""

    THROTTLE = "throttle"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    STALE_ETAG = "stale-etag"
    CRASH_AFTER_WRITE = "crash-after-write"
    CALL = "call"


@attrs.frozen
class Fault:
    """One injected fault; build them with the class methods.

    Attributes:
        kind: what happens.
        retry_after: seconds the server asks to wait (throttle only).
        callback: what runs before the call (``CALL`` only), e.g. a user edit.
    """

    kind: FaultKind
    retry_after: float = 1.0
    callback: Callable[[], object] | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def throttle(cls, retry_after: float = 1.0) -> Fault:
        """HTTP 429 / ErrorServerBusy: raises ``Throttled(retry_after=...)``."""
        return cls(FaultKind.THROTTLE, retry_after=retry_after)

    @classmethod
    def unavailable(cls) -> Fault:
        """HTTP 503: raises ``BackendUnavailable``."""
        return cls(FaultKind.UNAVAILABLE)

    @classmethod
    def timeout(cls) -> Fault:
        """A request that timed out before the server acted: ``BackendUnavailable``."""
        return cls(FaultKind.TIMEOUT)

    @classmethod
    def stale_etag(cls) -> Fault:
        """HTTP 412: raises ``VersionConflict`` without writing."""
        return cls(FaultKind.STALE_ETAG)

    @classmethod
    def crash_after_write(cls) -> Fault:
        """Perform the call, then raise :class:`InjectedCrash`."""
        return cls(FaultKind.CRASH_AFTER_WRITE)

    @classmethod
    def call(cls, callback: Callable[[], object]) -> Fault:
        """Run ``callback`` just before the call, then perform it normally."""
        return cls(FaultKind.CALL, callback=callback)


@attrs.define
class _Armed:
    fault: Fault
    times: int


def _parse_cursor(cursor: str) -> tuple[int, str]:
    position, _, token = cursor.partition("@")
    if not position.isdigit() or not token:
        raise ValidationError(f"MemoryBackend: not a cursor of this backend: {cursor!r}")
    return int(position), token


_DROPPABLE: dict[str, Any] = {
    "location": "",
    "body": "",
    "private": False,
    "show_as": ShowAs.BUSY,
    "categories": (),
}
"""Optional content fields and the default a side that drops them stores."""


def _window_token(window: Window) -> str:
    return f"{window.start.timestamp():.0f}-{window.end.timestamp():.0f}"


class MemoryBackend:
    """The reference :class:`~severa_ext.sync.protocol.Backend`, in memory.

    Args:
        name: a short name for logs and the journal.
        capabilities: what it announces; ``delta=False`` makes ``changes`` always
            return full listings, ``batch_size`` bounds ``apply_batch``,
            ``read_only=True`` refuses protocol writes, ``content_fields`` makes
            it drop the other optional fields (stored as their defaults), the way an
            activity has no ``show_as``.
        clock: stamps ``last_modified``; the system clock by default.

    Example:
        >>> from datetime import UTC, datetime
        >>> from severa_ext.sync.items import CalendarItem
        >>> cal = MemoryBackend("cal")
        >>> start = datetime(2026, 5, 1, 9, tzinfo=UTC)
        >>> item = cal.user_create(CalendarItem("Standup", start, start))
        >>> cal.get(item.id) == item
        True
    """

    def __init__(
        self,
        name: str = "memory",
        *,
        capabilities: Capabilities | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._name = name
        self._capabilities = capabilities or Capabilities(delta=True, batch_size=50)
        self._clock: Clock = clock or SystemClock()
        self._items: dict[str, CalendarItem] = {}
        self._by_key: dict[str, set[str]] = {}
        self._log: list[str] = []
        self._ids = itertools.count(1)
        self._etags = itertools.count(1)
        self._faults: dict[str, list[_Armed]] = {}
        kept = self._capabilities.content_fields
        self._dropped: dict[str, Any] = (
            {}
            if kept is None
            else {name: value for name, value in _DROPPABLE.items() if name not in kept}
        )
        self.writes: Counter[str] = Counter()
        """Successful protocol writes by operation (``create``/``update``/``delete``)."""
        self.calls: Counter[str] = Counter()
        """Protocol calls by operation, successful or not."""

    def __repr__(self) -> str:
        return f"MemoryBackend({self._name!r}, items={len(self._items)})"

    # -- protocol ---------------------------------------------------------------

    @property
    def name(self) -> str:
        """The backend's name."""
        return self._name

    @property
    def capabilities(self) -> Capabilities:
        """What this backend announces."""
        return self._capabilities

    @property
    def write_count(self) -> int:
        """The total of successful protocol writes."""
        return sum(self.writes.values())

    def changes(self, cursor: str | None, window: Window) -> ChangeSet:
        """Items changed in ``window`` since ``cursor`` (a full listing without one).

        A delta reports an item that left the window, or was deleted, in
        ``removed``. A cursor taken for another window gives a full listing, as a
        Graph delta link does.

        Raises:
            ValidationError: ``cursor`` is not one of this backend's cursors.
        """
        crash = self._before("changes")
        token = _window_token(window)
        position = len(self._log)
        next_cursor = f"{position}@{token}" if self._capabilities.delta else None
        full = True
        if cursor is not None and self._capabilities.delta:
            start, old_token = _parse_cursor(cursor)
            if start > position:
                raise ValidationError(f"MemoryBackend: cursor {cursor!r} is from the future")
            full = old_token != token
        if full:
            # ChangeSet's converter=tuple is opaque to mypy: hand it an Any.
            listed: Any = [item for item in self._items.values() if window.contains(item)]
            result = ChangeSet(listed, (), next_cursor, full=True)
        else:
            seen: dict[str, None] = dict.fromkeys(self._log[start:position])
            changed: Any = []
            removed: Any = []
            for item_id in seen:
                item = self._items.get(item_id)
                if item is not None and window.contains(item):
                    changed.append(item)
                else:
                    removed.append(item_id)
            result = ChangeSet(changed, removed, next_cursor, full=False)
        self._after(crash)
        return result

    def get(self, item_id: str) -> CalendarItem | None:
        """The item with ``item_id``, in or out of any window; ``None`` if deleted."""
        crash = self._before("get")
        item = self._items.get(item_id)
        self._after(crash)
        return item

    def find(self, sync_key: str) -> tuple[CalendarItem, ...]:
        """Every item stamped with ``sync_key``."""
        crash = self._before("find")
        found = tuple(self._items[i] for i in sorted(self._by_key.get(sync_key, ())))
        self._after(crash)
        return found

    def create(self, item: CalendarItem, sync_key: str) -> CalendarItem:
        """Store ``item`` stamped with ``sync_key``; return it with its id and etag."""
        crash = self._before("create", write=True)
        stored = self._create(item, sync_key)
        self.writes["create"] += 1
        self._after(crash)
        return stored

    def update(self, item_id: str, item: CalendarItem, if_match: str | None) -> CalendarItem:
        """Replace the content of ``item_id`` (its sync key stays).

        Raises:
            NotFound: no such item.
            VersionConflict: its etag is not ``if_match``.
        """
        crash = self._before("update", write=True)
        stored = self._update(item_id, item, if_match)
        self.writes["update"] += 1
        self._after(crash)
        return stored

    def delete(self, item_id: str, if_match: str | None) -> None:
        """Delete ``item_id``.

        Raises:
            NotFound: no such item.
            VersionConflict: its etag is not ``if_match``.
        """
        crash = self._before("delete", write=True)
        self._delete(item_id, if_match)
        self.writes["delete"] += 1
        self._after(crash)

    def apply_batch(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Apply up to ``capabilities.batch_size`` writes; one result per op.

        Faults armed for single operations apply to each op inside the batch; a
        failing op carries its error in its result; a crash escapes the whole call.

        Raises:
            ValidationError: more ops than the batch size.
        """
        if len(ops) > self._capabilities.batch_size:
            raise ValidationError(
                f"MemoryBackend.apply_batch: {len(ops)} ops exceed the batch size "
                f"{self._capabilities.batch_size}"
            )
        crash = self._before("apply_batch")
        results = apply_one_by_one(self, ops)
        self._after(crash)
        return results

    def flush(self) -> None:
        """Nothing to buffer: every write is applied at once."""

    def close(self) -> None:
        """Nothing to release."""

    # -- user side (no faults, not counted) -------------------------------------

    def user_create(self, item: CalendarItem) -> CalendarItem:
        """Add ``item`` as a user would (keeps ``item.sync_key``, e.g. a copy by
        another tool); return it with its new id and etag."""
        return self._create(item, item.sync_key)

    def user_update(self, item_id: str, **changes: Any) -> CalendarItem:
        """Edit fields of ``item_id`` as a user would.

        Raises:
            NotFound: no such item.
        """
        current = self._require(item_id)
        return self._store(current.evolve(**changes), current.sync_key)

    def user_delete(self, item_id: str) -> None:
        """Delete ``item_id`` as a user would.

        Raises:
            NotFound: no such item.
        """
        self._delete(item_id, None)

    def all_items(self) -> list[CalendarItem]:
        """Every stored item (the ground truth), in creation order."""
        return list(self._items.values())

    # -- fault injection ----------------------------------------------------------

    def inject(self, operation: str, fault: Fault, *, times: int = 1) -> None:
        """Make the next ``times`` calls of ``operation`` meet ``fault``.

        Args:
            operation: one of :data:`OPERATIONS`.
            fault: what happens.
            times: how many calls it affects.

        Raises:
            ValidationError: unknown operation or a count below 1.
        """
        if operation not in OPERATIONS:
            raise ValidationError(
                f"MemoryBackend.inject: unknown operation {operation!r}; "
                f"use one of {sorted(OPERATIONS)}"
            )
        if times < 1:
            raise ValidationError(f"MemoryBackend.inject: times must be >= 1, got {times}")
        self._faults.setdefault(operation, []).append(_Armed(fault, times))

    def clear_faults(self) -> None:
        """Disarm every injected fault."""
        self._faults.clear()

    @property
    def armed(self) -> int:
        """How many injected fault activations are still pending."""
        return sum(a.times for armed in self._faults.values() for a in armed)

    # -- internals ----------------------------------------------------------------

    def _take(self, operation: str) -> Fault | None:
        armed = self._faults.get(operation)
        if not armed:
            return None
        first = armed[0]
        first.times -= 1
        if first.times == 0:
            armed.pop(0)
            if not armed:
                del self._faults[operation]  # no faults armed: calls take the fast path
        return first.fault

    def _before(self, operation: str, *, write: bool = False) -> bool:
        self.calls[operation] += 1
        if write and self._capabilities.read_only:
            raise ReadOnlyBackend(f"{self._name} is read-only", backend=self._name)
        if not self._faults:
            return False
        crash = False
        for name in (operation, "write") if write else (operation,):
            fault = self._take(name)
            if fault is None:
                continue
            kind = fault.kind
            if kind is FaultKind.CALL:
                if fault.callback is not None:
                    fault.callback()
            elif kind is FaultKind.THROTTLE:
                raise Throttled(
                    f"{self._name}: {operation} throttled (injected)",
                    retry_after=fault.retry_after,
                    backend=self._name,
                )
            elif kind is FaultKind.UNAVAILABLE:
                raise BackendUnavailable(
                    f"{self._name}: {operation} failed with 503 (injected)", backend=self._name
                )
            elif kind is FaultKind.TIMEOUT:
                raise BackendUnavailable(
                    f"{self._name}: {operation} timed out (injected)", backend=self._name
                )
            elif kind is FaultKind.STALE_ETAG:
                raise VersionConflict(
                    f"{self._name}: {operation} refused: stale etag (injected)",
                    backend=self._name,
                )
            else:
                crash = True
        return crash

    def _after(self, crash: bool) -> None:
        if crash:
            raise InjectedCrash(f"{self._name}: process died after the call (injected)")

    def _require(self, item_id: str) -> CalendarItem:
        item = self._items.get(item_id)
        if item is None:
            raise NotFound(f"{self._name}: no item {item_id!r}", backend=self._name)
        return item

    def _store(
        self, item: CalendarItem, sync_key: str | None, item_id: str | None = None
    ) -> CalendarItem:
        # A direct constructor: attrs.evolve costs twice as much on this hot path.
        stored = CalendarItem(
            title=item.title,
            start=item.start,
            end=item.end,
            location=item.location,
            body=item.body,
            private=item.private,
            show_as=item.show_as,
            categories=item.categories,
            last_modified=self._clock.now(),
            id=item_id or item.id,
            etag=str(next(self._etags)),
            sync_key=sync_key,
            series_id=item.series_id,
            original_start=item.original_start,
            activity_type=item.activity_type,
            project_task=item.project_task,
        )
        if self._dropped:
            stored = attrs.evolve(stored, **self._dropped)
        assert stored.id is not None
        self._items[stored.id] = stored
        self._log.append(stored.id)
        return stored

    def _create(self, item: CalendarItem, sync_key: str | None) -> CalendarItem:
        item_id = f"{self._name}-{next(self._ids)}"
        stored = self._store(item, sync_key, item_id)
        if sync_key is not None:
            self._by_key.setdefault(sync_key, set()).add(item_id)
        return stored

    def _update(self, item_id: str, item: CalendarItem, if_match: str | None) -> CalendarItem:
        current = self._require(item_id)
        if if_match is not None and current.etag != if_match:
            raise VersionConflict(
                f"{self._name}: {item_id!r} has etag {current.etag!r}, not {if_match!r}",
                backend=self._name,
            )
        return self._store(item, current.sync_key, item_id)

    def _delete(self, item_id: str, if_match: str | None) -> None:
        current = self._require(item_id)
        if if_match is not None and current.etag != if_match:
            raise VersionConflict(
                f"{self._name}: {item_id!r} has etag {current.etag!r}, not {if_match!r}",
                backend=self._name,
            )
        del self._items[item_id]
        if current.sync_key is not None:
            keys = self._by_key.get(current.sync_key)
            if keys is not None:
                keys.discard(item_id)
                if not keys:
                    del self._by_key[current.sync_key]
        self._log.append(item_id)
