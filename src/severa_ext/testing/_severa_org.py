"""The in-memory organisation behind ``FakeSeveraServer``: users, types, activities.

Each public method answers one API operation on decoded JSON values and raises
:class:`~severa_ext.testing._severa_records.WireError` for what the API refuses; the
HTTP layer (``severa_server``) parses requests, checks tokens and writes answers.
The semantics follow the published description:

* listings filter by owner (``userGuids``), categories, types, ``closed``,
  ``recurrenceType`` (by default single activities, occurrences and exceptions; with
  ``Series`` the series themselves) and ``changedSince`` (last update at or after);
* the window: ``startDateTime`` S and ``endDateTime`` E overlap (start <= E and end
  >= S) or, with ``useStrictStartAndEndDateTime``, containment (start >= S and end
  <= E); limits are included in both;
* paging: ``rowCount`` (default 20, at most 100) rows per page in creation order and
  an opaque ``NextPageToken`` that names the last row given; the last page has none;
* JSON Patch (``Add``/``Replace``/``Remove``/``Copy``/``Move``, any case) on the
  writable fields; values arrive as strings and are read by the field's type;
* a series expands into occurrences with their own guids; patching an occurrence
  makes it an exception, deleting one records an exception date on the series.
"""

from __future__ import annotations

import base64
import bisect
import calendar
import itertools
import json
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import jsonpatch
from dateutil import rrule

from severa_ext.testing._severa_records import (
    CATEGORIES,
    FakeActivity,
    FakeActivityType,
    FakeUser,
    invalid,
    parse_instant,
)

__all__ = ["FakeOrganisation", "Page"]

Page = tuple[list[dict[str, Any]], str | None]
"""A page of rows and the next page token (``None`` on the last page)."""

_MAX_ROWS = 100
_DEFAULT_ROWS = 20
_MAX_OCCURRENCES = 400
_WRITABLE = frozenset(
    {"name", "startDateTime", "endDateTime", "isAllDay", "location", "notes", "isClosed"}
)
_BOOLEANS = frozenset({"isAllDay", "isClosed", "hasDuration", "isUnassigned"})
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_FREQUENCIES = {
    "Daily": rrule.DAILY,
    "Weekly": rrule.WEEKLY,
    "Monthly": rrule.MONTHLY,
    "Yearly": rrule.YEARLY,
}
_MONTHS = tuple(calendar.month_name)[1:]  # "January" ... "December", as the API spells them


