"""Fault injection: the one injector, around any backend.

:class:`FaultyBackend` wraps a :class:`~severa_ext.sync.protocol.Backend` (the memory
reference, an ICS file, Graph or EWS against their fake servers, a host's own
adapter) and gives it fault injection: ``inject(operation, fault, times=...)`` arms a
``Fault`` for
the next calls of one operation, ``clear_faults()`` disarms everything, ``armed``
counts what is still pending and ``writes``/``write_count`` count the successful
protocol writes. State-machine side drivers use it so that a crash after a write or a
user edit between the engine's listing and its write (rules S3, S11) happens the same
way whatever the backend.

What each fault kind does to the next call of its operation:

* ``Fault.throttle(retry_after)``: raises ``Throttled`` carrying ``retry_after``;
* ``Fault.unavailable()`` and ``Fault.timeout()``: raise ``BackendUnavailable``;
* ``Fault.stale_etag()``: raises ``VersionConflict`` without calling the backend;
* ``Fault.call(callback)``: runs ``callback``, then the call;
* ``Fault.crash_after_write()``: makes the call, then raises ``InjectedCrash`` (the
  write is stored, the process "dies" before it sees the reply).

The operation ``"write"`` matches every ``create``, ``update`` and ``delete``, also
those inside a batch. ``apply_batch`` meets its own faults once per call (a transient
fault fails the whole call, a crash comes after every op); while a fault for a single
write is armed, the batch runs op by op through the wrapper, so each op meets it and a
failing op carries its error in its result.
Otherwise the batch goes to the wrapped backend's own ``apply_batch``.

A fake server can instead produce the transient faults on the wire (a 429 with
``Retry-After``, an ``ErrorServerBusy`` SOAP fault), so that the real backend's own
retries and error translation are exercised: pass ``wire``, and ``after_wire`` to
disarm what it set up once the call is over.

Example::

    backend = FaultyBackend(IcsBackend(path))
    backend.inject("write", Fault.crash_after_write())
"""

from __future__ import annotations

import enum
import itertools
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs

from severa_ext.backends.base import (
    Backend,
    CreateOp,
    UpdateOp,
    WriteOp,
    WriteResult,
    apply_one_by_one,
)
from severa_ext.backends.memory import MemoryCalendar
from severa_ext.clock import Clock
from severa_ext.errors import BackendUnavailable, Throttled, ValidationError, VersionConflict
from severa_ext.sync.items import CalendarItem, Capabilities, ChangeSet, Window

__all__ = [
    "OPERATIONS",
    "Fault",
    "FaultKind",
    "FaultyBackend",
    "InjectedCrash",
    "MemoryBackend",
]

_T = TypeVar("_T")

