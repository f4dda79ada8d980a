"""The Severa side of a sync pair: a host's activities behind the backend protocol.

A host application keeps its users' activities in its own database; it implements the
small :class:`ActivityStore` protocol over them, and :class:`ActivityBackend` turns that
store into a :class:`~severa_ext.sync.protocol.Backend` the sync engine drives, by
mapping each :class:`~severa_ext.domain.Activity` to and from a
:class:`~severa_ext.sync.items.CalendarItem`:

============================  ===========================================
``Activity``                  ``CalendarItem``
============================  ===========================================
``title``                     ``title``
``start`` / ``end``           ``start`` / ``end`` (all-day: dates)
``location``                  ``location``
``description``               ``body``
``is_private``                ``private`` (S9)
``categories``                ``categories``
``activity_type_id``          ``activity_type``
the type's category           ``project_task`` (S8)
``version``                   ``etag``
``sync_key``                  ``sync_key`` (S3)
``last_modified``             ``last_modified``
============================  ===========================================

Activities have no free/busy state, so ``show_as`` is not kept. Which activity types go
out to the calendar (never project tasks, S8) and which type incoming entries get (S9)
is the sync policy's decision, not this adapter's: it maps faithfully and refuses an
item whose ``activity_type`` is missing or unknown with
:class:`~severa_ext.errors.BadItem`.

:class:`MemoryActivityStore` is the in-memory reference store for tests and examples.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from severa_ext.clock import Clock, SystemClock
from severa_ext.domain import Activity, ActivityType
from severa_ext.errors import (
    BackendUnavailable,
    BadItem,
    NotFound,
    SeveraExtError,
    ValidationError,
    VersionConflict,
)
from severa_ext.sync.items import CalendarItem, Capabilities, ChangeSet, Window
from severa_ext.sync.protocol import WriteOp, WriteResult, apply_one_by_one

__all__ = [
    "ACTIVITY_CONTENT_FIELDS",
    "ActivityBackend",
    "ActivityChanges",
    "ActivityStore",
    "BufferedActivityStore",
    "MemoryActivityStore",
]

logger = logging.getLogger(__name__)

ACTIVITY_CONTENT_FIELDS: tuple[str, ...] = (
    "title",
    "start",
    "end",
    "location",
    "body",
    "private",
    "categories",
)
"""The :data:`~severa_ext.sync.items.CONTENT_FIELDS` an activity keeps (no ``show_as``)."""


def _activity_tuple(values: Iterable[Activity]) -> tuple[Activity, ...]:
    return tuple(values)


def _str_tuple(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@attrs.frozen
class ActivityChanges:
    """What :meth:`ActivityStore.changed` returns.

    Attributes:
        activities: with no cursor, every activity of the user overlapping the window;
            with a cursor, every activity of the user written since it (inside the
            window or not: the adapter reports those outside as gone from the window).
        removed: ids of the user's activities deleted since the cursor.
        cursor: the opaque cursor to pass next time.
        full: True when ``activities`` is a complete listing (no cursor was given, or
            the cursor was no longer valid).
    """

    activities: tuple[Activity, ...] = attrs.field(default=(), converter=_activity_tuple)
    removed: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    cursor: str | None = None
    full: bool = False


@runtime_checkable
class ActivityStore(Protocol):
    """What a host implements over its activities so that they can be synced.

    Every stored activity carries a ``version`` that changes on every write (the
    sync's etag) and can hold a ``sync_key``. Methods raise
    :class:`~severa_ext.errors.NotFound` and :class:`~severa_ext.errors.VersionConflict`
    as documented; any other failure should be a
    :class:`~severa_ext.errors.BackendError` (the adapter wraps anything else in
    :class:`~severa_ext.errors.BackendUnavailable`).
    """

    def changed(
        self, user_id: str, cursor: str | None, *, start: datetime, end: datetime
    ) -> ActivityChanges:
        """The user's activities changed since ``cursor`` (see :class:`ActivityChanges`).

        Args:
            user_id: whose activities.
            cursor: from a previous call, or ``None`` for a full listing.
            start, end: the window; a full listing holds the activities overlapping it.
        """
        ...

    def get(self, activity_id: str) -> Activity | None:
        """The stored activity with ``activity_id``, or ``None``."""
        ...

    def create(self, activity: Activity) -> Activity:
        """Store a new activity; return it as stored (with its ``version``).

        ``activity.id`` is a fresh proposal; a store that assigns its own ids returns
        the activity with the id it chose.
        """
        ...

    def update(self, activity: Activity, *, if_version: str | None) -> Activity:
        """Replace the stored activity with ``activity.id``; return it as stored.

        Raises:
            NotFound: no such activity.
            VersionConflict: ``if_version`` is given and is not the stored version.
        """
        ...

    def delete(self, activity_id: str, *, if_version: str | None) -> None:
        """Delete the activity.

        Raises:
            NotFound: no such activity.
            VersionConflict: ``if_version`` is given and is not the stored version.
        """
        ...

    def find_by_sync_key(self, user_id: str, sync_key: str) -> tuple[Activity, ...]:
        """The user's activities stamped with ``sync_key``."""
        ...


@runtime_checkable
class BufferedActivityStore(ActivityStore, Protocol):
    """An :class:`ActivityStore` that keeps its writes until :meth:`flush`.

    :class:`ActivityBackend` flushes such a store from its own ``flush`` (the engine
    calls it at the end of each durable step, before its state commits the step) and
    closes it from its own ``close``. A store without these methods writes each
    write at once and is left alone.
    """

    def flush(self) -> None:
        """Make every write accepted so far durable.

        Raises:
            BackendError: they could not be (the writes stay buffered).
        """
        ...

    def close(self) -> None:
        """Write what is still buffered, or raise; the store may be used again."""
        ...


def _as_datetime(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _overlaps(activity: Activity, start: datetime, end: datetime) -> bool:
    first, last = _as_datetime(activity.start), _as_datetime(activity.end)
    if first == last:
        return start <= first < end
    return first < end and last > start


class MemoryActivityStore:
    """An in-memory :class:`ActivityStore` (tests, examples, the pytest plugin).

    Every write takes the next number of one store-wide sequence; an activity's
    ``version`` is the number of its last write and a cursor is the last number a
    listing saw, so a delta is "everything written after the cursor". Thread-safe.

    Args:
        activities: activities to start with (stored as they are, versions assigned).
        clock: stamps ``last_modified`` on every write; the system clock by default.
    """

    def __init__(self, activities: Sequence[Activity] = (), *, clock: Clock | None = None) -> None:
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._lock = threading.RLock()
        self._seq = 0
        self._activities: dict[str, tuple[int, Activity]] = {}
        self._tombstones: dict[str, tuple[int, str]] = {}  # id -> (seq, user_id)
        for activity in activities:
            self.create(activity)

    def __repr__(self) -> str:
        return f"MemoryActivityStore(activities={len(self._activities)})"

    def __len__(self) -> int:
        return len(self._activities)

    def activities(self) -> list[Activity]:
        """Every stored activity, of every user, in creation order."""
        with self._lock:
            return [activity for _, activity in self._activities.values()]

    def _stamp(self, activity: Activity) -> Activity:
        self._seq += 1
        stored = attrs.evolve(activity, version=str(self._seq), last_modified=self._clock.now())
        self._activities[stored.id] = (self._seq, stored)
        self._tombstones.pop(stored.id, None)
        return stored

    def _check(self, activity_id: str, if_version: str | None) -> Activity:
        entry = self._activities.get(activity_id)
        if entry is None:
            raise NotFound(f"no activity with id {activity_id!r}", backend="activities")
        stored = entry[1]
        if if_version is not None and stored.version != if_version:
            raise VersionConflict(
                f"activity {activity_id!r} is at version {stored.version!r}, not {if_version!r}",
                backend="activities",
            )
        return stored

    def changed(
        self, user_id: str, cursor: str | None, *, start: datetime, end: datetime
    ) -> ActivityChanges:
        with self._lock:
            since = _parse_cursor(cursor, self._seq)
            mine = [(seq, a) for seq, a in self._activities.values() if a.user_id == user_id]
            if since is None:
                listed = [a for _, a in mine if _overlaps(a, start, end)]
                return ActivityChanges(tuple(listed), (), str(self._seq), full=True)
            changed = [a for seq, a in mine if seq > since]
            removed = [
                activity_id
                for activity_id, (seq, owner) in self._tombstones.items()
                if seq > since and owner == user_id
            ]
            return ActivityChanges(tuple(changed), tuple(removed), str(self._seq), full=False)

    def get(self, activity_id: str) -> Activity | None:
        with self._lock:
            entry = self._activities.get(activity_id)
            return entry[1] if entry is not None else None

    def create(self, activity: Activity) -> Activity:
        with self._lock:
            if activity.id in self._activities:
                raise ValidationError(f"an activity with id {activity.id!r} already exists")
            return self._stamp(activity)

    def update(self, activity: Activity, *, if_version: str | None) -> Activity:
        with self._lock:
            self._check(activity.id, if_version)
            return self._stamp(activity)

    def delete(self, activity_id: str, *, if_version: str | None) -> None:
        with self._lock:
            stored = self._check(activity_id, if_version)
            del self._activities[activity_id]
            self._seq += 1
            self._tombstones[activity_id] = (self._seq, stored.user_id)

    def find_by_sync_key(self, user_id: str, sync_key: str) -> tuple[Activity, ...]:
        with self._lock:
            return tuple(
                a
                for _, a in self._activities.values()
                if a.user_id == user_id and a.sync_key == sync_key
            )


def _parse_cursor(cursor: str | None, current: int) -> int | None:
    """The sequence number a cursor names; ``None`` (full listing) when it is not ours."""
    if cursor is None:
        return None
    try:
        value = int(cursor)
    except ValueError:
        logger.warning("activity cursor %r is not valid; listing everything", cursor)
        return None
    if not 0 <= value <= current:
        logger.warning("activity cursor %r is out of range; listing everything", cursor)
        return None
    return value


class ActivityBackend:
    """A user's Severa activities as one side of a sync pair.

    Args:
        store: the host's :class:`ActivityStore`.
        user_id: whose activities this side holds; other users' activities are
            invisible (``get`` answers ``None``, writes raise ``NotFound``).
        activity_types: every activity type an activity may have, by id; the type's
            category decides ``CalendarItem.project_task`` (S8).

    Raises:
        ValidationError: ``user_id`` is blank or a mapping key is not its type's id.
    """

    def __init__(
        self,
        store: ActivityStore,
        *,
        user_id: str,
        activity_types: Mapping[str, ActivityType],
    ) -> None:
        if not user_id.strip():
            raise ValidationError("ActivityBackend: user_id must not be blank")
        for type_id, activity_type in activity_types.items():
            if type_id != activity_type.id:
                raise ValidationError(
                    f"ActivityBackend: activity_types key {type_id!r} does not match "
                    f"its type's id {activity_type.id!r}"
                )
        self._store = store
        self._buffered = store if isinstance(store, BufferedActivityStore) else None
        self._user_id = user_id
        self._types = dict(activity_types)
        self._problems: tuple[BadItem, ...] = ()

    def __repr__(self) -> str:
        return f"ActivityBackend(user_id={self._user_id!r}, types={sorted(self._types)})"

    @property
    def name(self) -> str:
        """``"activities:<user id>"``."""
        return f"activities:{self._user_id}"

    @property
    def store(self) -> ActivityStore:
        """The activity store this side reads and writes."""
        return self._store

    @property
    def user_id(self) -> str:
        """Whose activities this side holds."""
        return self._user_id

    @property
    def capabilities(self) -> Capabilities:
        """Delta listings, server-side sync key lookup, batches run one by one."""
        return Capabilities(
            delta=True,
            batch_size=100,
            read_only=False,
            sync_key_lookup=True,
            content_fields=frozenset(ACTIVITY_CONTENT_FIELDS),
        )

    @property
    def problems(self) -> tuple[BadItem, ...]:
        """Activities the last ``changes`` call skipped (an unknown type), as errors."""
        return self._problems

    def activity_type_ids(self) -> frozenset[str]:
        """The types an incoming calendar entry may get: every type but project tasks.

        The engine checks the policy's Personal type against them (S9, see
        :class:`~severa_ext.sync.protocol.ActivityTypeSource`).
        """
        return frozenset(t.id for t in self._types.values() if not t.is_project_task)

    # -- mapping -------------------------------------------------------------

    def _type(self, type_id: str | None, ref: str) -> ActivityType:
        if type_id is None:
            raise BadItem(ref, "it has no activity type", backend="activities")
        try:
            return self._types[type_id]
        except KeyError:
            raise BadItem(
                ref,
                f"unknown activity type {type_id!r} "
                f"(known: {', '.join(sorted(self._types)) or 'none'})",
                backend="activities",
            ) from None

    def to_item(self, activity: Activity) -> CalendarItem:
        """The calendar item of ``activity``.

        Raises:
            BadItem: the activity's type is not in ``activity_types``.
        """
        activity_type = self._type(activity.activity_type_id, activity.id)
        return CalendarItem(
            title=activity.title,
            start=activity.start,
            end=activity.end,
            location=activity.location,
            body=activity.description,
            private=activity.is_private,
            categories=activity.categories,
            last_modified=activity.last_modified,
            id=activity.id,
            etag=activity.version,
            sync_key=activity.sync_key,
            activity_type=activity_type.id,
            project_task=activity_type.is_project_task,
        )

    def to_activity(
        self, item: CalendarItem, *, activity_id: str, sync_key: str | None
    ) -> Activity:
        """The activity that stores ``item`` under ``activity_id`` for this user.

        Raises:
            BadItem: the item has no ``activity_type`` or an unknown one, or its values
                do not make a valid activity.
        """
        ref = item.id or item.sync_key or item.title
        activity_type = self._type(item.activity_type, ref)
        try:
            return Activity(
                id=activity_id,
                user_id=self._user_id,
                activity_type_id=activity_type.id,
                title=item.title,
                start=item.start,
                end=item.end,
                location=item.location,
                description=item.body,
                is_private=item.private,
                categories=item.categories,
                sync_key=sync_key,
            )
        except ValidationError as exc:
            raise BadItem(ref, str(exc), backend="activities") from exc

    @contextmanager
    def _edge(self, operation: str) -> Iterator[None]:
        """Let package errors through; wrap anything else a host store raises."""
        try:
            yield
        except SeveraExtError:
            raise
        except Exception as exc:
            raise BackendUnavailable(
                f"activity store failed to {operation}: {type(exc).__name__}: {exc}",
                backend="activities",
            ) from exc

    def _mine(self, activity_id: str) -> Activity:
        with self._edge("get"):
            activity = self._store.get(activity_id)
        if activity is None or activity.user_id != self._user_id:
            raise NotFound(f"no activity with id {activity_id!r}", backend="activities")
        return activity

    # -- the backend protocol --------------------------------------------------

    def changes(self, cursor: str | None, window: Window) -> ChangeSet:
        """The user's activities in ``window`` changed since ``cursor`` (all if ``None``).

        Activities written since the cursor that now lie outside the window are
        reported in ``removed`` (gone from the window); the engine tells a move from
        a delete with :meth:`get`. Activities of an unknown type are skipped and kept
        in :attr:`problems`.
        """
        with self._edge("list changes"):
            page = self._store.changed(self._user_id, cursor, start=window.start, end=window.end)
        items: list[CalendarItem] = []
        removed = list(page.removed)
        problems: list[BadItem] = []
        for activity in page.activities:
            try:
                item = self.to_item(activity)
            except BadItem as exc:
                logger.warning("skipping activity %s: %s", activity.id, exc)
                problems.append(exc)
                continue
            if window.contains(item):
                items.append(item)
            elif not page.full:
                removed.append(activity.id)
        self._problems = tuple(problems)
        # ChangeSet's converter=tuple is opaque to mypy: hand it Any values.
        listed: Any = tuple(items)
        gone: Any = tuple(removed)
        return ChangeSet(listed, gone, page.cursor, full=page.full)

    def get(self, item_id: str) -> CalendarItem | None:
        """The user's activity ``item_id`` as an item, or ``None``.

        Raises:
            BadItem: the activity's type is not in ``activity_types``.
        """
        with self._edge("get"):
            activity = self._store.get(item_id)
        if activity is None or activity.user_id != self._user_id:
            return None
        return self.to_item(activity)

    def find(self, sync_key: str) -> tuple[CalendarItem, ...]:
        """The user's activities stamped with ``sync_key`` (S3: more than one = duplicates)."""
        with self._edge("find by sync key"):
            found = self._store.find_by_sync_key(self._user_id, sync_key)
        return tuple(self.to_item(a) for a in found if a.user_id == self._user_id)

    def create(self, item: CalendarItem, sync_key: str) -> CalendarItem:
        """Store ``item`` as a new activity of the user stamped with ``sync_key``."""
        activity = self.to_activity(item, activity_id=uuid.uuid4().hex, sync_key=sync_key)
        with self._edge("create"):
            stored = self._store.create(activity)
        logger.debug("created activity %s (sync key %s)", stored.id, sync_key)
        return self.to_item(stored)

    def update(self, item_id: str, item: CalendarItem, if_match: str | None) -> CalendarItem:
        """Replace the content of activity ``item_id``; its sync key stays."""
        current = self._mine(item_id)
        activity = self.to_activity(item, activity_id=item_id, sync_key=current.sync_key)
        with self._edge("update"):
            stored = self._store.update(activity, if_version=if_match)
        return self.to_item(stored)

    def delete(self, item_id: str, if_match: str | None) -> None:
        """Delete the user's activity ``item_id``."""
        self._mine(item_id)
        with self._edge("delete"):
            self._store.delete(item_id, if_version=if_match)

    def apply_batch(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Run the writes one by one; a failing op carries its error, the rest go on."""
        return apply_one_by_one(self, ops)

    def flush(self) -> None:
        """Flush a :class:`BufferedActivityStore` (the activities file); for a store
        that writes each write at once, a no-op."""
        if self._buffered is not None:
            with self._edge("flush"):
                self._buffered.flush()

    def close(self) -> None:
        """Close a :class:`BufferedActivityStore` (it writes what is still buffered,
        or raises); any other store belongs to the host and is left alone."""
        if self._buffered is not None:
            with self._edge("close"):
                self._buffered.close()