def _token(seq: int, query: str) -> str:
    raw = json.dumps({"after": seq, "q": query}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _untoken(token: str, query: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after, asked = value["after"], value["q"]
    except (ValueError, KeyError, TypeError):
        raise invalid(
            "pageToken is not valid", location="pageToken", where="UriParameter"
        ) from None
    if asked != query or not isinstance(after, int):
        raise invalid(
            "pageToken belongs to another query", location="pageToken", where="UriParameter"
        )
    return after


def _rows(value: str | None) -> int:
    if value is None or value == "":
        return _DEFAULT_ROWS
    try:
        rows = int(value)
    except ValueError:
        raise invalid(
            "rowCount must be an integer", location="rowCount", where="UriParameter"
        ) from None
    if not 1 <= rows <= _MAX_ROWS:
        raise invalid(f"rowCount must be 1..{_MAX_ROWS}", location="rowCount", where="UriParameter")
    return rows


def _flag(query: Mapping[str, list[str]], name: str) -> bool | None:
    values = query.get(name)
    if not values or values[0] == "":
        return None
    text = values[0].lower()
    if text not in {"true", "false"}:
        raise invalid(f"{name} must be true or false", location=name, where="UriParameter")
    return text == "true"


def _one(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values and values[0] != "" else None


def _query_key(query: Mapping[str, list[str]]) -> str:
    kept = {k: sorted(v) for k, v in query.items() if k not in {"pageToken", "rowCount"}}
    return json.dumps(kept, sort_keys=True)


class FakeOrganisation:
    """One organisation's data. Thread-safe (one lock around every operation).

    Args:
        now: the clock (stamps created / last updated times).
        offsets: answer activity times with their UTC offset (else local wall clock).
    """

    def __init__(self, now: Callable[[], datetime], *, offsets: bool = True) -> None:
        self.now = now
        self.offsets = offsets
        self.lock = threading.RLock()
        self.users: dict[str, FakeUser] = {}
        self.types: dict[str, FakeActivityType] = {}
        self.activities: dict[str, FakeActivity] = {}
        self._seq = itertools.count(1)
        self.version = 0  # moves on every write (listings are cached per version)
        self._listed: dict[str, list[FakeActivity]] = {}
        self._listed_at: dict[str, tuple[int, int]] = {}

    # -- setup (the organisation's own users, types and activities) ----------------

    def add_user(self, email: str, **fields: Any) -> FakeUser:
        """Add a user; ``fields`` as
        :class:`~severa_ext.testing._severa_records.FakeUser` takes them."""
        with self.lock:
            stamp = self._stamp()
            values: dict[str, Any] = {
                "guid": str(uuid.uuid4()),
                "seq": next(self._seq),
                "first_name": email.split("@", maxsplit=1)[0].title(),
                "last_name": "User",
                "created": stamp,
                "updated": stamp,
                **fields,
            }
            user = FakeUser(email=email, **values)
            self.users[user.guid] = user
            return user

    def add_type(
        self, name: str, category: str = "CalendarEntry", **fields: Any
    ) -> FakeActivityType:
        """Add an activity type of ``category``."""
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}")
        with self.lock:
            stamp = self._stamp()
            values: dict[str, Any] = {
                "guid": str(uuid.uuid4()),
                "seq": next(self._seq),
                "created": stamp,
                "updated": stamp,
            }
            values.update(fields)
            activity_type = FakeActivityType(name=name, category=category, **values)
            self.types[activity_type.guid] = activity_type
            return activity_type

    def _stamp(self) -> datetime:
        self.version += 1  # every write stamps
        return self.now().astimezone(UTC)

    def zone_of(self, owner_guid: str) -> ZoneInfo:
        """The owner's time zone (UTC for an unknown owner)."""
        user = self.users.get(owner_guid)
        return user.zone if user is not None else ZoneInfo("UTC")

    def wire(self, activity: FakeActivity) -> dict[str, Any]:
        """``activity`` as the API answers it."""
        owner = self.users.get(activity.owner_guid)
        name = f"{owner.first_name} {owner.last_name}" if owner else ""
        return activity.wire(
            zone=self.zone_of(activity.owner_guid),
            offsets=self.offsets,
            types=self.types,
            owner_name=name,
        )

    # -- users and types ------------------------------------------------------------

    def list_users(self, query: Mapping[str, list[str]]) -> Page:
        """``GET /v1/users``."""
        with self.lock:
            email = (_one(query, "email") or "").strip().lower()
            active = _flag(query, "isActive")
            since = self._since(query)
            rows = [
                u
                for u in sorted(self.users.values(), key=_by_seq)
                if (not email or u.email.lower() == email)
                and (active is None or u.is_active is active)
                and (since is None or u.updated >= since)
            ]
            return self._page(rows, query, lambda u: u.wire())

    def list_types(self, query: Mapping[str, list[str]]) -> Page:
        """``GET /v1/activitytypes``."""
        with self.lock:
            active = _flag(query, "active")
            categories = set(query.get("category", []))
            since = self._since(query)
            rows = [
                t
                for t in sorted(self.types.values(), key=_by_seq)
                if (active is None or t.is_active is active)
                and (not categories or t.category in categories)
                and (since is None or t.updated >= since)
            ]
            return self._page(rows, query, lambda t: t.wire())

    def _since(self, query: Mapping[str, list[str]]) -> datetime | None:
        text = _one(query, "changedSince")
        if text is None:
            return None
        return parse_instant(text, ZoneInfo("UTC"), name="changedSince")

    def _page(
        self,
        rows: Sequence[Any],
        query: Mapping[str, list[str]],
        render: Callable[[Any], dict[str, Any]],
    ) -> Page:
        """One page of ``rows`` (anything with a ``seq``, in ``seq`` order)."""
        count = _rows(_one(query, "rowCount"))
        qkey = _query_key(query)
        token = _one(query, "pageToken")
        first = 0
        if token is not None:
            first = bisect.bisect_right([row.seq for row in rows], _untoken(token, qkey))
        chunk = rows[first : first + count]
        more = len(rows) > first + count
        next_token = _token(chunk[-1].seq, qkey) if chunk and more else None
        return [render(row) for row in chunk], next_token

    # -- activities -------------------------------------------------------------------

    def list_activities(self, query: Mapping[str, list[str]]) -> Page:
        """``GET /v1/activities``."""
        with self.lock:
            # A listing's pages ask the same query again: its rows are kept until the
            # next write, so paging through N rows costs O(N), not O(N^2 / rowCount).
            key = (_query_key(query), self.version, len(self.activities))
            rows = self._listed.get(key[0])
            if rows is None or self._listed_at.get(key[0]) != key[1:]:
                keep = self._activity_filter(query)
                rows = sorted((a for a in self.activities.values() if keep(a)), key=_by_seq)
                self._listed = {key[0]: rows}
                self._listed_at = {key[0]: key[1:]}
            return self._page(rows, query, self.wire)

    def _activity_filter(self, query: Mapping[str, list[str]]) -> Callable[[FakeActivity], bool]:
        owners = set(query.get("userGuids", []))
        categories = set(query.get("activityCategories", []))
        type_guids = set(query.get("activityTypeGuids", []))
        closed = _flag(query, "closed")
        strict = _flag(query, "useStrictStartAndEndDateTime") is True
        kinds = {_one(query, "recurrenceType") or ""} - {""} or {"None", "Occurrence", "Exception"}
        since = self._since(query)
        utc = ZoneInfo("UTC")
        start_text, end_text = _one(query, "startDateTime"), _one(query, "endDateTime")
        low = parse_instant(start_text, utc, name="startDateTime") if start_text else None
        high = parse_instant(end_text, utc, name="endDateTime") if end_text else None

        def keep(activity: FakeActivity) -> bool:
            category = (
                self.types[activity.type_guid].category if activity.type_guid in self.types else ""
            )
            if owners and activity.owner_guid not in owners:
                return False
            if categories and category not in categories:
                return False
            if type_guids and activity.type_guid not in type_guids:
                return False
            if closed is not None and activity.is_closed is not closed:
                return False
            if activity.recurrence_type not in kinds:
                return False
            if since is not None and activity.updated < since:
                return False
            return _in_window(activity, low, high, strict=strict)

        return keep

    def get_activity(self, guid: str) -> FakeActivity | None:
        """The activity ``guid``, if it exists."""
        with self.lock:
            return self.activities.get(guid)

    def create_activity(self, body: Any) -> FakeActivity:
        """``POST /v1/activities``."""
        if not isinstance(body, dict):
            raise invalid("the body must be an ActivityModel object")
        with self.lock:
            owner = _guid_of(body.get("ownerUser"), "ownerUser")
            if owner not in self.users:
                raise invalid(f"no user {owner!r}", location="ownerUser")
            zone = self.zone_of(owner)
            type_guid = self._type_guid(body.get("activityType"))
            start = parse_instant(body.get("startDateTime"), zone, name="startDateTime")
            end_text = body.get("endDateTime")
            end = None if end_text is None else parse_instant(end_text, zone, name="endDateTime")
            stamp = self._stamp()
            activity = FakeActivity(
                guid=str(uuid.uuid4()),
                seq=next(self._seq),
                name=_name(body.get("name")),
                start=start,
                end=end,
                type_guid=type_guid,
                owner_guid=owner,
                is_all_day=bool(body.get("isAllDay", False)),
                location=_text(body.get("location"), "location", limit=1000),
                notes=_text(body.get("notes"), "notes"),
                is_closed=bool(body.get("isClosed", False)),
                phase=body.get("phase") if isinstance(body.get("phase"), dict) else None,
                customer=body.get("customer") if isinstance(body.get("customer"), dict) else None,
                created=stamp,
                updated=stamp,
            )
            _check_times(activity)
            recurrence = body.get("recurrence")
            if recurrence is not None:
                activity.recurrence = _check_recurrence(recurrence)
                activity.recurrence_type = "Series"
                activity.recurrence["exceptions"] = []
            self.activities[activity.guid] = activity
            if activity.recurrence_type == "Series":
                self._expand(activity)
            return activity

    def _type_guid(self, value: Any) -> str:
        guid = _guid_of(value, "activityType")
        activity_type = self.types.get(guid)
        if activity_type is None:
            raise invalid(f"no activity type {guid!r}", location="activityType")
        if not activity_type.is_active:
            raise invalid(f"activity type {guid!r} is not active", location="activityType")
        return guid

    def patch_activity(self, guid: str, operations: Any) -> FakeActivity | None:
        """``PATCH /v1/activities/{guid}`` for one id; ``None`` when it does not exist."""
        if not isinstance(operations, list):
            raise invalid("the body must be a JSON Patch array")
        with self.lock:
            activity = self.activities.get(guid)
            if activity is None:
                return None
            document = self._writable_document(activity)
            patch = jsonpatch.JsonPatch([_operation(op) for op in operations])
            try:
                patched = patch.apply(document)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise invalid(f"the patch does not apply: {exc}") from None
            self._apply_document(activity, patched)
            return activity

    def _writable_document(self, activity: FakeActivity) -> dict[str, Any]:
        wire = self.wire(activity)
        document = {name: wire[name] for name in _WRITABLE}
        document["activityType"] = {"guid": activity.type_guid}
        return document

    def _apply_document(self, activity: FakeActivity, document: Mapping[str, Any]) -> None:
        zone = self.zone_of(activity.owner_guid)
        changed = attrs.evolve(activity)
        changed.name = _name(document.get("name"))
        changed.start = parse_instant(document.get("startDateTime"), zone, name="startDateTime")
        end = document.get("endDateTime")
        changed.end = None if end is None else parse_instant(end, zone, name="endDateTime")
        changed.is_all_day = _boolean(document.get("isAllDay"), "isAllDay")
        changed.is_closed = _boolean(document.get("isClosed"), "isClosed")
        changed.location = _text(document.get("location"), "location", limit=1000)
        changed.notes = _text(document.get("notes"), "notes")
        changed.type_guid = self._type_guid(document.get("activityType"))
        _check_times(changed)
        for name, value in _fields(changed).items():
            setattr(activity, name, value)
        activity.updated = self._stamp()
        if activity.recurrence_type == "Occurrence":
            activity.recurrence_type = "Exception"
            self._note_exception(activity)

    def delete_activity(self, guid: str) -> bool:
        """``DELETE /v1/activities/{guid}``; False when it does not exist."""
        with self.lock:
            activity = self.activities.pop(guid, None)
            if activity is None:
                return False
            self.version += 1
            if activity.recurrence_type == "Series":
                for child in [a for a in self.activities.values() if a.parent_guid == guid]:
                    del self.activities[child.guid]
            elif activity.parent_guid is not None:
                self._note_exception(activity)
            return True

    def reset_exceptions(self, guid: str) -> bool:
        """``DELETE /v1/activities/{guid}/exceptions``; False unless a series."""
        with self.lock:
            series = self.activities.get(guid)
            if series is None or series.recurrence_type != "Series" or series.recurrence is None:
                return False
            for child in [a for a in self.activities.values() if a.parent_guid == guid]:
                del self.activities[child.guid]
            series.recurrence["exceptions"] = []
            series.updated = self._stamp()
            self._expand(series)
            return True

    def _note_exception(self, activity: FakeActivity) -> None:
        series = self.activities.get(activity.parent_guid or "")
        if series is None or series.recurrence is None or activity.original_start is None:
            return
        zone = self.zone_of(series.owner_guid)
        stamp = activity.original_start.astimezone(zone).isoformat(timespec="seconds")
        exceptions = series.recurrence.setdefault("exceptions", [])
        if stamp not in exceptions:
            exceptions.append(stamp)
        series.updated = self._stamp()

    def _expand(self, series: FakeActivity) -> None:
        """Materialise the occurrences of ``series`` (at most a bounded number)."""
        assert series.recurrence is not None
        zone = self.zone_of(series.owner_guid)
        length = series.finish - series.start
        for original in _occurrences(series, zone):
            guid = str(uuid.uuid5(uuid.UUID(series.guid), original.isoformat()))
            self.activities[guid] = FakeActivity(
                **{
                    **_fields(series),
                    "guid": guid,
                    "seq": next(self._seq),
                    "start": original,
                    "end": None if series.end is None else original + length,
                    "recurrence_type": "Occurrence",
                    "parent_guid": series.guid,
                    "recurrence": None,
                    "original_start": original,
                }
            )


def _by_seq(row: Any) -> int:
    return int(row.seq)


def _fields(activity: FakeActivity) -> dict[str, Any]:
    return attrs.asdict(activity, recurse=False)


def _in_window(
    activity: FakeActivity, low: datetime | None, high: datetime | None, *, strict: bool
) -> bool:
    start, finish = activity.start, activity.finish
    if strict:
        return (low is None or start >= low) and (high is None or finish <= high)
    return (high is None or start <= high) and (low is None or finish >= low)


def _guid_of(value: Any, name: str) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("guid"), str) or not value["guid"]:
        raise invalid(f"{name}.guid is required", location=name)
    return str(value["guid"])


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid("name is required", location="name")
    return value


def _text(value: Any, name: str, *, limit: int | None = None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string", location=name)
    if limit is not None and len(value) > limit:
        raise invalid(f"{name} is longer than {limit} characters", location=name)
    return value


def _boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise invalid(f"{name} must be true or false", location=name)


def _check_times(activity: FakeActivity) -> None:
    if activity.end is not None and activity.end < activity.start:
        raise invalid("endDateTime is before startDateTime", location="endDateTime")


def _operation(raw: Any) -> dict[str, Any]:
    """One PatchOperation as RFC 6902 reads it (the API capitalises ``op``)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("op"), str):
        raise invalid("every patch operation needs an op")
    op = raw["op"].lower()
    if op not in {"add", "copy", "move", "remove", "replace"}:
        raise invalid(f"unknown patch op {raw['op']!r}")
    path = raw.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise invalid(f"patch path {path!r} is not a JSON pointer")
    top = path.split("/")[1]
    if top not in _WRITABLE and top != "activityType":
        raise invalid(f"{top!r} cannot be patched", location=top)
    operation: dict[str, Any] = {"op": op, "path": path}
    if op in {"copy", "move"}:
        operation["from"] = raw.get("from")
    if op in {"add", "replace"}:
        value = raw.get("value")
        if top in _BOOLEANS and isinstance(value, str):
            value = _boolean(value, top)
        if path == "/activityType" and isinstance(value, str):
            value = {"guid": value}
        operation["value"] = value
    return operation


def _check_recurrence(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("frequency") not in _FREQUENCIES:
        raise invalid("recurrence.frequency must be Daily, Weekly, Monthly or Yearly")
    kept = {k: value.get(k) for k in ("frequency", "pattern", "range", "lastOccurrenceDateTime")}
    return {k: v for k, v in kept.items() if v is not None}


def _occurrences(series: FakeActivity, zone: ZoneInfo) -> list[datetime]:
    recurrence = series.recurrence or {}
    frequency = _FREQUENCIES[recurrence["frequency"]]
    pattern = recurrence.get("pattern") or {}
    spec = pattern.get(recurrence["frequency"].lower()) or {}
    options: dict[str, Any] = {"interval": max(1, int(spec.get("interval") or 1))}
    if frequency == rrule.DAILY and spec.get("everyWeekday"):
        options["byweekday"] = (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR)
    if frequency == rrule.WEEKLY:
        days = [n for n, day in enumerate(_WEEKDAYS) if spec.get(day)]
        if days:
            options["byweekday"] = days
    if frequency in {rrule.MONTHLY, rrule.YEARLY} and spec.get("dayOfMonth"):
        options["bymonthday"] = int(spec["dayOfMonth"])
    if frequency == rrule.YEARLY and spec.get("month") in _MONTHS:
        options["bymonth"] = _MONTHS.index(spec["month"]) + 1
    bounds = recurrence.get("range") or {}
    count = min(int(bounds.get("maxOccurrences") or _MAX_OCCURRENCES), _MAX_OCCURRENCES)
    local = series.start.astimezone(zone).replace(tzinfo=None)
    until = None
    if bounds.get("recursUntilDate"):
        until = datetime.fromisoformat(str(bounds["recursUntilDate"])[:10]) + timedelta(days=1)
    rule = rrule.rrule(
        frequency, dtstart=local, count=None if until else count, until=until, **options
    )
    starts = list(itertools.islice(rule, _MAX_OCCURRENCES))
    return [start.replace(tzinfo=zone) for start in starts]
