"""A local JSON file of activities: the Severa side without a server.

``activities:PATH`` in the command line. The file holds the user, the activity types
(with their category, so project tasks are known, S8) and the activities, in the shape
of :mod:`severa_ext.domain`; it is read and written through a cattrs converter, written
atomically (temporary file, ``fsync``, ``os.replace``), and a write is refused when the
file changed on disk since it was read (:class:`~severa_ext.errors.VersionConflict`).

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

import hashlib
import json
import os
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import attrs
import cattrs

from severa_ext._strict import describe, strict_converter, too_deep, type_name
from severa_ext.backends.activities import ActivityChanges
from severa_ext.clock import Clock, SystemClock
from severa_ext.domain import Activity, ActivityType, User
from severa_ext.errors import BackendError, BadItem, NotFound, VersionConflict

__all__ = ["ActivityFile", "ActivityFileData"]


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


def _make_converter() -> cattrs.Converter:
    converter = strict_converter()

    def when(value: Any, _type: Any) -> datetime | date:
        if not isinstance(value, str):
            raise ValueError(f"expected an ISO 8601 date or date-time, got {type_name(value)}")
        if "T" in value or " " in value.strip():
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                raise ValueError(f"date-time {value!r} needs a UTC offset")
            return parsed
        return date.fromisoformat(value)

    def optional_when(value: Any, _type: Any) -> datetime | None:
        if value is None:
            return None
        parsed = when(value, _type)
        if not isinstance(parsed, datetime):
            raise ValueError(f"expected a date-time, got {value!r}")
        return parsed

    converter.register_structure_hook(datetime | date, when)
    converter.register_structure_hook(datetime | None, optional_when)
    converter.register_unstructure_hook(datetime, lambda v: v.isoformat())
    converter.register_unstructure_hook(date, lambda v: v.isoformat())
    return converter


_CONVERTER = _make_converter()


def _invalid(path: Path, detail: str) -> BackendError:
    return BackendError(f"{path}: invalid activities file: {detail}", backend="activities")


def _load_json(path: Path, raw: bytes) -> dict[str, Any]:
    """The file's JSON object, its nesting bounded (never ``RecursionError``)."""
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except RecursionError:
        raise _invalid(path, "nested too deeply") from None
    except ValueError as exc:  # bad UTF-8, bad JSON, integers too long to read
        where = f", line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise BackendError(
            f"{path}{where}: not a JSON activities file: {exc}", backend="activities"
        ) from None
    if not isinstance(document, dict):
        raise _invalid(path, f"expected an object at the top, got {type_name(document)}")
    if too_deep(document):
        raise _invalid(path, "nested too deeply")
    return document


def _parse(path: Path, raw: bytes) -> ActivityFileData:
    """The file's content; every error names the field and, for an activity, the entry."""
    document = _load_json(path, raw)
    entries = document.pop("activities", [])
    if not isinstance(entries, list):
        raise _invalid(path, f"activities: expected a list, got {type_name(entries)}")
    try:
        data = _CONVERTER.structure(document, ActivityFileData)
    except (cattrs.BaseValidationError, ValueError) as exc:
        raise _invalid(path, describe(exc)) from None
    activities = []
    for index, entry in enumerate(entries):
        try:
            activities.append(_CONVERTER.structure(entry, Activity))
        except (cattrs.BaseValidationError, ValueError) as exc:
            name = entry.get("id") if isinstance(entry, dict) else None
            label = f"activities[{index}]" + (f" (id {name!r})" if isinstance(name, str) else "")
            raise _invalid(path, f"{label}: {describe(exc)}") from None
    return attrs.evolve(data, activities=tuple(activities))


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _unstructure_activity(activity: Activity) -> dict[str, Any]:
    raw: dict[str, Any] = _CONVERTER.unstructure(activity)
    raw.pop("version", None)
    if raw.get("sync_key") is None:
        raw.pop("sync_key", None)
    return raw


