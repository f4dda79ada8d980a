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
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import attrs
import cattrs

from severa_ext.domain import Activity, ActivityType, User
from severa_ext.errors import BackendError, NotFound, ValidationError, VersionConflict

__all__ = ["ActivityFile", "ActivityFileData"]


@attrs.frozen
class ActivityFileData:
    """The content of an activities file.

    Attributes:
        user: whose activities these are.
        activity_types: the organisation's activity types.
        activities: the activities.
        sync_keys: the sync key stamped on each activity the engine created or linked,
            by activity id.
    """

    user: User
    activity_types: tuple[ActivityType, ...] = ()
    activities: tuple[Activity, ...] = ()
    sync_keys: dict[str, str] = attrs.field(factory=dict)


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)

    def when(value: Any, _type: Any) -> datetime | date:
        if not isinstance(value, str):
            raise ValueError(f"expected an ISO 8601 date or date-time string, got {value!r}")
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


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class ActivityFile:
    """Activities kept in a local JSON file (a stand-in for a Severa server).

    Args:
        path: the JSON file; it must exist (see :meth:`create`).

    Every read re-reads the file if it changed; every write re-checks it first.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._data: ActivityFileData | None = None
        self._digest: str | None = None
        self._stat: tuple[int, int] | None = None

    def __repr__(self) -> str:
        return f"ActivityFile({str(self.path)!r})"

    @classmethod
    def create(cls, path: str | os.PathLike[str], data: ActivityFileData) -> ActivityFile:
        """Write ``data`` to a new file at ``path`` and open it."""
        store = cls(path)
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
        try:
            document = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            where = f", line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise BackendError(
                f"{self.path}{where}: not a JSON activities file: {exc}", backend="activities"
            ) from exc
        try:
            data = _CONVERTER.structure(document, ActivityFileData)
        except (cattrs.BaseValidationError, ValidationError, ValueError, TypeError) as exc:
            detail = (
                "; ".join(cattrs.transform_error(exc))
                if isinstance(exc, cattrs.BaseValidationError)
                else str(exc)
            )
            raise BackendError(
                f"{self.path}: invalid activities file: {detail}", backend="activities"
            ) from exc
        known = {t.id for t in data.activity_types}
        for activity in data.activities:
            if activity.activity_type_id not in known:
                raise BackendError(
                    f"{self.path}: activity {activity.id!r} has unknown type "
                    f"{activity.activity_type_id!r}",
                    backend="activities",
                )
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

    def activity_types(self) -> tuple[ActivityType, ...]:
        """The activity types."""
        return self._read().activity_types

    def activities(self) -> Iterator[Activity]:
        """Every activity."""
        return iter(self._read().activities)

    def get(self, activity_id: str) -> Activity | None:
        """The activity with ``activity_id``, or ``None``."""
        return next((a for a in self._read().activities if a.id == activity_id), None)

    def sync_key(self, activity_id: str) -> str | None:
        """The sync key stamped on ``activity_id``, if any."""
        return self._read().sync_keys.get(activity_id)

    def find(self, sync_key: str) -> tuple[Activity, ...]:
        """Activities stamped with ``sync_key``."""
        data = self._read()
        ids = {aid for aid, key in data.sync_keys.items() if key == sync_key}
        return tuple(a for a in data.activities if a.id in ids)

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
        payload = json.dumps(_CONVERTER.unstructure(data), indent=2, ensure_ascii=False)
        raw = (payload + "\n").encode("utf-8")
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
        self._data, self._digest = data, _digest(raw)
        self._stat = (stat.st_mtime_ns, stat.st_size)

    def put(self, activity: Activity, *, sync_key: str | None = None) -> Activity:
        """Add or replace ``activity`` (by id), optionally stamping ``sync_key``.

        Raises:
            VersionConflict: the file changed on disk since it was read.
            BackendError: the activity's type is unknown.
        """
        data = self._read()
        if activity.activity_type_id not in {t.id for t in data.activity_types}:
            raise BackendError(
                f"{self.path}: unknown activity type {activity.activity_type_id!r}",
                backend="activities",
            )
        others = tuple(a for a in data.activities if a.id != activity.id)
        keys = dict(data.sync_keys)
        if sync_key is not None:
            keys[activity.id] = sync_key
        self._write(attrs.evolve(data, activities=(*others, activity), sync_keys=keys))
        return activity

    def remove(self, activity_id: str) -> None:
        """Delete ``activity_id``.

        Raises:
            NotFound: no such activity.
            VersionConflict: the file changed on disk since it was read.
        """
        data = self._read()
        if not any(a.id == activity_id for a in data.activities):
            raise NotFound(f"{self.path}: no activity {activity_id!r}", backend="activities")
        keys = {k: v for k, v in data.sync_keys.items() if k != activity_id}
        remaining = tuple(a for a in data.activities if a.id != activity_id)
        self._write(attrs.evolve(data, activities=remaining, sync_keys=keys))

    @staticmethod
    def new_id() -> str:
        """A fresh activity id."""
        return f"act-{uuid.uuid4().hex[:12]}"
