"""The in-memory mailboxes behind ``FakeEwsServer``: items, series, change log.

Everything here is plain data and rules, no HTTP: the handler module turns SOAP
requests into calls on a :class:`FakeMailbox`. Times are stored as aware UTC
datetimes; time-zone names are Windows names, as Exchange keeps them.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from tzlocal.windows_tz import tz_win, win_tz

from severa_ext.clock import Clock, SystemClock
from severa_ext.sync.items import CalendarItem, ShowAs

__all__ = [
    "FakeMailbox",
    "StoredItem",
    "SyncStateError",
    "new_change_key",
    "stored_from_calendar_item",
    "windows_name",
    "zone_named",
]

_SHOW_AS = {
    ShowAs.FREE: "Free",
    ShowAs.TENTATIVE: "Tentative",
    ShowAs.BUSY: "Busy",
    ShowAs.OOF: "OOF",
    ShowAs.WORKING_ELSEWHERE: "WorkingElsewhere",
    ShowAs.UNKNOWN: "NoData",
}
_SHOW_AS_BACK = {value: key for key, value in _SHOW_AS.items()}


def zone_named(name: str) -> ZoneInfo | None:
    """The zone an EWS time-zone id names (a Windows name or an IANA id), or ``None``.

    The fake's own reading of ``StartTimeZone``/``EndTimeZone`` ids, through the CLDR
    table of ``tzlocal`` (not the backend's zone helpers).
    """
    candidate = name.strip().strip("\"'")
    for key in (candidate, win_tz.get(candidate)):
        if not key:
            continue
        try:
            return ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return None


def windows_name(iana: str) -> str | None:
    """The Windows zone id Exchange uses for an IANA zone, if there is one."""
    return tz_win.get(iana)


def new_change_key() -> str:
    """A fresh opaque ChangeKey."""
    return "CQAAABYA" + secrets.token_urlsafe(9)


def _new_id() -> str:
    return "AAMkAD" + secrets.token_urlsafe(18)


class SyncStateError(Exception):
    """A SyncState that this mailbox did not issue, or that was invalidated."""


@attrs.define
class StoredItem:
    """One calendar item as the fake Exchange stores it (a single, master or exception)."""

    id: str
    subject: str
    start: datetime
    end: datetime
    change_key: str = attrs.field(factory=new_change_key)
    uid: str = attrs.field(factory=lambda: secrets.token_hex(16))
    body: str = ""
    location: str = ""
    all_day: bool = False
    start_tz: str = "UTC"
    end_tz: str = "UTC"
    sensitivity: str = "Normal"
    free_busy: str = "Busy"
    categories: list[str] = attrs.field(factory=list)
    extended: dict[tuple[str, str], str] = attrs.field(factory=dict)
    last_modified: datetime = attrs.field(factory=lambda: datetime.now(UTC))
    folder: str = "calendar"
    item_type: str = "Single"
    original_start: datetime | None = None
    master_id: str | None = None
    # Series (masters only): every ``interval`` from ``start``, ``count`` times.
    interval: timedelta | None = None
    count: int = 0
    series_change_key: str = attrs.field(factory=new_change_key)
    exceptions: dict[datetime, StoredItem] = attrs.field(factory=dict)
    deleted_occurrences: set[datetime] = attrs.field(factory=set)
    created_seq: int = 0
    changed_seq: int = 0
    deleted_seq: int | None = None

    def touch(self, seq: int, now: datetime) -> None:
        """Record a change: a new ChangeKey, modification time and sequence number."""
        self.change_key = new_change_key()
        self.last_modified = now
        self.changed_seq = seq

    def occurrence_id(self, original: datetime) -> str:
        """The stable id of this master's occurrence that originally starts at ``original``."""
        return f"{self.id}.{original.strftime('%Y%m%dT%H%M%SZ')}"

    def originals(self) -> Iterator[datetime]:
        """The original starts of the series' occurrences, deleted ones included."""
        if self.interval is None:
            return
        for index in range(self.count):
            yield self.start + index * self.interval

    def occurrences(self) -> Iterator[StoredItem]:
        """The series expanded: occurrences and exceptions, without deleted ones."""
        duration = self.end - self.start
        for original in self.originals():
            if original in self.deleted_occurrences:
                continue
            exception = self.exceptions.get(original)
            if exception is not None:
                yield exception
                continue
            yield attrs.evolve(
                self,
                id=self.occurrence_id(original),
                start=original,
                end=original + duration,
                change_key=self.series_change_key,
                item_type="Occurrence",
                original_start=original,
                master_id=self.id,
                interval=None,
                count=0,
                exceptions={},
                deleted_occurrences=set(),
            )

    def to_calendar_item(self) -> CalendarItem:
        """This item as a neutral :class:`CalendarItem` (what a user would see)."""
        start_zone = zone_named(self.start_tz) or UTC
        end_zone = zone_named(self.end_tz) or start_zone
        start: datetime | date
        end: datetime | date
        if self.all_day:
            start = self.start.astimezone(start_zone).date()
            end = self.end.astimezone(end_zone).date()
        else:
            start = self.start.astimezone(start_zone)
            end = self.end.astimezone(end_zone)
        sync_key = next(
            (value for (_, name), value in self.extended.items() if name == "SeveraExtSyncKey"),
            None,
        )
        occurrence = self.item_type in {"Occurrence", "Exception"}
        return CalendarItem(
            title=self.subject,
            start=start,
            end=end,
            location=self.location,
            body=self.body,
            private=self.sensitivity != "Normal",
            show_as=_SHOW_AS_BACK.get(self.free_busy, ShowAs.UNKNOWN),
            categories=tuple(self.categories),
            last_modified=self.last_modified,
            id=self.id,
            etag=self.change_key,
            sync_key=sync_key,
            series_id=self.uid if occurrence else None,
            original_start=self.original_start if occurrence else None,
        )


def _zone_of(value: datetime | date) -> str:
    if isinstance(value, datetime) and isinstance(value.tzinfo, ZoneInfo):
        return windows_name(value.tzinfo.key) or "UTC"
    return "UTC"


def _utc(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.combine(value, time(0), tzinfo=UTC)


def stored_from_calendar_item(item: CalendarItem, item_id: str | None = None) -> StoredItem:
    """A :class:`StoredItem` holding the content of ``item`` (user-side helpers use it)."""
    return StoredItem(
        id=item_id or _new_id(),
        subject=item.title,
        start=_utc(item.start),
        end=_utc(item.end),
        body=item.body,
        location=item.location,
        all_day=item.all_day,
        start_tz=_zone_of(item.start),
        end_tz=_zone_of(item.end),
        sensitivity="Private" if item.private else "Normal",
        free_busy=_SHOW_AS[item.show_as],
        categories=list(item.categories),
    )


@attrs.define
class FakeMailbox:
    """One mailbox: its calendar, Deleted Items and the change log behind SyncState."""

    address: str
    aliases: tuple[str, ...] = ()
    impersonation_allowed: bool = True
    items: dict[str, StoredItem] = attrs.field(factory=dict)
    clock: Clock = attrs.field(factory=SystemClock, repr=False)
    seq: int = 0
    sync_states: dict[str, tuple[int, frozenset[str]]] = attrs.field(factory=dict, repr=False)
    calendar_folder_id: str = attrs.field(factory=lambda: "AQMkCal" + secrets.token_urlsafe(12))
    deleted_folder_id: str = attrs.field(factory=lambda: "AQMkDel" + secrets.token_urlsafe(12))

    # --- ids -----------------------------------------------------------------

    def next_seq(self) -> int:
        """Advance and return the change sequence number."""
        self.seq += 1
        return self.seq

    def lookup(self, item_id: str) -> StoredItem | None:
        """The item, occurrence or exception with ``item_id`` (any folder), or ``None``."""
        direct = self.items.get(item_id)
        if direct is not None:
            return direct
        master_id, dot, _stamp = item_id.rpartition(".")
        master = self.items.get(master_id) if dot else None
        if master is None or master.interval is None or master.folder != "calendar":
            return None
        for occurrence in master.occurrences():
            if occurrence.id == item_id:
                return occurrence
        return None

    # --- writes --------------------------------------------------------------

    def add(self, stored: StoredItem) -> StoredItem:
        """Store a new item (single or master) in the calendar."""
        seq = self.next_seq()
        stored.created_seq = seq
        stored.changed_seq = seq
        stored.folder = "calendar"
        stored.last_modified = self.clock.now()
        self.items[stored.id] = stored
        return stored

    def replace_content(self, target: StoredItem, content: StoredItem) -> StoredItem:
        """Give ``target`` (item, occurrence or exception) the content of ``content``."""
        fields = (
            "subject",
            "body",
            "location",
            "start",
            "end",
            "all_day",
            "start_tz",
            "end_tz",
            "sensitivity",
            "free_busy",
            "categories",
        )
        changes = {name: getattr(content, name) for name in fields}
        return self.modify(target, changes)

    def modify(self, target: StoredItem, changes: dict[str, object]) -> StoredItem:
        """Apply field ``changes`` to ``target``; an occurrence becomes an exception."""
        seq = self.next_seq()
        if target.item_type in {"Occurrence", "Exception"}:
            master = self.items[target.master_id or ""]
            assert target.original_start is not None
            exception = master.exceptions.get(target.original_start)
            if exception is None:
                exception = attrs.evolve(target, item_type="Exception")
                master.exceptions[target.original_start] = exception
            for name, value in changes.items():
                setattr(exception, name, value)
            exception.touch(seq, self.clock.now())
            master.changed_seq = seq
            master.last_modified = exception.last_modified
            return exception
        for name, value in changes.items():
            setattr(target, name, value)
        target.touch(seq, self.clock.now())
        if target.interval is not None:
            target.series_change_key = new_change_key()
        return target

    def remove(self, target: StoredItem) -> None:
        """Delete (move to Deleted Items); an occurrence is removed from its series."""
        seq = self.next_seq()
        if target.item_type in {"Occurrence", "Exception"}:
            master = self.items[target.master_id or ""]
            assert target.original_start is not None
            master.exceptions.pop(target.original_start, None)
            master.deleted_occurrences.add(target.original_start)
            master.changed_seq = seq
            master.change_key = new_change_key()
            return
        target.folder = "deleteditems"
        target.deleted_seq = seq
        target.change_key = new_change_key()

    # --- reads ---------------------------------------------------------------

    def calendar(self) -> Iterator[StoredItem]:
        """Singles and masters in the calendar folder."""
        return (item for item in self.items.values() if item.folder == "calendar")

    def expanded(self) -> Iterator[StoredItem]:
        """What a calendar view shows: singles, occurrences and exceptions."""
        for item in self.calendar():
            if item.interval is None:
                yield item
            else:
                yield from item.occurrences()

    # --- SyncState -----------------------------------------------------------

    def issue_sync_state(self, seq: int, seen: frozenset[str]) -> str:
        """A new opaque SyncState: the change ``seq`` reached and the ids reported so far.

        Keeping what a client has seen makes Create/Update/Delete exact across pages:
        an item is a Create until reported, and only reported items are deleted.
        """
        token = base64.b64encode(secrets.token_bytes(18)).decode()
        self.sync_states[token] = (seq, seen)
        return token

    def parse_sync_state(self, token: str | None) -> tuple[int, frozenset[str]]:
        """The ``(seq, seen ids)`` behind ``token`` (nothing seen for no token).

        Raises:
            SyncStateError: the token was not issued here or was invalidated.
        """
        if not token:
            return 0, frozenset()
        found = self.sync_states.get(token.strip())
        if found is None:
            raise SyncStateError(token)
        return found

    def invalidate_sync_states(self) -> None:
        """Forget every issued SyncState (as after a mailbox move)."""
        self.sync_states.clear()

    def changes_since(self, seq: int, seen: frozenset[str]) -> list[tuple[str, int, StoredItem]]:
        """``(kind, seq, item)`` per item changed after ``seq``, oldest first.

        ``kind`` is ``"Create"`` (not reported yet), ``"Update"`` or ``"Delete"`` (a
        reported item left the calendar); one entry per item.
        """
        entries: list[tuple[str, int, StoredItem]] = []
        for item in self.items.values():
            if item.folder == "calendar":
                if item.changed_seq > seq or item.id not in seen:
                    kind = "Update" if item.id in seen else "Create"
                    entries.append((kind, item.changed_seq, item))
            elif item.id in seen:
                entries.append(("Delete", item.deleted_seq or item.changed_seq, item))
        entries.sort(key=lambda entry: entry[1])
        return entries
