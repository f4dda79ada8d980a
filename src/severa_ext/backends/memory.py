"""The in-memory reference backend: ids, etags, delta cursors, sync-key lookup.

:class:`MemoryCalendar` implements :class:`~severa_ext.sync.protocol.Backend` the way
a real calendar server behaves: every stored item gets an id and an etag, writes are
guarded by ``if_match``, ``changes`` returns deltas from a cursor (cost proportional
to the changes, not to the calendar), and ``find`` looks items up by sync key. Beside
the protocol, the user-side methods (``user_create``, ``user_update``,
``user_delete``, ``all_items``) play the human editing the calendar.

Fault injection is test support and lives in :mod:`severa_ext.testing.faults`:
:class:`~severa_ext.testing.faults.MemoryBackend` is a ``MemoryCalendar`` with
``inject``, and it, ``Fault``, ``FaultKind``, ``InjectedCrash`` and ``OPERATIONS``
are still importable from here (loaded on first use).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from severa_ext.clock import Clock, SystemClock
from severa_ext.errors import NotFound, ReadOnlyBackend, ValidationError, VersionConflict
from severa_ext.sync.items import CalendarItem, Capabilities, ChangeSet, ShowAs, Window
from severa_ext.sync.protocol import WriteOp, WriteResult, apply_one_by_one

if TYPE_CHECKING:
    from severa_ext.testing.faults import (
        OPERATIONS,
        Fault,
        FaultKind,
        InjectedCrash,
        MemoryBackend,
    )

__all__ = [
    "OPERATIONS",
    "Fault",
    "FaultKind",
    "InjectedCrash",
    "MemoryBackend",
    "MemoryCalendar",
]

_TEST_SUPPORT = frozenset({"OPERATIONS", "Fault", "FaultKind", "InjectedCrash", "MemoryBackend"})


def __getattr__(name: str) -> Any:
    """The fault-injection names, which moved to :mod:`severa_ext.testing.faults`."""
    if name in _TEST_SUPPORT:
        from severa_ext.testing import faults

        return getattr(faults, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _parse_cursor(cursor: str) -> tuple[int, str]:
    position, _, token = cursor.partition("@")
    if not position.isdigit() or not token:
        raise ValidationError(f"MemoryCalendar: not a cursor of this backend: {cursor!r}")
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


class MemoryCalendar:
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
        >>> cal = MemoryCalendar("cal")
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
        # The id of the first item with each sync key, and the ids of any further
        # items with it (a copy another tool made; rare): no container per item.
        self._by_key: dict[str, str] = {}
        self._more_by_key: dict[str, list[str]] = {}
        self._log: list[str] = []
        self._ids = itertools.count(1)
        self._etags = itertools.count(1)
        kept = self._capabilities.content_fields
        self._dropped: dict[str, Any] = (
            {}
            if kept is None
            else {name: value for name, value in _DROPPABLE.items() if name not in kept}
        )

    def __repr__(self) -> str:
        return f"MemoryCalendar({self._name!r}, items={len(self._items)})"

    # -- protocol ---------------------------------------------------------------

    @property
    def name(self) -> str:
        """The backend's name."""
        return self._name

    @property
    def capabilities(self) -> Capabilities:
        """What this backend announces."""
        return self._capabilities

    def changes(self, cursor: str | None, window: Window) -> ChangeSet:
        """Items changed in ``window`` since ``cursor`` (a full listing without one).

        A delta reports an item that left the window, or was deleted, in
        ``removed``. A cursor taken for another window gives a full listing, as a
        Graph delta link does.

        Raises:
            ValidationError: ``cursor`` is not one of this backend's cursors.
        """
        token = _window_token(window)
        position = len(self._log)
        next_cursor = f"{position}@{token}" if self._capabilities.delta else None
        full = True
        if cursor is not None and self._capabilities.delta:
            start, old_token = _parse_cursor(cursor)
            if start > position:
                raise ValidationError(f"MemoryCalendar: cursor {cursor!r} is from the future")
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
        return result

    def get(self, item_id: str) -> CalendarItem | None:
        """The item with ``item_id``, in or out of any window; ``None`` if deleted."""
        return self._items.get(item_id)

    def find(self, sync_key: str) -> tuple[CalendarItem, ...]:
        """Every item stamped with ``sync_key``."""
        return tuple(self._items[i] for i in sorted(self._ids_of(sync_key)))

    def create(self, item: CalendarItem, sync_key: str) -> CalendarItem:
        """Store ``item`` stamped with ``sync_key``; return it with its id and etag."""
        self._writable()
        return self._create(item, sync_key)

    def update(self, item_id: str, item: CalendarItem, if_match: str | None) -> CalendarItem:
        """Replace the content of ``item_id`` (its sync key stays).

        Raises:
            NotFound: no such item.
            VersionConflict: its etag is not ``if_match``.
        """
        self._writable()
        return self._update(item_id, item, if_match)

    def delete(self, item_id: str, if_match: str | None) -> None:
        """Delete ``item_id``.

        Raises:
            NotFound: no such item.
            VersionConflict: its etag is not ``if_match``.
        """
        self._writable()
        self._delete(item_id, if_match)

    def apply_batch(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Apply up to ``capabilities.batch_size`` writes one by one; one result per op.

        A failing op carries its error in its result.

        Raises:
            ValidationError: more ops than the batch size.
        """
        if len(ops) > self._capabilities.batch_size:
            raise ValidationError(
                f"MemoryCalendar.apply_batch: {len(ops)} ops exceed the batch size "
                f"{self._capabilities.batch_size}"
            )
        return apply_one_by_one(self, ops)

    def flush(self) -> None:
        """Nothing to buffer: every write is applied at once."""

    def close(self) -> None:
        """Nothing to release."""

    # -- user side (not protocol writes) ----------------------------------------

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

    # -- internals ----------------------------------------------------------------

    def _writable(self) -> None:
        if self._capabilities.read_only:
            raise ReadOnlyBackend(f"{self._name} is read-only", backend=self._name)

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
        if sync_key is not None and self._by_key.setdefault(sync_key, item_id) != item_id:
            self._more_by_key.setdefault(sync_key, []).append(item_id)
        return stored

    def _ids_of(self, sync_key: str) -> list[str]:
        first = self._by_key.get(sync_key)
        return [] if first is None else [first, *self._more_by_key.get(sync_key, ())]

    def _unindex(self, sync_key: str, item_id: str) -> None:
        ids = [i for i in self._ids_of(sync_key) if i != item_id]
        self._by_key.pop(sync_key, None)
        self._more_by_key.pop(sync_key, None)
        if ids:
            self._by_key[sync_key] = ids[0]
            if ids[1:]:
                self._more_by_key[sync_key] = ids[1:]

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
            self._unindex(current.sync_key, item_id)
        self._log.append(item_id)