def _versioned(activity: Activity) -> Activity:
    """The activity with its version: a digest of everything else it holds."""
    body = json.dumps(_unstructure_activity(activity), sort_keys=True).encode("utf-8")
    return attrs.evolve(activity, version=_digest(body)[:16])


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

    Implements ``severa_ext.backends.activities.ActivityStore``, so
    ``severa_ext.backends.activities.ActivityBackend`` syncs it. Deltas are computed
    against the snapshots this object listed (an unknown cursor gives a full listing);
    every read re-reads the file if it changed, every write re-checks it first and is
    atomic.

    Args:
        path: the JSON file; it must exist (see :meth:`new`).
        clock: stamps ``last_modified`` on what is written.
    """

    def __init__(self, path: str | os.PathLike[str], *, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self._clock: Clock = clock or SystemClock()
        self._data: ActivityFileData | None = None
        self._digest: str | None = None
        self._stat: tuple[int, int] | None = None
        self._snapshots: dict[str, dict[str, str]] = {}

    def __repr__(self) -> str:
        return f"ActivityFile({str(self.path)!r})"

    @classmethod
    def new(
        cls, path: str | os.PathLike[str], data: ActivityFileData, *, clock: Clock | None = None
    ) -> ActivityFile:
        """Write ``data`` to a new file at ``path`` and open it."""
        store = cls(path, clock=clock)
        store._write(data, check=False)
        return store

    # --- reading -----------------------------------------------------------------

    def _read(self) -> ActivityFileData:
        try:
            stat = self.path.stat()
            signature = (stat.st_mtime_ns, stat.st_size)
            if self._data is not None and signature == self._stat:
                return self._data
            raw = self.path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"{self.path}: no such activities file", backend="activities") from exc
        except OSError as exc:
            raise BackendError(f"{self.path}: cannot be read: {exc}", backend="activities") from exc
        data = _parse(self.path, raw)
        known = {t.id for t in data.activity_types}
        seen: set[str] = set()
        for activity in data.activities:
            if activity.activity_type_id not in known:
                raise BackendError(
                    f"{self.path}: activity {activity.id!r} has unknown type "
                    f"{activity.activity_type_id!r}",
                    backend="activities",
                )
            if activity.id in seen:
                raise BackendError(
                    f"{self.path}: activity id {activity.id!r} appears twice", backend="activities"
                )
            seen.add(activity.id)
        data = attrs.evolve(data, activities=tuple(_versioned(a) for a in data.activities))
        self._data, self._digest, self._stat = data, _digest(raw), signature
        return data

    @property
    def data(self) -> ActivityFileData:
        """The file's current content."""
        return self._read()

    @property
    def user(self) -> User:
        """Whose activities the file holds."""
        return self._read().user

    def activity_types(self) -> dict[str, ActivityType]:
        """The activity types by id."""
        return {t.id: t for t in self._read().activity_types}

    # --- the ActivityStore protocol ---------------------------------------------

    def changed(
        self, user_id: str, cursor: str | None, *, start: datetime, end: datetime
    ) -> ActivityChanges:
        """The user's activities changed since ``cursor``.

        A cursor names a snapshot this object listed (the file's digest); the delta is
        the difference to it. An unknown cursor (another process, an old run) gives a
        full listing, as the protocol allows.
        """
        data = self._read()
        mine = {a.id: a for a in data.activities if a.user_id == user_id}
        new_cursor = f"{self._digest}:{user_id}"
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
        return next((a for a in self._read().activities if a.id == activity_id), None)

    def find_by_sync_key(self, user_id: str, sync_key: str) -> tuple[Activity, ...]:
        """The user's activities stamped with ``sync_key``."""
        return tuple(
            a for a in self._read().activities if a.user_id == user_id and a.sync_key == sync_key
        )

    def _check(self, activity_id: str, if_version: str | None) -> Activity:
        current = self.get(activity_id)
        if current is None:
            raise NotFound(f"{self.path}: no activity {activity_id!r}", backend="activities")
        if if_version is not None and current.version != if_version:
            raise VersionConflict(
                f"{self.path}: activity {activity_id!r} changed since it was read",
                backend="activities",
            )
        return current

    def _store(self, activity: Activity, *, replace: bool) -> Activity:
        data = self._read()
        if activity.activity_type_id not in {t.id for t in data.activity_types}:
            raise BadItem(
                activity.id,
                f"unknown activity type {activity.activity_type_id!r}",
                backend="activities",
            )
        stamped = _versioned(attrs.evolve(activity, last_modified=self._clock.now(), version=None))
        others = tuple(a for a in data.activities if a.id != activity.id)
        if not replace and len(others) != len(data.activities):
            raise BadItem(activity.id, "an activity with this id exists", backend="activities")
        self._write(attrs.evolve(data, activities=(*others, stamped)))
        return stamped

    def create(self, activity: Activity) -> Activity:
        """Add ``activity``; return it as stored (version, last_modified).

        Raises:
            VersionConflict: the file changed on disk since it was read.
            BadItem: the id exists or the type is unknown.
        """
        return self._store(activity, replace=False)

    def update(self, activity: Activity, *, if_version: str | None) -> Activity:
        """Replace the activity with ``activity.id``.

        Raises:
            NotFound: no such activity.
            VersionConflict: the activity or the file changed since it was read.
        """
        self._check(activity.id, if_version)
        return self._store(activity, replace=True)

    def delete(self, activity_id: str, *, if_version: str | None) -> None:
        """Delete ``activity_id``.

        Raises:
            NotFound: no such activity.
            VersionConflict: the activity or the file changed since it was read.
        """
        self._check(activity_id, if_version)
        data = self._read()
        remaining = tuple(a for a in data.activities if a.id != activity_id)
        self._write(attrs.evolve(data, activities=remaining))

    def flush(self) -> None:
        """Make every write accepted so far durable: a no-op, each write already is.

        Every create, update and delete replaces the file atomically (with an ``fsync``)
        before it returns, so nothing is ever buffered here.
        """

    # --- writing -----------------------------------------------------------------

    def _write(self, data: ActivityFileData, *, check: bool = True) -> None:
        if check and self._digest is not None:
            try:
                current = _digest(self.path.read_bytes())
            except OSError:
                current = None
            if current != self._digest:
                self._data = None
                raise VersionConflict(
                    f"{self.path} changed on disk since it was read; not overwriting it",
                    backend="activities",
                )
        document = {
            "user": _CONVERTER.unstructure(data.user),
            "activity_types": _CONVERTER.unstructure(data.activity_types),
            "activities": [_unstructure_activity(a) for a in data.activities],
        }
        raw = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        tmp_path = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            tmp_path.replace(self.path)
        except OSError as exc:
            tmp_path.unlink(missing_ok=True)
            raise BackendError(
                f"{self.path}: cannot be written: {exc}", backend="activities"
            ) from exc
        stat = self.path.stat()
        self._data = attrs.evolve(data, activities=tuple(_versioned(a) for a in data.activities))
        self._digest = _digest(raw)
        self._stat = (stat.st_mtime_ns, stat.st_size)