OPERATIONS: frozenset[str] = frozenset(
    {"changes", "get", "find", "create", "update", "delete", "apply_batch", "write"}
)
"""Operation names :meth:`FaultyBackend.inject` accepts (``"write"``: any of
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


_SINGLE_WRITES = ("create", "update", "delete", "write")
_REFUSALS: dict[FaultKind, tuple[type[BackendUnavailable | VersionConflict], str]] = {
    FaultKind.UNAVAILABLE: (BackendUnavailable, "failed with 503"),
    FaultKind.TIMEOUT: (BackendUnavailable, "timed out"),
    FaultKind.STALE_ETAG: (VersionConflict, "refused: stale etag"),
}
"""What a refusing fault raises (a throttle raises ``Throttled`` with its wait)."""


def _op_name(op: WriteOp) -> str:
    if isinstance(op, CreateOp):
        return "create"
    if isinstance(op, UpdateOp):
        return "update"
    return "delete"


class FaultyBackend:
    """A backend with fault injection around another backend.

    Every protocol call goes to ``inner``; armed faults act before it (errors,
    callbacks) or after it (a crash). The wrapper is itself a
    :class:`~severa_ext.sync.protocol.Backend`.

    Args:
        inner: the backend to wrap; the wrapper closes it on ``close``.
        capabilities: what to announce instead of ``inner.capabilities`` (for example
            a small ``batch_size`` to exercise batching).
        wire: called as ``wire(operation, fault)`` for a throttle, unavailable,
            timeout or stale-etag fault met by ``operation``; it returns True when it
            has made the server answer the coming call with that fault (the inner
            backend then raises the error itself), False to have the wrapper raise it.
        after_wire: called after each call for which ``wire`` returned True, also
            when the call failed, to disarm what ``wire`` set up.

    Example:
        >>> from severa_ext.backends.memory import MemoryCalendar
        >>> backend = FaultyBackend(MemoryCalendar("calendar"))
        >>> backend.inject("get", Fault.unavailable(), times=2)
        >>> backend.armed
        2
    """

    def __init__(
        self,
        inner: Backend,
        *,
        capabilities: Capabilities | None = None,
        wire: Callable[[str, Fault], bool] | None = None,
        after_wire: Callable[[], None] | None = None,
    ) -> None:
        self.inner = inner
        """The wrapped backend."""
        self._capabilities = capabilities
        self._wire = wire
        self._after_wire = after_wire
        # One entry per pending activation, oldest first, by operation.
        self._pending: dict[str, deque[Fault]] = {}
        self.writes: Counter[str] = Counter()
        """Successful protocol writes by operation (``create``/``update``/``delete``)."""
        self.calls: Counter[str] = Counter()
        """Protocol calls by operation, successful or not."""

    def __repr__(self) -> str:
        return f"FaultyBackend({self.inner!r}, armed={self.armed})"

    # -- protocol ---------------------------------------------------------------

    @property
    def name(self) -> str:
        """The wrapped backend's name."""
        return self.inner.name

    @property
    def capabilities(self) -> Capabilities:
        """The capabilities given to the constructor, else the wrapped backend's."""
        return self.inner.capabilities if self._capabilities is None else self._capabilities

    @property
    def write_count(self) -> int:
        """The total of successful protocol writes."""
        return sum(self.writes.values())

    def changes(self, cursor: str | None, window: Window) -> ChangeSet:
        """``inner.changes`` behind the faults armed for ``"changes"``."""
        return self._call("changes", lambda: self.inner.changes(cursor, window))

    def get(self, item_id: str) -> CalendarItem | None:
        """``inner.get`` behind the faults armed for ``"get"``."""
        return self._call("get", lambda: self.inner.get(item_id))

    def find(self, sync_key: str) -> tuple[CalendarItem, ...]:
        """``inner.find`` behind the faults armed for ``"find"``."""
        return self._call("find", lambda: self.inner.find(sync_key))

    def create(self, item: CalendarItem, sync_key: str) -> CalendarItem:
        """``inner.create`` behind the faults armed for ``"create"`` and ``"write"``."""
        return self._call("create", lambda: self.inner.create(item, sync_key), write=True)

    def update(self, item_id: str, item: CalendarItem, if_match: str | None) -> CalendarItem:
        """``inner.update`` behind the faults armed for ``"update"`` and ``"write"``."""
        return self._call("update", lambda: self.inner.update(item_id, item, if_match), write=True)

    def delete(self, item_id: str, if_match: str | None) -> None:
        """``inner.delete`` behind the faults armed for ``"delete"`` and ``"write"``."""
        self._call("delete", lambda: self.inner.delete(item_id, if_match), write=True)

    def apply_batch(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Apply up to ``capabilities.batch_size`` writes; one result per op.

        Faults armed for ``"apply_batch"`` act once on the whole call. While a fault
        for a single write is armed the ops run one by one through this wrapper, so
        each op meets it (a failing op carries its error, a crash escapes at once);
        otherwise they go to ``inner.apply_batch`` together.

        Raises:
            ValidationError: more ops than the batch size.
        """
        size = self.capabilities.batch_size
        if len(ops) > size:
            raise ValidationError(
                f"{type(self).__name__}.apply_batch: {len(ops)} ops exceed the batch size {size}"
            )
        return self._call("apply_batch", lambda: self._batch(ops))

    def flush(self) -> None:
        """Flush the wrapped backend."""
        self.inner.flush()

    def close(self) -> None:
        """Close the wrapped backend."""
        self.inner.close()

    # -- fault injection ----------------------------------------------------------

    def inject(self, operation: str, fault: Fault, *, times: int = 1) -> None:
        """Make the next ``times`` calls of ``operation`` meet ``fault``.

        Args:
            operation: one of :data:`OPERATIONS`
                (``"write"``: any create / update / delete, also inside a batch).
            fault: what happens.
            times: how many calls it affects.

        Raises:
            ValidationError: unknown operation or a count below 1.
        """
        if operation not in OPERATIONS or times < 1:
            wanted = f"one of {sorted(OPERATIONS)}" if times >= 1 else "times >= 1"
            raise ValidationError(
                f"{type(self).__name__}.inject({operation!r}, times={times}): expected {wanted}"
            )
        self._pending.setdefault(operation, deque()).extend(itertools.repeat(fault, times))

    def clear_faults(self) -> None:
        """Disarm every injected fault."""
        self._pending.clear()

    @property
    def armed(self) -> int:
        """How many injected fault activations are still pending."""
        return sum(map(len, self._pending.values()))

    # -- internals ----------------------------------------------------------------

    def _batch(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        if any(self._pending.get(name) for name in _SINGLE_WRITES):
            return apply_one_by_one(self, ops)  # counts its writes through self
        results = self.inner.apply_batch(ops)
        self.writes.update(_op_name(r.op) for r in results if r.ok)
        return results

    def _call(self, operation: str, run: Callable[[], _T], *, write: bool = False) -> _T:
        self.calls[operation] += 1
        crash = False
        wired = False
        try:
            for name in (operation, "write") if write else (operation,):
                queue = self._pending.get(name)
                if not queue:
                    continue
                fault = queue.popleft()
                if fault.kind is FaultKind.CALL:
                    if fault.callback is not None:
                        fault.callback()
                elif fault.kind is FaultKind.CRASH_AFTER_WRITE:
                    crash = True
                elif self._wire is not None and self._wire(operation, fault):
                    wired = True
                else:
                    self._raise(operation, fault)
            result = run()
        finally:
            if wired and self._after_wire is not None:
                self._after_wire()
        if write:
            self.writes[operation] += 1
        if crash:
            raise InjectedCrash(f"{self.name}: process died after {operation} (injected)")
        return result

    def _raise(self, operation: str, fault: Fault) -> None:
        name = self.name
        if fault.kind is FaultKind.THROTTLE:
            text = f"{name}: {operation} throttled (injected)"
            raise Throttled(text, retry_after=fault.retry_after, backend=name)
        error, what = _REFUSALS[fault.kind]
        raise error(f"{name}: {operation} {what} (injected)", backend=name)


class MemoryBackend(FaultyBackend):
    """The memory reference backend with fault injection: the tests' calendar.

    A :class:`~severa_ext.backends.memory.MemoryCalendar` inside a
    :class:`FaultyBackend`; ``apply_batch`` runs its ops one by one through the
    wrapper, so each op is counted and meets its faults. The user-side methods play
    the human editing the calendar; they never meet injected faults and are not
    counted as writes.

    Args:
        name: a short name for logs and the journal.
        capabilities: what it announces (see ``MemoryCalendar``).
        clock: stamps ``last_modified``; the system clock by default.

    Example:
        >>> backend = MemoryBackend("calendar")
        >>> backend.inject("get", Fault.unavailable(), times=2)
        >>> backend.armed
        2
    """

    def __init__(
        self,
        name: str = "memory",
        *,
        capabilities: Capabilities | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.calendar = MemoryCalendar(name, capabilities=capabilities, clock=clock)
        """The calendar itself, without faults."""
        super().__init__(self.calendar)

    def __repr__(self) -> str:
        return f"MemoryBackend({self.name!r}, items={len(self.calendar.all_items())})"

    def _batch(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        # Op by op through the wrapper, as the calendar itself would: each op is a
        # counted call and meets the faults armed for its operation.
        return apply_one_by_one(self, ops)

    def user_create(self, item: CalendarItem) -> CalendarItem:
        """Add ``item`` as a user would (see ``MemoryCalendar.user_create``)."""
        return self.calendar.user_create(item)

    def user_update(self, item_id: str, **changes: Any) -> CalendarItem:
        """Edit fields of ``item_id`` as a user would.

        Raises:
            NotFound: no such item.
        """
        return self.calendar.user_update(item_id, **changes)

    def user_delete(self, item_id: str) -> None:
        """Delete ``item_id`` as a user would.

        Raises:
            NotFound: no such item.
        """
        self.calendar.user_delete(item_id)

    def all_items(self) -> list[CalendarItem]:
        """Every stored item (the ground truth), in creation order."""
        return self.calendar.all_items()
