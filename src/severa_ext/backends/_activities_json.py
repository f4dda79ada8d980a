"""The JSON of an activities file: strict reading, versions, and rendering by entry.

Private helper of :mod:`severa_ext.backends.activities_file`. Reading goes through a
strict cattrs converter (every error names the field and, for an activity, the
entry). Writing renders each activity once, as the text it has inside the document
(:func:`render_entry`), so that writing the file again after a few changes is one
join of the entries' texts (:func:`render_document`), not a serialisation of every
activity; the result is byte for byte ``json.dumps(document, indent=2)``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import attrs
import cattrs

from severa_ext._strict import describe, strict_converter, too_deep, type_name
from severa_ext.domain import Activity, ActivityType, User
from severa_ext.errors import BackendError

__all__ = ["Parsed", "digest", "parse", "render_document", "render_entry", "versioned"]


@attrs.frozen
class _Head:
    """Everything of the document but its activities (strict: unknown keys refused)."""

    user: User
    activity_types: tuple[ActivityType, ...] = ()


@attrs.frozen
class Parsed:
    """A valid activities file: every activity versioned, of a known type, ids unique."""

    user: User
    activity_types: tuple[ActivityType, ...]
    activities: tuple[Activity, ...]


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


def invalid(path: Path, detail: str) -> BackendError:
    """The error for a file that is not a valid activities file."""
    return BackendError(f"{path}: invalid activities file: {detail}", backend="activities")


def _load_json(path: Path, raw: bytes) -> dict[str, Any]:
    """The file's JSON object, its nesting bounded (never ``RecursionError``)."""
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except RecursionError:
        raise invalid(path, "nested too deeply") from None
    except ValueError as exc:  # bad UTF-8, bad JSON, integers too long to read
        where = f", line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise BackendError(
            f"{path}{where}: not a JSON activities file: {exc}", backend="activities"
        ) from None
    if not isinstance(document, dict):
        raise invalid(path, f"expected an object at the top, got {type_name(document)}")
    if too_deep(document):
        raise invalid(path, "nested too deeply")
    return document


def _structure_activities(path: Path, entries: list[Any]) -> list[Activity]:
    activities = []
    for index, entry in enumerate(entries):
        try:
            activities.append(_CONVERTER.structure(entry, Activity))
        except (cattrs.BaseValidationError, ValueError) as exc:
            name = entry.get("id") if isinstance(entry, dict) else None
            label = f"activities[{index}]" + (f" (id {name!r})" if isinstance(name, str) else "")
            raise invalid(path, f"{label}: {describe(exc)}") from None
    return activities


def _check_references(path: Path, head: _Head, activities: Iterable[Activity]) -> None:
    known = {t.id for t in head.activity_types}
    seen: set[str] = set()
    for activity in activities:
        if activity.activity_type_id not in known:
            raise BackendError(
                f"{path}: activity {activity.id!r} has unknown type {activity.activity_type_id!r}",
                backend="activities",
            )
        if activity.id in seen:
            raise BackendError(
                f"{path}: activity id {activity.id!r} appears twice", backend="activities"
            )
        seen.add(activity.id)


def parse(path: Path, raw: bytes) -> Parsed:
    """The file's content, each activity with its version.

    Raises:
        BackendError: not JSON, not an activities file (naming the field and the
            entry), an activity of an unknown type, an id twice.
    """
    document = _load_json(path, raw)
    entries = document.pop("activities", [])
    if not isinstance(entries, list):
        raise invalid(path, f"activities: expected a list, got {type_name(entries)}")
    try:
        head = _CONVERTER.structure(document, _Head)
    except (cattrs.BaseValidationError, ValueError) as exc:
        raise invalid(path, describe(exc)) from None
    activities = _structure_activities(path, entries)
    _check_references(path, head, activities)
    return Parsed(head.user, head.activity_types, tuple(versioned(a) for a in activities))


def digest(data: bytes) -> str:
    """A content digest (file contents, activity versions)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _unstructure_activity(activity: Activity) -> dict[str, Any]:
    raw: dict[str, Any] = _CONVERTER.unstructure(activity)
    raw.pop("version", None)
    if raw.get("sync_key") is None:
        raw.pop("sync_key", None)
    return raw


def versioned(activity: Activity) -> Activity:
    """The activity with its version: a digest of everything else it holds."""
    body = json.dumps(_unstructure_activity(activity), sort_keys=True).encode("utf-8")
    return attrs.evolve(activity, version=digest(body)[:16])


_ENTRY_INDENT = "\n    "


def render_entry(activity: Activity) -> bytes:
    """The text of ``activity`` as an entry of the document's ``activities`` list.

    JSON strings hold no raw line breaks, so indenting every line of the entry's own
    ``indent=2`` text gives exactly what ``json.dumps`` of the whole document writes.
    """
    text = json.dumps(_unstructure_activity(activity), indent=2, ensure_ascii=False)
    return ("    " + text.replace("\n", _ENTRY_INDENT)).encode("utf-8")


def render_document(
    user: User, activity_types: Iterable[ActivityType], entries: Iterable[bytes]
) -> bytes:
    """The whole file: the user, the types, then the rendered activity entries."""
    head = {
        "user": _CONVERTER.unstructure(user),
        "activity_types": _CONVERTER.unstructure(tuple(activity_types)),
    }
    text = json.dumps(head, indent=2, ensure_ascii=False)
    start = text[: -len("\n}")].encode("utf-8")
    body = b",\n".join(entries)
    if not body:
        return start + b',\n  "activities": []\n}\n'
    return b"".join((start, b',\n  "activities": [\n', body, b"\n  ]\n}\n"))
