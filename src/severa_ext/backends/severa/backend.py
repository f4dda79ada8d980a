"""The Severa side of a sync pair over Severa's public REST API.

:class:`SeveraBackend` syncs one Severa user's activities (see the guide
``docs/guides/severa.md``):

* **Reading.** A *full* listing asks for the user's activities overlapping the
  window (``userGuids``, ``startDateTime``, ``endDateTime``), paged with ``rowCount``
  and ``NextPageToken`` to the last page (the page count bounded, a repeated token a
  :class:`~severa_ext.errors.MalformedResponse`). A *delta* asks only for what was
  added or changed since the last listing (``changedSince``, with an overlap against
  clock skew and late commits), wherever it lies: what now lies outside the window is
  reported as gone from it, and the engine tells a move from a delete with
  :meth:`SeveraBackend.get`. A no-change run costs one request.
* **Deletes.** The API has no delete feed. Every ``delete_check_interval`` (and
  whenever the window moves, once a day), :meth:`SeveraBackend.changes` answers with
  a full listing (``full=True``); the engine reads a linked activity missing from it
  as deleted only after ``get`` answers 404. So a delete made in Severa reaches the
  calendar at the first run after ``delete_check_interval`` has passed since the last
  full listing. A listing that fails part way raises, and one that had to skip
  unreadable activities is reported as a delta (``full=False``) and the check is
  repeated next run: a failed or partial listing is never read as deletes.
* **Writes.** ``POST`` creates; updates are a JSON Patch of ``Replace`` operations;
  ``DELETE`` deletes. The API has no ETag: before each update or delete the backend
  reads the activity and compares its etag (a digest of ``lastUpdatedDateTime`` and
  the synced fields) with ``if_match``, raising
  :class:`~severa_ext.errors.VersionConflict` on a difference, so a newer edit is
  never overwritten (the remaining window is the one round trip between that read
  and the write).
* **Crash-safe creates.** The sync key rides in the activity's notes as a last line
  (:func:`~severa_ext.backends.severa._mapping.join_notes`). :meth:`SeveraBackend.find`
  scans the user's activities changed within ``find_lookback`` (one paged listing per
  read epoch, kept up to date by the backend's own writes), so after a crash between
  a create and its record, the next run finds the activity it made.
* **Throttling and outages.** 429, and 503 with ``Retry-After``, raise
  :class:`~severa_ext.errors.Throttled`; other 5xx, timeouts and network failures
  :class:`~severa_ext.errors.BackendUnavailable`. The backend never sleeps or retries
  (one token refresh after a 401 aside): the engine waits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import cattrs
import requests

from severa_ext.backends._http import HttpLimits
from severa_ext.backends.base import WriteOp, WriteResult, apply_one_by_one
from severa_ext.backends.severa._mapping import (
    SEVERA_CONTENT_FIELDS,
    SeveraActivityType,
    SeveraUser,
    activity_body,
    activity_to_item,
    patch_operations,
    split_notes,
)
from severa_ext.backends.severa._transport import SeveraCredentials, SeveraTransport
from severa_ext.clock import Clock, SystemClock
from severa_ext.errors import (
    ActivationError,
    BadItem,
    ConfigError,
    MalformedResponse,
    NotFound,
    ValidationError,
    VersionConflict,
)
from severa_ext.sync.items import CalendarItem, Capabilities, ChangeSet, Window
from severa_ext.sync.policy import SyncPolicy

__all__ = ["SEVERA_BASE_URL", "SeveraBackend", "SeveraCursor"]

logger = logging.getLogger(__name__)

SEVERA_BASE_URL = "https://api.severa.visma.com/rest-api"
"""The production API root (the description's ``servers`` entry)."""

_MAX_ROWS = 100  # the API's largest rowCount
_MAX_RECENT = 2000  # ids a cursor remembers from the overlap


@attrs.frozen
class SeveraCursor:
    """What the backend keeps between runs.

    Attributes:
        start, end: the window of the last full listing (another window: full again).
        since: the next delta asks for activities changed at or after this instant.
        checked: when the last complete full listing (the delete check) was made.
        recent: ids and etags of the activities listed last time that changed at or
            after ``since``: the overlap lists them again, and they are left out
            unless they changed since (at most 2,000 are kept).
    """

    start: datetime
    end: datetime
    since: datetime
    checked: datetime
    recent: dict[str, str] = attrs.field(factory=dict)

    def encode(self) -> str:
        """The cursor as the string the state store keeps."""
        return json.dumps(_cursors.unstructure(self), sort_keys=True)

    @classmethod
    def decode(cls, text: str) -> SeveraCursor:
        """Parse a stored cursor.

        Raises:
            ValidationError: the text is not a Severa cursor.
        """
        try:
            return _cursors.structure(json.loads(text), cls)
        except (ValueError, TypeError, cattrs.BaseValidationError) as exc:
            raise ValidationError(f"not a Severa cursor: {text[:60]!r}") from exc


_cursors = cattrs.Converter()
_cursors.register_unstructure_hook(datetime, lambda value: value.isoformat())
_cursors.register_structure_hook(datetime, lambda value, _type: datetime.fromisoformat(value))


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


class SeveraBackend:
    """One Severa user's activities through the REST API.

    Args:
        credentials: the organisation's API client.
        user_email: whose activities (looked up in ``/v1/users``, S10); or
        user_guid: the user's guid, when the host knows it.
        base_url: the API root (a fake server passes its own).
        session: the one ``requests.Session``; a new one by default (closed by
            :meth:`close` only if the backend made it).
        timeout: seconds for connecting and for each read, on every call.
        limits: body size, total time per call, pages per listing, JSON depth.
        clock: token expiry, cursors and the delete-check schedule.
        page_size: ``rowCount`` of listings (1..100).
        delete_check_interval: how often ``changes`` answers with a full listing so
            that deletes are seen (the bound on how late a Severa delete arrives);
            ``timedelta(0)``: every run.
        changed_overlap: how far before the previous listing a delta starts
            (changes committed late, clock skew between client and server).
        find_lookback: how far back :meth:`find` looks for activities it may have
            created (changed within this span).
        default_type: the activity type guid for items without one (the user's
            default type, else the organisation's, when not given).

    Raises:
        ConfigError: not exactly one of ``user_email`` and ``user_guid``, or bad
            numbers.
    """

    def __init__(
        self,
        credentials: SeveraCredentials,
        *,
        user_email: str | None = None,
        user_guid: str | None = None,
        base_url: str = SEVERA_BASE_URL,
        session: requests.Session | None = None,
        timeout: float = 30.0,
        limits: HttpLimits | None = None,
        clock: Clock | None = None,
        page_size: int = _MAX_ROWS,
        delete_check_interval: timedelta = timedelta(hours=1),
        changed_overlap: timedelta = timedelta(minutes=5),
        find_lookback: timedelta = timedelta(days=14),
        default_type: str | None = None,
    ) -> None:
        if (user_email is None) == (user_guid is None):
            raise ConfigError("SeveraBackend needs exactly one of user_email and user_guid")
        if not 1 <= page_size <= _MAX_ROWS:
            raise ConfigError(f"page_size must be 1..{_MAX_ROWS}, got {page_size}")
        if timeout <= 0 or min(delete_check_interval, changed_overlap, find_lookback) < timedelta(
            0
        ):
            raise ConfigError("timeout must be positive and the intervals not negative")
        self._who = (user_email or user_guid or "").strip()
        self._by_email = user_email is not None
        self._own_session = session is None
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._transport = SeveraTransport(
            credentials,
            session if session is not None else requests.Session(),
            base_url,
            timeout=timeout,
            limits=limits if limits is not None else HttpLimits(),
            clock=self._clock,
        )
        self._page_size = page_size
        self._check_every = delete_check_interval
        self._overlap = changed_overlap
        self._lookback = find_lookback
        self._default_type = default_type
        self._user: SeveraUser | None = None
        self._types: dict[str, SeveraActivityType] | None = None
        self._keys: dict[str, dict[str, CalendarItem]] | None = None
        self._problems: tuple[BadItem, ...] = ()
        self._own_deletes: list[str] = []

    def __repr__(self) -> str:
        return f"SeveraBackend(user={self._who!r}, base_url={self._transport.base_url!r})"

    # -- protocol properties ------------------------------------------------------

    @property
    def name(self) -> str:
        """``severa:<user email or guid>``."""
        return f"severa:{self._who}"

    @property
    def capabilities(self) -> Capabilities:
        """Deltas (``changedSince``); writes one by one; no free/busy or categories."""
        return Capabilities(
            delta=True,
            batch_size=20,
            read_only=False,
            sync_key_lookup=False,
            content_fields=frozenset(SEVERA_CONTENT_FIELDS),
        )

    @property
    def problems(self) -> tuple[BadItem, ...]:
        """Activities the last ``changes`` call skipped, as errors (S6)."""
        return self._problems

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent so far (token calls included)."""
        return self._transport.requests_sent

    # -- the user and the organisation's types ------------------------------------

    def user(self) -> SeveraUser:
        """The synced user, looked up once (by email: S10).

        Raises:
            ActivationError: no active user has the email (``unknown-user``), or
                several do (``ambiguous-user``).
        """
        if self._user is None:
            self._user = self._lookup_user()
        return self._user

    def _lookup_user(self) -> SeveraUser:
        if not self._by_email:
            try:
                _, raw = self._transport.request(
                    "GET", f"v1/users/{_path(self._who)}", what="get the user"
                )
            except NotFound:
                raise ActivationError(
                    f"Severa has no user {self._who!r}", reason="unknown-user"
                ) from None
            return _user_of(raw)
        wanted = self._who.lower()
        found = [
            row
            for page in self._transport.pages(
                "v1/users",
                {"email": self._who, "isActive": "true", "rowCount": _MAX_ROWS},
                what="find the user",
            )
            for row in page
            if isinstance(row, dict) and str(row.get("email") or "").strip().lower() == wanted
        ]
        if not found:
            raise ActivationError(
                f"Severa has no active user with the email {self._who!r} (S10)",
                reason="unknown-user",
            )
        if len(found) > 1:
            raise ActivationError(
                f"{len(found)} active Severa users have the email {self._who!r}",
                reason="ambiguous-user",
            )
        return _user_of(found[0])

    def activity_types(self, *, refresh: bool = False) -> dict[str, SeveraActivityType]:
        """The organisation's activity types by guid (``GET /v1/activitytypes``)."""
        if self._types is None or refresh:
            types: dict[str, SeveraActivityType] = {}
            for page in self._transport.pages(
                "v1/activitytypes", {"rowCount": _MAX_ROWS}, what="list activity types"
            ):
                for row in page:
                    activity_type = _type_of(row)
                    if activity_type is not None:
                        types[activity_type.guid] = activity_type
            self._types = types
        return self._types

    def activity_type_ids(self) -> frozenset[str]:
        """The guids of the active types that are not project tasks: what an incoming
        calendar entry may get (S8, S9). Read again on every call: the engine asks
        once per run, to check the Personal type, and a type deactivated since the
        last run must not refuse every private entry."""
        return _accepted(self.activity_types(refresh=True))

    def _types_for(self, rows: Iterable[Any]) -> dict[str, SeveraActivityType]:
        """The types, read again once when a row names one not seen yet."""
        types = self.activity_types()
        for row in rows:
            kind = row.get("activityType") if isinstance(row, dict) else None
            guid = kind.get("guid") if isinstance(kind, dict) else None
            if isinstance(guid, str) and guid not in types:
                return self.activity_types(refresh=True)
        return types

    # -- reading --------------------------------------------------------------------

    def changes(self, cursor: str | None, window: Window) -> ChangeSet:
        """The user's activities changed since ``cursor``; a full listing of the
        window without one, for another window, or when the delete check is due."""
        now = self._clock.now()
        self._keys = None  # a new read epoch: find() lists again
        stored = self._cursor(cursor)
        if (
            stored is None
            or (stored.start, stored.end) != (window.start, window.end)
            or now - stored.checked >= self._check_every  # the delete check is due
        ):
            return self._full(window, now)
        return self._delta(stored, window, now)

    def _cursor(self, cursor: str | None) -> SeveraCursor | None:
        if cursor is None:
            return None
        try:
            return SeveraCursor.decode(cursor)
        except ValidationError:
            logger.warning("severa %s: unreadable cursor; full listing", self._who)
            return None

    def _list(self, params: Mapping[str, Any], what: str) -> list[dict[str, Any]]:
        query = {"userGuids": self.user().guid, "rowCount": self._page_size, **params}
        rows: list[dict[str, Any]] = []
        for page in self._transport.pages("v1/activities", query, what=what):
            rows.extend(row for row in page if isinstance(row, dict))
        return rows

    def _items(self, rows: Sequence[dict[str, Any]]) -> tuple[list[CalendarItem], list[BadItem]]:
        types = self._types_for(rows)
        zone = self.user().zone
        items: list[CalendarItem] = []
        problems: list[BadItem] = []
        for row in rows:
            try:
                items.append(activity_to_item(row, zone=zone, types=types))
            except BadItem as exc:
                logger.warning("severa %s: skipping activity: %s", self._who, exc)
                problems.append(exc)
        return items, problems

    def _full(self, window: Window, now: datetime) -> ChangeSet:
        zone = self.user().zone
        rows = self._list(
            {
                "startDateTime": window.start.astimezone(zone).isoformat(timespec="seconds"),
                "endDateTime": window.end.astimezone(zone).isoformat(timespec="seconds"),
            },
            "list activities",
        )
        items, problems = self._items(rows)
        self._problems = tuple(problems)
        inside = [item for item in items if window.contains(item)]
        complete = not problems
        checked = now if complete else datetime(1970, 1, 1, tzinfo=UTC)
        since = now - self._overlap
        cursor = SeveraCursor(
            window.start, window.end, since, checked, _recent(items, since)
        ).encode()
        self._own_deletes.clear()
        logger.info(
            "severa %s: full listing, %d activities%s",
            self._who,
            len(inside),
            "" if complete else f", {len(problems)} unreadable (deletes not checked)",
        )
        listed: Any = tuple(inside)
        return ChangeSet(listed, (), cursor, full=complete)

    def _delta(self, stored: SeveraCursor, window: Window, now: datetime) -> ChangeSet:
        rows = self._list({"changedSince": _utc(stored.since)}, "list changed activities")
        listed, problems = self._items(rows)
        self._problems = tuple(problems)
        since = now - self._overlap
        cursor = attrs.evolve(stored, since=since, recent=_recent(listed, since)).encode()
        items = [item for item in listed if stored.recent.get(str(item.id)) != item.etag]
        inside = [item for item in items if window.contains(item)]
        gone = [str(item.id) for item in items if not window.contains(item)]
        gone.extend(self._own_deletes)
        self._own_deletes.clear()
        logger.info(
            "severa %s: delta, %d changed, %d left the window", self._who, len(inside), len(gone)
        )
        changed: Any = tuple(inside)
        removed: Any = tuple(gone)
        return ChangeSet(changed, removed, cursor, full=False)

    def _raw(self, item_id: str) -> dict[str, Any] | None:
        try:
            _, raw = self._transport.request(
                "GET", f"v1/activities/{_path(item_id)}", what="get an activity", ref=item_id
            )
        except NotFound:
            return None
        if not isinstance(raw, dict):
            raise MalformedResponse(
                "severa get an activity: not an ActivityModel", backend="severa"
            )
        owner = raw.get("ownerUser")
        if not isinstance(owner, dict) or owner.get("guid") != self.user().guid:
            return None  # another user's activity is not on this side
        return raw

    def _item(self, raw: Mapping[str, Any]) -> CalendarItem:
        return activity_to_item(raw, zone=self.user().zone, types=self._types_for([raw]))

    def get(self, item_id: str) -> CalendarItem | None:
        """The user's activity ``item_id``, or ``None`` when it does not exist."""
        raw = self._raw(item_id)
        return None if raw is None else self._item(raw)

    def find(self, sync_key: str) -> tuple[CalendarItem, ...]:
        """The user's activities whose notes carry ``sync_key`` (changed within
        ``find_lookback``)."""
        if self._keys is None:
            since = self._clock.now() - self._lookback
            rows = self._list({"changedSince": _utc(since)}, "find by sync key")
            keyed = [row for row in rows if split_notes(row.get("notes"))[1] is not None]
            items, _ = self._items(keyed)
            self._keys = {}
            for item in items:
                self._remember(item)
        return tuple(self._keys.get(sync_key, {}).values())

    def _remember(self, item: CalendarItem, *, forget: bool = False) -> None:
        if self._keys is None:
            return
        for found in self._keys.values():
            found.pop(str(item.id), None)
        if item.sync_key is not None and not forget:
            self._keys.setdefault(item.sync_key, {})[str(item.id)] = item

    # -- writing --------------------------------------------------------------------

    def _type_for(self, item: CalendarItem) -> str:
        types = self.activity_types()
        guid = item.activity_type or self._default_type or self.user().default_type
        if guid is None:
            guid = next((t.guid for t in types.values() if t.is_default and t.is_active), None)
        ref = item.id or item.title
        chosen = types.get(guid or "")
        if chosen is None:
            raise BadItem(ref, f"unknown activity type {guid!r}", backend="severa")
        if chosen.is_project_task:
            raise BadItem(
                ref, f"type {chosen.name!r} is a project task type (S8)", backend="severa"
            )
        if not chosen.is_active:
            raise BadItem(ref, f"activity type {chosen.name!r} is not active", backend="severa")
        return chosen.guid

    def create(self, item: CalendarItem, sync_key: str) -> CalendarItem:
        """Create ``item`` as an activity of the user, the sync key in its notes."""
        body = activity_body(
            item, owner=self.user(), type_guid=self._type_for(item), sync_key=sync_key
        )
        _, raw = self._transport.request(
            "POST", "v1/activities", what="create an activity", ref=sync_key, body=body
        )
        created = self._item(_model(raw, "create an activity"))
        self._remember(created)
        logger.info("severa %s: created %s (sync key %s)", self._who, created.id, sync_key)
        return created

    def _current(self, item_id: str, if_match: str | None) -> dict[str, Any]:
        raw = self._raw(item_id)
        if raw is None:
            raise NotFound(f"severa: no activity {item_id!r}", backend="severa")
        if if_match is not None:
            current = self._item(raw)
            if current.etag != if_match:
                raise VersionConflict(
                    f"severa: activity {item_id!r} changed since it was read "
                    f"(etag {current.etag}, not {if_match})",
                    backend="severa",
                )
        return raw

    def update(self, item_id: str, item: CalendarItem, if_match: str | None) -> CalendarItem:
        """Patch activity ``item_id`` to ``item``'s content, unless it changed since
        ``if_match`` was read."""
        raw = self._current(item_id, if_match)
        _, key = split_notes(raw.get("notes"))
        wanted = activity_body(
            item, owner=self.user(), type_guid=self._type_for(item), sync_key=key
        )
        operations = patch_operations(raw, wanted, zone=self.user().zone)
        if not operations:
            return self._item(raw)
        _, answer = self._transport.request(
            "PATCH",
            f"v1/activities/{_path(item_id)}",
            what="update an activity",
            ref=item_id,
            body=operations,
        )
        if not isinstance(answer, list) or not answer:
            raise MalformedResponse(
                "severa update an activity: no updated activity", backend="severa"
            )
        updated = self._item(_model(answer[0], "update an activity"))
        self._remember(updated)
        return updated

    def delete(self, item_id: str, if_match: str | None) -> None:
        """Delete activity ``item_id``, unless it changed since ``if_match`` was read."""
        raw = self._current(item_id, if_match)
        self._transport.request(
            "DELETE", f"v1/activities/{_path(item_id)}", what="delete an activity", ref=item_id
        )
        self._remember(self._item(raw), forget=True)
        self._own_deletes.append(item_id)  # the next delta reports it

    def apply_batch(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Run the writes one by one (the API has no batch); errors per op."""
        return apply_one_by_one(self, ops)

    def flush(self) -> None:
        """Nothing to do: every write is sent (and durable in Severa) at once."""

    # -- activation and settings (S1, S8, S9, S10) ------------------------------

    def check_settings(self, policy: SyncPolicy) -> tuple[str, ...]:
        """Check the organisation settings against the activity types Severa has.

        Returns:
            The warnings that do not stop the sync, as text. A Personal type Severa
            does not have (or has deactivated) is one; private entries then get the
            default type (S9), and the engine journals the same warning.

        Raises:
            ActivationError: ``settings-invalid`` when an outgoing type or the
                default type is unknown or inactive, when an outgoing or the default
                type is a project-task (Task) type (S8), or when the Personal type is
                not of the Personal category (S9).
        """
        types = self.activity_types(refresh=True)
        problems: list[str] = []

        def check(guid: str, role: str) -> SeveraActivityType | None:
            found = types.get(guid)
            if found is None or not found.is_active:
                problems.append(f"{role} type {guid!r} is not an active Severa activity type")
                return None
            return found

        for guid in sorted(policy.outgoing_types):
            found = check(guid, "outgoing")
            if found is not None and found.is_project_task:
                problems.append(f"outgoing type {found.name!r} is a project task type (S8)")
        if policy.default_type:
            found = check(policy.default_type, "default")
            if found is not None and found.is_project_task:
                problems.append(f"default type {found.name!r} is a project task type (S8)")
        personal = types.get(policy.personal_type or "")
        if personal is not None and personal.is_active and personal.category != "Personal":
            problems.append(f"personal type {personal.name!r} is not of the Personal category (S9)")
        if problems:
            raise ActivationError(
                "the organisation's sync settings do not match Severa: " + "; ".join(problems),
                reason="settings-invalid",
            )
        _, warning = policy.for_types(_accepted(types))
        return (warning,) if warning else ()

    def settings_policy(
        self, outgoing: Iterable[str], *, default_type: str | None = None, **options: Any
    ) -> SyncPolicy:
        """A :class:`~severa_ext.sync.policy.SyncPolicy` from Severa's types.

        Args:
            outgoing: guids or names of the types sent to the calendar (S8).
            default_type: guid or name of the type incoming entries get; the
                organisation's default type when not given (S9).
            **options: further ``SyncPolicy`` fields (``past_days``...).

        The Personal type is the active type of the Personal category, if there is
        one (S9). The result is checked with :meth:`check_settings`.
        """
        types = self.activity_types(refresh=True)
        by_name = {t.name.casefold(): t.guid for t in types.values()}

        def guid_of(value: str) -> str:
            return value if value in types else by_name.get(value.casefold(), value)

        default = (
            guid_of(default_type)
            if default_type
            else next((t.guid for t in types.values() if t.is_default and t.is_active), None)
        )
        personal = next(
            (t.guid for t in types.values() if t.category == "Personal" and t.is_active), None
        )
        policy = SyncPolicy(
            outgoing_types={guid_of(value) for value in outgoing},
            default_type=default,
            personal_type=personal,
            **options,
        )
        self.check_settings(policy)
        return policy

    def close(self) -> None:
        """Close the HTTP session if the backend created it."""
        if self._own_session:
            self._transport.session.close()

    def __enter__(self) -> SeveraBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _accepted(types: Mapping[str, SeveraActivityType]) -> frozenset[str]:
    return frozenset(t.guid for t in types.values() if t.is_active and not t.is_project_task)


def _recent(items: Iterable[CalendarItem], since: datetime) -> dict[str, str]:
    """Ids and etags of ``items`` changed at or after ``since`` (the next overlap)."""
    recent = {
        str(item.id): str(item.etag)
        for item in items
        if item.last_modified is not None and item.last_modified >= since
    }
    return recent if len(recent) <= _MAX_RECENT else {}


def _path(guid: str) -> str:
    return quote(guid, safe="")


def _model(raw: Any, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise MalformedResponse(
            f"severa {what}: the answer is not an ActivityModel", backend="severa"
        )
    return raw


def _zone(raw: Any) -> ZoneInfo:
    name = raw.get("ianaName") if isinstance(raw, dict) else None
    if isinstance(name, str) and name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            logger.warning("severa: unknown time zone %r; using UTC", name)
    return ZoneInfo("UTC")


def _user_of(raw: Any) -> SeveraUser:
    if not isinstance(raw, dict) or not isinstance(raw.get("guid"), str):
        raise MalformedResponse("severa: a user without a guid", backend="severa")
    default = raw.get("defaultActivityType")
    default_guid = default.get("guid") if isinstance(default, dict) else None
    return SeveraUser(
        guid=raw["guid"],
        email=str(raw.get("email") or ""),
        zone=_zone(raw.get("timezone")),
        default_type=default_guid if isinstance(default_guid, str) else None,
    )


def _type_of(raw: Any) -> SeveraActivityType | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("guid"), str):
        return None
    return SeveraActivityType(
        guid=raw["guid"],
        name=str(raw.get("name") or raw["guid"]),
        category=str(raw.get("category") or "CalendarEntry"),
        is_active=raw.get("isActive") is not False,
        is_default=raw.get("isDefault") is True,
    )
