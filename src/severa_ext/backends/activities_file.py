"""A local JSON file of activities: the Severa side without a server.

``activities:PATH`` in the command line. The file holds the user, the activity types
(with their category, so project tasks are known, S8) and the activities, in the shape
of :mod:`severa_ext.domain`; it is read through a strict cattrs converter.

Writes are buffered: ``create``, ``update`` and ``delete`` change the content in
memory, and :meth:`ActivityFile.flush` writes the file once for all of them,
atomically (a temporary file ``.<name>.<random>.tmp`` in the same folder, ``fsync``,
``os.replace``, ``fsync`` of the folder where the platform allows). The sync engine
calls ``flush`` (through :meth:`~severa_ext.backends.activities.ActivityBackend.flush`)
at the end of every durable step, before its state store commits the step, so a
crash never leaves the state pointing at a write the file does not hold. Each
activity's JSON text is kept as last rendered, so a flush after a few writes costs
one join of texts and the write itself: an initial sync into the file is linear.

A flush is refused when the file changed on disk since it was read
(:class:`~severa_ext.errors.VersionConflict`); a flush that fails keeps the buffered
writes (see :meth:`ActivityFile.flush`, :meth:`ActivityFile.discard`), and
:meth:`ActivityFile.close` writes what a caller left unflushed, or raises.

Example file::

    {
      "user": {"id": "u-1", "email": "alice@example.com", "name": "Alice"},
      "activity_types": [
        {"id": "meeting", "name": "Meeting"},
        {"id": "personal", "name": "Personal"},
        {"id": "task", "name": "Project task", "category": "project-task"}
      ],
      "activities": [
        {"id": "a-1", "user_id": "u-1", "activity_type_id": "meeting",
         "title": "Kick-off", "start": "2026-12-01T09:00:00+02:00",
         "end": "2026-12-01T10:00:00+02:00"}
      ]
    }

An activity the engine created or linked also holds its ``sync_key``.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import attrs

from severa_ext.backends._activities_json import parse, render_document, render_entry, versioned
from severa_ext.backends._atomic import remove_stale_temporaries, replace_file
from severa_ext.backends.activities import ActivityChanges
from severa_ext.clock import Clock, SystemClock
from severa_ext.domain import Activity, ActivityType, User
from severa_ext.errors import (
    BackendError,
    BackendUnavailable,
    BadItem,
    NotFound,
    ValidationError,
    VersionConflict,
)

__all__ = ["ActivityFile", "ActivityFileData"]

logger = logging.getLogger(__name__)


@attrs.frozen
class ActivityFileData:
    """The content of an activities file.

    Attributes:
        user: whose activities these are.
        activity_types: the organisation's activity types.
        activities: the activities (their ``sync_key`` is stored; their ``version`` is
            derived from their content, so a hand edit is seen as a change).
    """

    user: User
    activity_types: tuple[ActivityType, ...] = ()
    activities: tuple[Activity, ...] = ()


Signature = tuple[int, int, int]


def _signature(stat: os.stat_result) -> Signature:
    """What tells a changed file from the one read: inode, modification time, size."""
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


@attrs.frozen
class _OnDisk:
    """The file as last read or written by this object: its bytes (a flush compares
    the file with them, cheaper than hashing both) and its signature."""

    content: bytes = attrs.field(repr=False)
    signature: Signature


@attrs.define(eq=False)
class _Contents:
    """The file's content as this object holds it: as read, plus the unflushed writes.

    ``disk`` is ``None`` until the content was first written (:meth:`ActivityFile.new`):
    there is nothing on disk to compare with yet. ``texts`` holds every activity's
    rendered entry, in the order of ``activities`` (both dicts: an update keeps its
    place, a create goes last); it is built at the first flush after a read and then
    kept in step by every write, so a flush joins it as it is.
    """

    user: User
    activity_types: tuple[ActivityType, ...]
    activities: dict[str, Activity]
    disk: _OnDisk | None
    texts: dict[str, bytes] | None = None
    unflushed: int = 0

    def put(self, activity: Activity) -> None:
        """Store ``activity`` (new or replacing the one with its id)."""
        self.activities[activity.id] = activity
        if self.texts is not None:
            self.texts[activity.id] = render_entry(activity)
        self.unflushed += 1

    def remove(self, activity_id: str) -> None:
        """Delete the activity ``activity_id`` (it exists)."""
        del self.activities[activity_id]
        if self.texts is not None:
            del self.texts[activity_id]
        self.unflushed += 1

    def entries(self) -> Iterable[bytes]:
        """The rendered entries, in file order."""
        if self.texts is None:
            self.texts = {i: render_entry(a) for i, a in self.activities.items()}
        return self.texts.values()


def _overlaps(activity: Activity, start: datetime, end: datetime) -> bool:
    def instant(value: datetime | date) -> datetime:
        if isinstance(value, datetime):
            return value
        return datetime(value.year, value.month, value.day, tzinfo=UTC)

    first, last = instant(activity.start), instant(activity.end)
    if first == last:
        return start <= first < end
    return first < end and last > start


class ActivityFile:
    """Activities kept in a local JSON file: an ``ActivityStore`` without a server.

    Implements ``severa_ext.backends.activities.BufferedActivityStore``, so
    ``severa_ext.backends.activities.ActivityBackend`` syncs it and flushes it at the
    end of every durable step. Deltas are computed against the snapshots this object
    listed (an unknown cursor gives a full listing). While no write is buffered,
    every read re-reads the file if it changed on disk; once one is, reads answer
    from memory, and :meth:`flush` refuses to overwrite a file that changed since.

    The first read removes the temporary files a writer killed mid-flush left beside
    the file (``.<name>.<random>.tmp``, last changed more than 10 minutes ago; a
    fresh one, another process's flush in progress, is left alone).

    Args:
        path: the JSON file; it must exist (see :meth:`new`).
        clock: stamps ``last_modified`` on what is written.
    """

    def __init__(self, path: str | os.PathLike[str], *, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self._clock: Clock = clock or SystemClock()
        self._contents: _Contents | None = None
        self._swept = False
        self._token = secrets.token_hex(4)
        self._generation = 0
        self._snapshots: dict[str, dict[str, str]] = {}

    def __repr__(self) -> str:
        return f"ActivityFile({str(self.path)!r})"

    @classmethod
    def new(
        cls, path: str | os.PathLike[str], data: ActivityFileData, *, clock: Clock | None = None
    ) -> ActivityFile:
        """Write ``data`` to a new file at ``path`` (replacing any) and open it.

        Raises:
            ValidationError: an activity of a type ``data`` lacks, or an id twice.
            BackendUnavailable: the file cannot be written.
        """
        known = {t.id for t in data.activity_types}
        activities: dict[str, Activity] = {}
        for activity in data.activities:
            if activity.activity_type_id not in known or activity.id in activities:
                problem = "appears twice" if activity.id in activities else "has an unknown type"
                raise ValidationError(f"{path}: activity {activity.id!r} {problem}")
            activities[activity.id] = versioned(activity)
        store = cls(path, clock=clock)
        store._sweep()
        store._contents = _Contents(
            data.user, data.activity_types, activities, disk=None, unflushed=1
        )
        store.flush()
        return store

    # --- reading -----------------------------------------------------------------

    def _sweep(self) -> None:
        self._swept = True
        remove_stale_temporaries(self.path)

    def _current(self) -> _Contents:
        """The content: from memory while writes are buffered or the file is unchanged."""
        contents = self._contents
        if contents is not None and contents.unflushed:
            return contents
        try:
            signature = _signature(self.path.stat())
        except FileNotFoundError as exc:
            raise NotFound(f"{self.path}: no such activities file", backend="activities") from exc
        except OSError as exc:
            raise BackendError(f"{self.path}: cannot be read: {exc}", backend="activities") from exc
        disk = contents.disk if contents is not None else None
        if contents is not None and disk is not None and disk.signature == signature:
            return contents
        return self._load()

    def _load(self) -> _Contents:
        if not self._swept:
            self._sweep()
        try:
            with self.path.open("rb") as handle:
                signature = _signature(os.fstat(handle.fileno()))
                raw = handle.read()
        except FileNotFoundError as exc:
            raise NotFound(f"{self.path}: no such activities file", backend="activities") from exc
        except OSError as exc:
            raise BackendError(f"{self.path}: cannot be read: {exc}", backend="activities") from exc
        parsed = parse(self.path, raw)
        contents = _Contents(
            parsed.user,
            parsed.activity_types,
            {a.id: a for a in parsed.activities},
            disk=_OnDisk(raw, signature),
        )
        self._contents = contents
        self._generation += 1
        return contents

    @property
    def data(self) -> ActivityFileData:
        """The current content (with the writes not flushed yet)."""
        contents = self._current()
        return ActivityFileData(
            contents.user, contents.activity_types, tuple(contents.activities.values())
        )

    @property
    def user(self) -> User:
        """Whose activities the file holds."""
        return self._current().user

    @property
    def unflushed(self) -> int:
        """The number of writes accepted since the last flush; zero when none are buffered."""
        return self._contents.unflushed if self._contents is not None else 0

    def activity_types(self) -> dict[str, ActivityType]:
        """The activity types by id."""
        return {t.id: t for t in self._current().activity_types}

    # --- the ActivityStore protocol ---------------------------------------------

    def changed(
        self, user_id: str, cursor: str | None, *, start: datetime, end: datetime
    ) -> ActivityChanges:
        """The user's activities changed since ``cursor``.

        A cursor names a snapshot this object listed; the delta is the difference to
        it. An unknown cursor (another process, an old run) gives a full listing, as
        the protocol allows.
        """
        contents = self._current()
        mine = {a.id: a for a in contents.activities.values() if a.user_id == user_id}
        new_cursor = f"{self._token}.{self._generation}:{user_id}"
        self._snapshots[new_cursor] = {aid: a.version or "" for aid, a in mine.items()}
        while len(self._snapshots) > 16:
            self._snapshots.pop(next(iter(self._snapshots)))
        before = self._snapshots.get(cursor) if cursor is not None else None
        listed: Any  # ActivityChanges' converter=tuple is opaque to mypy
        if before is None:
            listed = [a for a in mine.values() if _overlaps(a, start, end)]
            return ActivityChanges(listed, (), new_cursor, full=True)
        listed = [a for aid, a in mine.items() if before.get(aid) != a.version]
        removed: Any = [aid for aid in before if aid not in mine]
        return ActivityChanges(listed, removed, new_cursor, full=False)

    def get(self, activity_id: str) -> Activity | None:
        """The activity with ``activity_id``, or ``None``."""
        return self._current().activities.get(activity_id)

    def find_by_sync_key(self, user_id: str, sync_key: str) -> tuple[Activity, ...]:
        """The user's activities stamped with ``sync_key``."""
        return tuple(
            a
            for a in self._current().activities.values()
            if a.user_id == user_id and a.sync_key == sync_key
        )

    def _check(self, activity_id: str, if_version: str | None) -> _Contents:
        contents = self._current()
        current = contents.activities.get(activity_id)
        if current is None:
            raise NotFound(f"{self.path}: no activity {activity_id!r}", backend="activities")
        if if_version is not None and current.version != if_version:
            raise VersionConflict(
                f"{self.path}: activity {activity_id!r} changed since it was read",
                backend="activities",
            )
        return contents

    def _store(self, contents: _Contents, activity: Activity) -> Activity:
        if activity.activity_type_id not in {t.id for t in contents.activity_types}:
            raise BadItem(
                activity.id,
                f"unknown activity type {activity.activity_type_id!r}",
                backend="activities",
            )
        stamped = versioned(attrs.evolve(activity, last_modified=self._clock.now(), version=None))
        contents.put(stamped)
        self._generation += 1
        return stamped

    def create(self, activity: Activity) -> Activity:
        """Add ``activity`` (buffered until :meth:`flush`); return it as stored.

        Raises:
            BadItem: the id exists or the type is unknown.
        """
        contents = self._current()
        if activity.id in contents.activities:
            raise BadItem(activity.id, "an activity with this id exists", backend="activities")
        return self._store(contents, activity)

    def update(self, activity: Activity, *, if_version: str | None) -> Activity:
        """Replace the activity with ``activity.id`` (buffered until :meth:`flush`).

        Raises:
            NotFound: no such activity.
            VersionConflict: the activity changed since it was read.
            BadItem: the type is unknown.
        """
        return self._store(self._check(activity.id, if_version), activity)

    def delete(self, activity_id: str, *, if_version: str | None) -> None:
        """Delete ``activity_id`` (buffered until :meth:`flush`).

        Raises:
            NotFound: no such activity.
            VersionConflict: the activity changed since it was read.
        """
        contents = self._check(activity_id, if_version)
        contents.remove(activity_id)
        self._generation += 1

    # --- writing -----------------------------------------------------------------

    def flush(self) -> None:
        """Write every buffered write to the file, once, atomically (a no-op if none).

        The file is replaced through a temporary file in its folder, fsynced, renamed
        over it, and the folder fsynced: after a crash it holds everything up to the
        last flush that returned, or everything up to the one before.

        Raises:
            VersionConflict: the file changed on disk since it was read (or is gone);
                it is not overwritten. The writes stay buffered: :meth:`discard`
                drops them, and the next read starts from the file.
            BackendUnavailable: the file cannot be read or written; the writes stay
                buffered, and a later flush tries again.
        """
        contents = self._contents
        if contents is None or not contents.unflushed:
            return
        self._refuse_if_changed(contents)
        raw = render_document(contents.user, contents.activity_types, contents.entries())
        try:
            written = replace_file(self.path, raw)
        except OSError as exc:
            raise BackendUnavailable(
                f"{self.path}: cannot be written ({contents.unflushed} writes kept for "
                f"the next flush): {exc}",
                backend="activities",
            ) from exc
        contents.disk = _OnDisk(raw, _signature(written))
        contents.unflushed = 0

    def _refuse_if_changed(self, contents: _Contents) -> None:
        if contents.disk is None:
            return  # new(): nothing was read, so nothing can have changed since
        try:
            current: bytes | None = self.path.read_bytes()
        except FileNotFoundError:
            current = None
        except OSError as exc:
            raise BackendUnavailable(
                f"{self.path}: cannot be read before writing ({contents.unflushed} writes "
                f"kept for the next flush): {exc}",
                backend="activities",
            ) from exc
        if current != contents.disk.content:
            raise VersionConflict(
                f"{self.path} changed on disk since it was read; not overwriting it "
                f"({contents.unflushed} writes not written)",
                backend="activities",
            )

    def discard(self) -> int:
        """Drop the buffered writes (after a refused flush); the next read starts from
        the file. Returns how many writes were dropped."""
        dropped = self.unflushed
        if dropped:
            logger.warning("%s: %d unflushed writes discarded", self.path, dropped)
        self._contents = None
        self._generation += 1
        return dropped

    def close(self) -> None:
        """Write what is still buffered (as :meth:`flush`), then forget the cached
        content; the object stays usable (the next read reads the file).

        The engine flushes before it commits each step, so writes left at close come
        from a run that stopped mid-step; they are written (and logged as a warning),
        which is safe: the engine finds a create by its sync key and sees an update
        as content both sides already agree on.

        Raises:
            VersionConflict, BackendUnavailable: as :meth:`flush`; the writes stay
                buffered (:meth:`discard` drops them).
        """
        pending = self.unflushed
        if pending:
            logger.warning("%s: %d writes not flushed; writing them at close", self.path, pending)
            try:
                self.flush()
            except BackendError as exc:
                logger.error("%s: %d writes not written at close: %s", self.path, pending, exc)
                raise
        self._contents = None
