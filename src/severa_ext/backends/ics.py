"""iCalendar (ICS) backends: a local ``.ics`` file (read-write) and a subscription.

:class:`IcsBackend` syncs one local file through ``icalendar``: identity by UID (plus
the original start of an occurrence of a recurring series), the engine's sync key in
the ``X-SEVERA-EXT-SYNC-KEY`` property, every unknown property and component kept on
rewrite, atomic writes (temporary file in the same folder, ``fsync``, ``os.replace``),
and a refusal to overwrite a file that changed on disk since it was read. Its cursor
names the file's content hash, the window and the reading options: given back for an
unchanged file, ``changes`` answers an empty delta after hashing it, without parsing.

:class:`IcsSubscription` reads an ``http(s)://`` or ``webcal://`` feed: conditional
GETs (ETag / If-Modified-Since) through one ``requests.Session`` with a timeout, size
and time limits; an empty, truncated or HTML answer is an error, never an empty
calendar (which would delete everything on the other side); writes raise
:class:`~severa_ext.errors.ReadOnlyBackend`.

Both expand recurring series inside the sync window with ``recurring-ical-events``
(bounded in count and time), resolve each file's time zones on their own (IANA,
Windows names, the file's VTIMEZONEs, ``X-WR-TIMEZONE``; an unknown TZID is an error,
never a floating time), map ``CLASS`` other than PUBLIC to private (S9, RFC 5545
3.8.1.3) and skip cancelled entries. A broken component is skipped and listed in
:attr:`IcsReader.problems` as a :class:`~severa_ext.errors.BadItem`; the rest syncs.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import attrs
import requests
import x_wr_timezone
from icalendar import Calendar, Component, Timezone

from severa_ext.backends._http import (
    DEFAULT_RETRY_AFTER,
    HttpAnswer,
    HttpLimits,
    parse_retry_after,
    require_same_origin,
    safe_url,
    send,
)
from severa_ext.backends._ics_cursor import (
    CURSOR_PREFIX,
    END,
    HEAD,
    STAMP_PROPERTY,
    cursor_parts,
    identity,
    identity_hasher,
    make_cursor,
    options_fingerprint,
    same_context,
    same_listing,
    stamp_line,
    stamped,
)
from severa_ext.backends._ics_emit import NewEvent, Stamp, emit_event, emittable
from severa_ext.backends._ics_fast import read_fast
from severa_ext.backends._ics_file import atomic_write, render_calendar
from severa_ext.backends._ics_index import (
    EXPANSION_BUDGET_S,
    SYNC_KEY_PROPERTY,
    CalendarIndex,
    SkippedComponent,
    build_index,
    convert,
    expand_series,
    split_id,
)
from severa_ext.backends._ics_scan import StoredEvent
from severa_ext.backends._ics_text import (
    DEFAULT_MAX_BYTES,
    captured_warnings,
    parse_prepared,
    prepare_text,
)
from severa_ext.backends._ics_write import apply_item, new_event, new_override
from severa_ext.backends._timezones import resolve_zone
from severa_ext.backends.base import (
    CreateOp,
    DeleteOp,
    UpdateOp,
    WriteOp,
    WriteResult,
)
from severa_ext.clock import Clock, SystemClock
from severa_ext.errors import (
    AuthError,
    BackendError,
    BackendUnavailable,
    BadItem,
    ConfigError,
    MalformedResponse,
    NotFound,
    ReadOnlyBackend,
    SeveraExtError,
    Throttled,
    VersionConflict,
)
from severa_ext.sync.items import CalendarItem, Capabilities, ChangeSet, Window

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ICS_SYNC_KEY_PROPERTY",
    "MAX_REDIRECTS",
    "IcsBackend",
    "IcsReader",
    "IcsSubscription",
    "parse_zone",
]

logger = logging.getLogger(__name__)

ICS_SYNC_KEY_PROPERTY = SYNC_KEY_PROPERTY
"""``X-SEVERA-EXT-SYNC-KEY``: the property that carries the engine's sync key (S3)."""

_PRODID = "-//severa_ext//ICS backend//EN"

MAX_REDIRECTS = 5
"""Redirects a subscription follows (same origin only) before it gives up."""


def parse_zone(zone: str | ZoneInfo) -> tzinfo:
    """A zone from an IANA id, a Windows name or a ``ZoneInfo`` (floating times use it).

    Raises:
        ConfigError: the name is not a known zone.
    """
    if isinstance(zone, ZoneInfo):
        return zone
    if zone.upper() in ("UTC", "Z"):
        return UTC
    resolved = resolve_zone(zone)
    if resolved is None:
        raise ConfigError(f"unknown time zone {zone!r} (use an IANA id like 'Europe/Helsinki')")
    return resolved


@attrs.define
class _Loaded:
    """One read of the calendar."""

    calendar: Calendar
    index: CalendarIndex
    digest: str
    signature: tuple[int, int, int] | None
    notes: tuple[str, ...]
    expansions: dict[Window, tuple[CalendarItem, ...]] = attrs.field(factory=dict)
    dirty: bool = False
    keys: dict[str, tuple[str, ...]] | None = None
    """Ids of the single events by sync key (tuples: the collector soon stops tracking them)."""
    created: dict[str, bytes] = attrs.field(factory=dict)
    """The texts of the events created since the read, by UID in creation order: the
    file's last events, kept as bare text (no record each: an initial sync creates tens
    of thousands) until a write needs one (:meth:`records_of`)."""
    zones: set[str] = attrs.field(factory=set)
    """TZIDs created events name, whose VTIMEZONE the next render makes sure of."""
    origin: str = ""
    """The digest of the file content the writes since then started from."""
    written: bytearray | None = None
    """The file as last written, while every change since is an appended event."""
    hasher: Any = None
    """The identity hash state of ``written`` without its last line."""
    fresh: list[bytes] = attrs.field(factory=list)
    """The texts of the events created since ``written`` was written, in order."""
    stamped_with: tuple[str, str] | None = None

    def full_render(self, stamped_with: tuple[str, str] | None) -> tuple[bytearray, str]:
        """The whole file (stamped for ``stamped_with``) and its identity, hashed once;
        later appends extend it instead of rendering anew."""
        body = memoryview(self.render())  # ends with END
        hasher = identity_hasher(body[: -len(END)])
        final = hasher.copy()
        final.update(END)
        digest: str = final.hexdigest()
        data = bytearray()
        if stamped_with is not None and body[: len(HEAD)] == HEAD:
            data += HEAD
            data += stamp_line(digest, *stamped_with)
            data += body[len(HEAD) :]
        else:
            data += body
        self.written, self.hasher, self.fresh = data, hasher, []
        self.stamped_with = stamped_with
        return data, digest

    def add_created(self, uid: str, created: NewEvent) -> None:
        """Keep the event ``uid`` created now as its text, and index its item."""
        self.created[uid] = created.text
        if created.tzids:
            self.zones |= created.tzids
            self.written = None  # a VTIMEZONE may be missing: the full render adds it
        self.fresh.append(created.text)
        self.put_single(uid, created.item)

    def append_render(self, stamped_with: tuple[str, str] | None) -> tuple[bytearray, str] | None:
        """The file with the events created since the last write appended (no other
        change since), and its identity; ``None`` when a full render is needed."""
        written = self.written
        if written is None or stamped_with != self.stamped_with:
            return None
        tail = b"".join(self.fresh)
        self.hasher.update(tail)
        final = self.hasher.copy()
        final.update(END)
        digest: str = final.hexdigest()
        del written[-len(END) :]
        written += tail + END
        if stamped_with is not None:
            line = stamp_line(digest, *stamped_with)
            written[len(HEAD) : len(HEAD) + len(line)] = line
        self.fresh = []
        return written, digest

    def render(self) -> bytes:
        """The file's new bytes, with a VTIMEZONE for each zone a created event names."""
        have = {str(c.get("TZID")) for c in self.calendar.subcomponents if c.name == "VTIMEZONE"}
        for tzid in sorted(self.zones - have):
            self.calendar.subcomponents.insert(0, Timezone.from_tzid(tzid))
        self.zones = set()
        return render_calendar(self.calendar, self.created.values())

    def records_of(self, uid: str) -> list[StoredEvent]:
        """The stored events of ``uid``, in file order; one created since the read
        becomes a record of the calendar now (after its other components)."""
        text = self.created.pop(uid, None)
        if text is None:
            return self.index.stored.get(uid, [])
        record = StoredEvent(text)
        self.written = None  # it moves before the other created events: render anew
        self.calendar.subcomponents.append(record)  # type: ignore[arg-type]
        stored = self.index.stored.setdefault(uid, [])
        stored.append(record)
        return stored

    def ids_of(self, sync_key: str) -> tuple[str, ...]:
        """Ids of the single events stamped with ``sync_key`` (one lookup table per read)."""
        if self.keys is None:
            keys: dict[str, tuple[str, ...]] = {}
            for item in self.index.singles.values():
                if item.sync_key is not None and item.id is not None:
                    keys[item.sync_key] = (*keys.get(item.sync_key, ()), item.id)
            self.keys = keys
        return self.keys.get(sync_key, ())

    def put_single(self, uid: str, item: CalendarItem) -> None:
        """Index a written single event (its sync key too)."""
        self.index.singles[uid] = item
        keys, sync_key = self.keys, item.sync_key
        if keys is not None and sync_key is not None:
            ids = keys.get(sync_key)
            if ids is None:
                keys[sync_key] = (uid,)
            elif uid not in ids:
                keys[sync_key] = (*ids, uid)


def _index_calendar(
    data: bytes,
    source: str,
    *,
    floating: tzinfo,
    max_bytes: int,
    encoding: str | None,
    budget: float,
) -> tuple[Calendar, CalendarIndex, tuple[str, ...]]:
    prepared = prepare_text(data, source, max_bytes=max_bytes, encoding=encoding)
    fast = read_fast(prepared, source, floating, budget=budget)
    if fast is not None:
        calendar, index, notes = fast
    else:
        parsed = parse_prepared(prepared, source)
        collected = list(parsed.notes)
        with captured_warnings(collected):
            index, _floating = _index_parsed(
                parsed.calendar,
                parsed.event_lines,
                source,
                floating,
                budget=budget,
                durations=parsed.durations,
                property_lines=parsed.property_lines,
            )
        calendar, notes = parsed.calendar, tuple(collected)
    for note in notes:
        logger.info("%s: %s", source, note)
    return calendar, index, notes


def _index_parsed(
    calendar: Calendar,
    event_lines: tuple[int, ...],
    source: str,
    floating: tzinfo,
    *,
    budget: float,
    durations: tuple[str | None, ...] = (),
    property_lines: tuple[dict[str, int], ...] = (),
) -> tuple[CalendarIndex, tzinfo]:
    """Index a parsed calendar (``X-WR-TIMEZONE`` applied to a copy for reading); its
    VEVENTs become :class:`StoredEvent` records of their components."""
    read = calendar
    records = [StoredEvent(None, c) for c in calendar.subcomponents if c.name == "VEVENT"]
    if "X-WR-TIMEZONE" in calendar:
        try:
            read = x_wr_timezone.to_standard(calendar)
        except (ValueError, KeyError, TypeError, LookupError) as exc:
            raise BackendError(
                f"{source}: X-WR-TIMEZONE {str(calendar['X-WR-TIMEZONE'])!r} is not usable: {exc}",
                backend="ics",
            ) from exc
        wr_zone = resolve_zone(str(calendar["X-WR-TIMEZONE"]))
        if wr_zone is not None:
            floating = wr_zone
    index = build_index(
        read,
        event_lines,
        floating,
        source,
        records,
        expansion_budget=budget,
        durations=durations,
        property_lines=property_lines,
    )
    entries: list[Any] = calendar.subcomponents
    kept = iter(records)
    entries[:] = [next(kept) if c.name == "VEVENT" else c for c in entries]
    return index, floating


class IcsReader:
    """The read side both ICS backends share: listing, lookups and problems.

    Not constructed directly: use :class:`IcsBackend` or :class:`IcsSubscription`.
    """

    _loaded: _Loaded | None
    _backend_name: str
    _last_window: Window | None

    def _current(self) -> _Loaded:
        raise NotImplementedError

    def _lookup(self) -> _Loaded:
        """The calendar lookups (``get``, ``find``) answer from."""
        return self._current()

    @property
    def name(self) -> str:
        """``ics:PATH`` or the subscription URL."""
        return self._backend_name

    @property
    def problems(self) -> tuple[BadItem, ...]:
        """Components skipped by the last read (line / UID and reason), for the journal."""
        loaded = self._loaded
        return tuple(loaded.index.problems) if loaded is not None else ()

    @property
    def notes(self) -> tuple[str, ...]:
        """Non-fatal findings about the text of the last read (BOM, encoding)."""
        loaded = self._loaded
        return loaded.notes if loaded is not None else ()

    def _items(self, loaded: _Loaded, window: Window) -> Iterator[CalendarItem]:
        for item in loaded.index.singles.values():
            if window.contains(item):
                yield item
        yield from self._occurrences(loaded, window)

    def _occurrences(self, loaded: _Loaded, window: Window) -> tuple[CalendarItem, ...]:
        cached = loaded.expansions.get(window)
        if cached is None:
            notes: list[str] = []
            with captured_warnings(notes):
                cached = loaded.expansions[window] = tuple(loaded.index.expand(window))
            for note in notes:
                logger.info("%s: %s", self._backend_name, note)
        return cached

    def _unchanged_since(self, cursor: str | None, window: Window) -> bool:
        """True when a listing now would be the one ``cursor`` was issued with."""
        return False

    def _cursor(self, loaded: _Loaded, window: Window) -> str:
        return loaded.digest

    def _resting_cursor(self, cursor: str | None, window: Window) -> str | None:
        """The cursor an empty delta answers with (``cursor`` itself by default)."""
        return cursor

    def changes(self, cursor: str | None, window: Window) -> ChangeSet:
        """A full listing of the window, or "nothing changed" since ``cursor``.

        ICS has no per-item deltas: every answer is either a full listing
        (``full=True``) or, when the source is provably what ``cursor`` was issued
        for, an empty delta (``full=False``, no items, no removals, the same cursor).

        Raises:
            BackendError: the calendar cannot be read at all (naming file and line).
        """
        self._last_window = window
        if self._unchanged_since(cursor, window):
            logger.debug("%s: unchanged since the cursor; nothing to list", self._backend_name)
            return ChangeSet(cursor=self._resting_cursor(cursor, window), full=False)
        loaded = self._current()
        # ChangeSet's converter=tuple is opaque to mypy: hand it an Any.
        items: Any = tuple(self._items(loaded, window))
        return ChangeSet(items=items, cursor=self._cursor(loaded, window), full=True)

    def get(self, item_id: str) -> CalendarItem | None:
        """The item with ``item_id`` (an occurrence is found wherever it is).

        Raises:
            BadItem: the item exists but is broken (it is skipped, not deleted).
        """
        loaded = self._lookup()
        index = loaded.index
        uid, token = split_id(item_id)
        if token is None:
            found = index.singles.get(uid)
            if found is None and uid in index.bad_ids:
                raise BadItem(item_id, "the event is broken in the file", backend="ics")
            return found
        series = index.series.get(uid)
        if series is None:
            if uid in index.bad_ids:
                raise BadItem(item_id, "the series is broken in the file", backend="ics")
            return None
        original = _token_time(token)
        window = Window(original - _DAY * 2, original + _DAY * 2)
        try:
            for item in expand_series(
                series, index.resolver, window, budget=index.expansion_budget
            ):
                if item.id == item_id:
                    return item
        except SkippedComponent as exc:
            raise BadItem(item_id, str(exc), backend="ics") from exc
        return None

    def find(self, sync_key: str) -> tuple[CalendarItem, ...]:
        """Every item stamped with ``sync_key``."""
        loaded = self._lookup()
        singles = loaded.index.singles
        found = [
            item
            for item_id in loaded.ids_of(sync_key)
            if (item := singles.get(item_id)) is not None and item.sync_key == sync_key
        ]
        window = self._last_window
        if window is not None:
            found.extend(i for i in self._occurrences(loaded, window) if i.sync_key == sync_key)
        return tuple(found)

    def flush(self) -> None:
        """Nothing buffered here: each write reaches the file or feed at once (a no-op)."""


_DAY = timedelta(days=1)


def _token_time(token: str) -> datetime:
    if "T" in token:
        return datetime.strptime(token, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return datetime.strptime(token, "%Y%m%d").replace(tzinfo=UTC)


def _reparse_in_place(component: Component) -> None:
    """Replace a changed component's values by what parsing its text gives.

    Values added from Python objects and values read from text differ in small ways
    (escaping, parameters); after this, the in-memory calendar equals a fresh read.
    """
    fresh = Component.from_ical(component.to_ical())
    component.clear()
    for name, value in fresh.items():
        component[name] = value
    component.subcomponents[:] = fresh.subcomponents


def _add_zones(calendar: Calendar, touched: list[Component]) -> None:
    """Add a VTIMEZONE for each known zone the ``touched`` components name and the
    calendar lacks (icalendar's rule), without walking the calendar's other events."""
    existing = [c for c in calendar.subcomponents if c.name == "VTIMEZONE"]
    probe = Calendar()
    probe.subcomponents = [*existing, *touched]
    probe.add_missing_timezones()
    added = [
        c
        for c in probe.subcomponents
        if c.name == "VTIMEZONE" and not any(c is zone for zone in existing)
    ]
    calendar.subcomponents[:0] = added


def _nonce_of(cursor: str) -> str | None:
    parts = cursor_parts(cursor)
    return parts.nonce if parts is not None else None


def _recurring(component: Component) -> bool:
    return any(name in component for name in ("RRULE", "RDATE", "RECURRENCE-ID"))


def _digest(data: bytes) -> str:
    return identity(data)


class IcsBackend(IcsReader):
    """A local ``.ics`` file as a read-write calendar.

    Args:
        path: the file.
        zone: the zone floating times are read in (IANA id, Windows name or ZoneInfo).
        max_bytes: files above this size are refused.
        clock: stamps LAST-MODIFIED / DTSTAMP of what is written.
        encoding: a legacy encoding the file is in (it is rewritten as UTF-8);
            ``None`` reads UTF-8 and refuses anything else, never guessing.
        expansion_budget: seconds one recurring series may take to expand; a series
            over it is skipped (a problem), never a hang.
        create_missing: create an empty calendar when the file does not exist (else a
            missing file is :class:`~severa_ext.errors.NotFound`, never an empty
            calendar).

    Raises:
        ConfigError: the zone is unknown.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        zone: str | ZoneInfo = "UTC",
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Clock | None = None,
        create_missing: bool = False,
        encoding: str | None = None,
        expansion_budget: float = EXPANSION_BUDGET_S,
    ) -> None:
        self.path = Path(path)
        self._encoding = encoding
        self._budget = expansion_budget
        self._zone = parse_zone(zone)
        self._max_bytes = max_bytes
        self._clock: Clock = clock or SystemClock()
        self._loaded = None
        self._last_window = None
        self._backend_name = f"ics:{self.path}"
        self._needs_zones = False
        self._touched: list[StoredEvent] = []
        self._series_changed = False
        self._batch_stamp: Stamp | None = None
        self._flushes_called = False
        self._created_here = False
        self._parses = 0
        self._echo_cursor: str | None = None
        self._nonce: str | None = None
        """The token of the consumer whose cursor this backend last answered."""
        self._listed: str | None = None
        """The digest of the file that consumer last saw listed (or unchanged)."""
        self._options = options_fingerprint(
            zone=self._zone,
            encoding=encoding,
            max_bytes=max_bytes,
            expansion_budget=expansion_budget,
        )
        if create_missing and not self.path.exists():
            empty = Calendar()
            empty.add("PRODID", _PRODID)
            empty.add("VERSION", "2.0")
            atomic_write(self.path, empty.to_ical())
            self._created_here = True

    def __repr__(self) -> str:
        return f"IcsBackend({str(self.path)!r})"

    @property
    def capabilities(self) -> Capabilities:
        """No per-item deltas; batches are written as one file rewrite.

        ``delta`` stays False on purpose. ``Capabilities.delta`` promises deltas
        that list each created, updated and removed item since a cursor (the backend
        contract tests hold a ``delta=True`` backend to that), and this backend never
        lists per-item changes: it answers a full listing, or an empty delta when the
        file's bytes, the window and the reading options are exactly those the cursor
        was issued for. The engine does not need the flag for that: it passes its
        stored cursor to every backend and treats any ``full=False`` answer as a
        delta, so an empty one costs it no per-item work.

        ``rewrites_on_flush``: each flush replaces the whole file, so the engine
        lets its durable steps grow with the run (O(log N) flushes).
        """
        return Capabilities(
            delta=False,
            batch_size=500,
            read_only=False,
            sync_key_lookup=False,
            rewrites_on_flush=True,
        )

    @property
    def parses(self) -> int:
        """How many times this backend has parsed the file (a cursor check never does)."""
        return self._parses

    # --- reading -------------------------------------------------------------

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BackendError(f"{self.path}: cannot be read: {exc}", backend="ics") from exc
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _read(self) -> _Loaded:
        signature = self._stat()
        if signature is None:
            raise NotFound(f"{self.path}: no such calendar file", backend="ics")
        if signature[1] > self._max_bytes:
            raise BackendError(
                f"{self.path}: {signature[1]} bytes is more than the limit of "
                f"{self._max_bytes} bytes",
                backend="ics",
            )
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise BackendError(f"{self.path}: cannot be read: {exc}", backend="ics") from exc
        self._parses += 1
        calendar, index, notes = _index_calendar(
            data,
            str(self.path),
            floating=self._zone,
            max_bytes=self._max_bytes,
            encoding=self._encoding,
            budget=self._budget,
        )
        calendar.pop(STAMP_PROPERTY, None)  # written again, new, with the next write
        digest = _digest(data)
        loaded = _Loaded(calendar, index, digest, signature, notes, origin=digest)
        for problem in index.problems:
            logger.info("%s: skipped %s", self.path, problem)
        return loaded

    def _current(self) -> _Loaded:
        loaded = self._loaded
        if loaded is not None and loaded.dirty:
            return loaded  # buffered writes: a change on disk is refused at flush
        if loaded is None or self._stat() != loaded.signature:
            self._loaded = loaded = self._read()
        return loaded

    def _cursor(self, loaded: _Loaded, window: Window) -> str:
        cursor = make_cursor(loaded.digest, window, self._options, self._nonce)
        self._nonce = self._nonce or _nonce_of(cursor)
        self._listed = loaded.origin = loaded.digest
        return cursor

    def changes(self, cursor: str | None, window: Window) -> ChangeSet:
        """As :meth:`IcsReader.changes`; a file this backend created is refused when
        ``cursor`` shows the pair was synced with a file here before.

        Raises:
            NotFound: the file was created empty now although the stored cursor names
                an earlier one (it vanished: listing it empty would delete everything
                on the other side); the empty file is removed again.
        """
        created, self._created_here = self._created_here, False
        if created and cursor is not None and cursor.startswith(CURSOR_PREFIX + ":"):
            self.path.unlink(missing_ok=True)
            self._loaded = None
            raise NotFound(
                f"{self.path}: no such calendar file, although an earlier sync read one "
                "there (restore it, or reset the pair's state to start over)",
                backend="ics",
            )
        return super().changes(cursor, window)

    def _unchanged_since(self, cursor: str | None, window: Window) -> bool:
        # Only hashing: size and mtime are never trusted (an edit may keep both), so
        # the hash also drops a cached parse the stat signature would still accept.
        # Anything unexpected (not a cursor of this format, a missing, oversized or
        # unreadable file) answers False, and the full listing that follows raises
        # the same errors it always did.
        self._echo_cursor = None
        if self._loaded is not None and self._loaded.dirty:
            return False  # writes not flushed yet: list from memory, never drop them
        parts = cursor_parts(cursor) if cursor is not None else None
        if parts is not None:
            self._nonce = parts.nonce  # this consumer's token, for what we write next
        if parts is None and self._loaded is None:
            return False
        try:
            signature = self._stat()
            if signature is None or signature[1] > self._max_bytes:
                return False
            data = self.path.read_bytes()
        except (OSError, BackendError):
            return False
        digest = _digest(data)
        if self._loaded is not None and self._loaded.digest != digest:
            self._loaded = None
        if parts is None:
            return False
        if same_listing(parts, digest, window, self._options):
            self._settled_at(digest)
            return True
        # The echo of our own writes: the file is exactly what this backend wrote for
        # this consumer, starting from the file its cursor names (the engine has every
        # write's result), so nothing changed that the engine has not seen.
        if same_context(parts, window, self._options) and stamped(data, digest) == (
            parts.nonce,
            parts.digest[:16],
        ):
            self._echo_cursor = make_cursor(digest, window, self._options, parts.nonce)
            self._settled_at(digest)
            return True
        return False

    def _resting_cursor(self, cursor: str | None, window: Window) -> str | None:
        return self._echo_cursor or cursor

    def _settled_at(self, digest: str) -> None:
        """The consumer has seen the file with ``digest``: writes from it are its echo."""
        self._listed = digest
        if self._loaded is not None:
            self._loaded.origin = digest

    # --- writing -------------------------------------------------------------

    def flush(self) -> None:
        """Write every change accepted so far to the file, once (atomically, fsynced).

        The engine calls it at the end of each durable step, before its state store
        commits the step; until a caller has called it once, :meth:`apply_batch` and
        the single-item writes flush by themselves, so an engine that never calls it
        still never records a write the file does not have.

        Raises:
            VersionConflict: the file changed on disk since it was read (the buffered
                changes are dropped; the next read starts from the file).
            BackendError: the file cannot be written.
        """
        self._flushes_called = True
        loaded = self._loaded
        if loaded is None or not loaded.dirty:
            return
        self._write_out(loaded)

    def _refuse_if_changed(self, loaded: _Loaded) -> None:
        signature = self._stat()
        if signature == loaded.signature:
            return
        try:
            on_disk = self.path.read_bytes() if signature is not None else b""
        except OSError:
            on_disk = b""
        if _digest(on_disk) != loaded.digest:
            self._loaded = None  # our in-memory changes are dropped
            raise VersionConflict(
                f"{self.path} changed on disk since it was read; not overwriting it",
                backend="ics",
            )

    def _write_out(self, loaded: _Loaded) -> None:
        """Render the calendar (changed components only) and replace the file."""
        self._refuse_if_changed(loaded)
        stamped_with = None
        if self._nonce is not None and self._listed == loaded.origin:
            # Only writes that started from what the consumer saw listed are its echo.
            stamped_with = (self._nonce, loaded.origin)
        data, digest = loaded.append_render(stamped_with) or loaded.full_render(stamped_with)
        atomic_write(self.path, data)
        size = len(data)
        loaded.digest = digest
        loaded.signature = self._stat()
        loaded.dirty = False
        self._created_here = False
        logger.info("%s: wrote %d bytes", self.path, size)

    def _settle(self, loaded: _Loaded, touched: list[StoredEvent], needs_zones: bool) -> None:
        """Bring the index in step with the changed events (no file access)."""
        components = [record.materialize() for record in touched]
        for record, component in zip(touched, components, strict=True):
            _reparse_in_place(component)
            record.changed()
        if touched or needs_zones:
            loaded.written = None  # a change inside the file: render it whole next time
        if needs_zones:
            _add_zones(loaded.calendar, components)
        loaded.expansions.clear()
        loaded.dirty = True
        simple = "X-WR-TIMEZONE" not in loaded.calendar and not any(map(_recurring, components))
        if simple and not self._series_changed:
            # Created events are indexed already; changed single events again here.
            resolver = loaded.index.resolver
            for component in components:
                uid = str(component.get("UID", "")).strip()
                item = convert(component, resolver, item_id=uid)
                loaded.put_single(uid, item)
            return
        # A series changed: index the calendar as a read of what it renders to would
        # (lines are those of the text to be written).
        rendered = loaded.render()
        calendar, index, _notes = _index_calendar(
            rendered,
            str(self.path),
            floating=self._zone,
            max_bytes=len(rendered),
            encoding=None,
            budget=self._budget,
        )
        loaded.calendar = calendar
        loaded.index = index
        loaded.created = {}
        loaded.keys = None

    def _now(self) -> datetime:
        return self._clock.now()

    def _write_stamp(self) -> Stamp:
        """The LAST-MODIFIED of the events one batch creates (they reach the file
        together): the clock is read once a batch."""
        if self._batch_stamp is None:
            self._batch_stamp = Stamp.of(self._now())
        return self._batch_stamp

    def _master(self, loaded: _Loaded, uid: str) -> StoredEvent | None:
        """The stored event of ``uid`` that is no RECURRENCE-ID override (parsed now
        where it was kept as text): a single event or a series' master."""
        records = loaded.records_of(uid)
        return next((r for r in records if "RECURRENCE-ID" not in r.materialize()), None)

    def _check(self, loaded: _Loaded, item_id: str, if_match: str | None) -> CalendarItem:
        current = self.get(item_id)
        if current is None:
            raise NotFound(f"{self.path}: no item {item_id!r}", backend="ics")
        if if_match is not None and current.etag != if_match:
            raise VersionConflict(
                f"{self.path}: item {item_id!r} changed since it was read", backend="ics"
            )
        return current

    def _do_create(self, loaded: _Loaded, item: CalendarItem, sync_key: str) -> str:
        for existing_id in loaded.ids_of(sync_key):
            if existing_id in loaded.index.singles:
                return existing_id
        uid = f"{sync_key}@severa-ext"
        if emittable(item, sync_key):
            created = emit_event(uid, item, stamp=self._write_stamp(), sync_key=sync_key)
            loaded.add_created(uid, created)
            return uid
        event = new_event(uid)
        loaded.written = None
        self._needs_zones |= apply_item(event, item, now=self._now(), sync_key=sync_key)
        record = StoredEvent(None, event)
        loaded.calendar.subcomponents.append(record)  # type: ignore[arg-type]
        loaded.index.stored.setdefault(uid, []).append(record)
        self._touched.append(record)
        return uid

    def _do_update(
        self, loaded: _Loaded, item_id: str, item: CalendarItem, if_match: str | None
    ) -> str:
        current = self._check(loaded, item_id, if_match)
        uid, token = split_id(item_id)
        loaded.written = None
        sync_key = current.sync_key
        if token is None:
            target = self._master(loaded, uid)
            if target is None:
                raise NotFound(f"{self.path}: no item {item_id!r}", backend="ics")
        else:
            target = self._override(loaded, uid, token)
            if target is None:
                master = self._master(loaded, uid)
                if master is None or current.original_start is None:
                    raise NotFound(f"{self.path}: no item {item_id!r}", backend="ics")
                override = new_override(master.materialize(), current.original_start)
                target = StoredEvent(None, override)
                loaded.calendar.subcomponents.append(target)  # type: ignore[arg-type]
            self._series_changed = True
        self._needs_zones |= apply_item(
            target.materialize(),
            item,
            now=self._now(),
            sync_key=sync_key,
            floating=loaded.index.resolver.floating,
        )
        self._touched.append(target)
        return item_id

    def _override(self, loaded: _Loaded, uid: str, token: str) -> StoredEvent | None:
        """The stored RECURRENCE-ID override of ``uid`` for the occurrence ``token``."""
        series = loaded.index.series.get(uid)
        return series.stored_overrides.get(token) if series is not None else None

    def _remove(self, loaded: _Loaded, record: StoredEvent) -> None:
        subcomponents: list[Any] = loaded.calendar.subcomponents  # StoredEvents among them
        for position, candidate in enumerate(subcomponents):
            if candidate is record:
                del subcomponents[position]
                return

    def _do_delete(self, loaded: _Loaded, item_id: str, if_match: str | None) -> None:
        current = self._check(loaded, item_id, if_match)
        uid, token = split_id(item_id)
        loaded.written = None
        self._series_changed = True
        master = self._master(loaded, uid)
        if token is None:
            if master is not None:
                self._remove(loaded, master)
            return
        override = self._override(loaded, uid, token)
        if override is not None:
            self._remove(loaded, override)
        if master is not None and current.original_start is not None:
            original = current.original_start
            value = original.astimezone(UTC) if isinstance(original, datetime) else original
            master.materialize().add("EXDATE", value)
            self._touched.append(master)
        elif override is None:
            raise NotFound(f"{self.path}: no item {item_id!r}", backend="ics")

    def _apply(self, loaded: _Loaded, op: WriteOp) -> str | None:
        if isinstance(op, CreateOp):
            return self._do_create(loaded, op.item, op.sync_key)
        if isinstance(op, UpdateOp):
            return self._do_update(loaded, op.item_id, op.item, op.if_match)
        self._do_delete(loaded, op.item_id, op.if_match)
        return None

    def _run(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        loaded = self._current()
        self._needs_zones = False
        self._series_changed = False
        self._touched = []
        self._batch_stamp = None
        # Per op, in order: the id it wrote, None (a delete), or the error refusing it.
        outcomes: list[str | SeveraExtError | None] = []
        try:
            for op in ops:
                try:
                    outcomes.append(self._apply(loaded, op))
                except SeveraExtError as exc:
                    outcomes.append(exc)
            if not all(isinstance(outcome, SeveraExtError) for outcome in outcomes):
                self._settle(loaded, self._touched, self._needs_zones)
                if not self._flushes_called:
                    self._write_out(loaded)
        except BaseException:
            self._loaded = None
            raise
        singles = loaded.index.singles
        return [
            self._result(op, outcome, singles) for op, outcome in zip(ops, outcomes, strict=True)
        ]

    def _result(
        self, op: WriteOp, outcome: str | SeveraExtError | None, singles: dict[str, CalendarItem]
    ) -> WriteResult:
        if isinstance(outcome, SeveraExtError):
            return WriteResult(op, error=outcome)
        if outcome is None:
            return WriteResult(op, None)
        # A created id never names an occurrence: its single event is the answer.
        stored = singles.get(outcome) if isinstance(op, CreateOp) else None
        stored = stored or self.get(outcome)
        if stored is None:
            return WriteResult(
                op, error=BadItem(outcome, "not readable after writing", backend="ics")
            )
        return WriteResult(op, stored)

    def _one(self, op: WriteOp) -> CalendarItem | None:
        (result,) = self._run([op])
        if result.error is not None:
            raise result.error
        return result.item

    def create(self, item: CalendarItem, sync_key: str) -> CalendarItem:
        """Append a VEVENT stamped with ``sync_key`` (idempotent per sync key).

        Raises:
            VersionConflict: the file changed on disk since it was read.
        """
        created = self._one(CreateOp(item, sync_key))
        assert created is not None
        return created

    def update(self, item_id: str, item: CalendarItem, if_match: str | None) -> CalendarItem:
        """Rewrite the kept fields of ``item_id`` (an occurrence gets an override).

        Raises:
            VersionConflict: the item or the file changed since it was read.
            NotFound: no such item.
        """
        updated = self._one(UpdateOp(item_id, item, if_match))
        assert updated is not None
        return updated

    def delete(self, item_id: str, if_match: str | None) -> None:
        """Remove ``item_id`` (an occurrence becomes an EXDATE of its series).

        Raises:
            VersionConflict: the item or the file changed since it was read.
            NotFound: no such item.
        """
        self._one(DeleteOp(item_id, if_match))

    def apply_batch(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Apply ``ops`` in order and rewrite the file once (one result per op)."""
        if not ops:
            return []
        return self._run(ops)

    def close(self) -> None:
        """Write what is still buffered (as :meth:`flush`), then forget the cached read.

        Raises:
            VersionConflict: the file changed on disk since it was read.
            BackendError: the file cannot be written.
        """
        try:
            loaded = self._loaded
            if loaded is not None and loaded.dirty:
                self._write_out(loaded)
        finally:
            self._loaded = None


class IcsSubscription(IcsReader):
    """A read-only ICS feed over ``http(s)://`` or ``webcal://``.

    Args:
        url: the feed; ``webcal://`` means ``https://``.
        session: the ``requests.Session`` to use (one per backend; injected in tests).
        zone: the zone floating times are read in.
        timeout: seconds for connecting and for each read.
        max_seconds: the whole download (each request, redirects included in the
            count of :data:`MAX_REDIRECTS`) must finish within this many seconds.
        max_bytes: larger bodies (after decompression) are refused.
        expansion_budget: seconds one recurring series may take to expand.
        allow_http: accept a plain ``http://`` URL (a feed on a trusted local
            network, or a test server); without it only ``https://`` and
            ``webcal://`` (read as https) are accepted, since a plain-http feed can
            be altered by anyone on the path.

    Raises:
        ConfigError: the URL is not https or webcal (or http without
            ``allow_http``), or the zone is unknown.
    """

    def __init__(
        self,
        url: str,
        *,
        session: requests.Session | None = None,
        zone: str | ZoneInfo = "UTC",
        timeout: float = 30.0,
        max_seconds: float = 120.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        expansion_budget: float = EXPANSION_BUDGET_S,
        allow_http: bool = False,
    ) -> None:
        lowered = url.lower()
        if lowered.startswith("webcal://"):
            url = "https://" + url[len("webcal://") :]
        elif lowered.startswith("http://") and not allow_http:
            raise ConfigError(
                f"{safe_url(url)}: a plain http:// subscription is refused (anyone on the "
                "path can alter it); use https:// or webcal://, or allow_http=True for a "
                "trusted local feed"
            )
        elif not lowered.startswith(("http://", "https://")):
            raise ConfigError(f"not an https or webcal URL: {safe_url(url)!r}")
        self.url = url
        self._budget = expansion_budget
        self._session = session or requests.Session()
        self._zone = parse_zone(zone)
        self._timeout = timeout
        self._max_seconds = max_seconds
        self._max_bytes = max_bytes
        self._limits = HttpLimits(max_body_bytes=max_bytes, deadline=max_seconds)
        self._loaded = None
        self._last_window = None
        self._backend_name = url
        self._validators: dict[str, str] = {}
        self._body: bytes | None = None
        self._charset: str | None = None
        self._pending_validators: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"IcsSubscription({self.url!r})"

    @property
    def capabilities(self) -> Capabilities:
        """Read-only, full listings."""
        return Capabilities(delta=False, batch_size=1, read_only=True, sync_key_lookup=False)

    def _download(self) -> bytes | None:
        """The new body, or ``None`` when the server says 304 Not Modified.

        Redirects are followed by hand, at most :data:`MAX_REDIRECTS`, and only to the
        configured URL's scheme, host and port (nothing configured for this feed, a
        session's auth or cookies, may reach another host); each request has the total
        deadline and the decompressed size cap of :mod:`severa_ext.backends._http`.
        """
        headers = {"Accept": "text/calendar, */*;q=0.1"}
        if self._body is not None:
            if "etag" in self._validators:
                headers["If-None-Match"] = self._validators["etag"]
            if "last-modified" in self._validators:
                headers["If-Modified-Since"] = self._validators["last-modified"]
        url = self.url
        for _hop in range(MAX_REDIRECTS + 1):
            answer = send(
                self._session,
                "GET",
                url,
                limits=self._limits,
                timeout=self._timeout,
                backend="ics",
                what=f"GET {safe_url(url)}",
                headers=headers,
            )
            if answer.status not in (301, 302, 303, 307, 308):
                return self._accept(answer)
            target = urljoin(url, answer.header("Location") or "")
            url = require_same_origin(target, self.url, what="redirect", backend="ics")
        raise MalformedResponse(
            f"{safe_url(self.url)}: more than {MAX_REDIRECTS} redirects", backend="ics"
        )

    def _accept(self, answer: HttpAnswer) -> bytes | None:
        if answer.status == 304:
            if self._body is None:
                raise MalformedResponse(
                    f"{self.url}: 304 Not Modified to an unconditional request",
                    backend="ics",
                )
            return None
        _raise_for_status(self.url, answer)
        content_type = (answer.header("Content-Type") or "").lower()
        if "html" in content_type:
            raise MalformedResponse(
                f"{self.url}: the server sent an HTML page ({content_type}), not a calendar",
                backend="ics",
            )
        validators = {}
        if answer.header("ETag"):
            validators["etag"] = answer.header("ETag") or ""
        if answer.header("Last-Modified"):
            validators["last-modified"] = answer.header("Last-Modified") or ""
        self._pending_validators = validators
        match = re.search(r"charset=\"?([A-Za-z0-9_.:-]+)", content_type)
        self._charset = match.group(1) if match else None
        return answer.body

    def _current(self) -> _Loaded:
        body = self._download()
        if body is None:
            assert self._loaded is not None
            return self._loaded
        calendar, index, notes = _index_calendar(
            body,
            self.url,
            floating=self._zone,
            max_bytes=self._max_bytes,
            encoding=self._charset,
            budget=self._budget,
        )
        self._loaded = _Loaded(calendar, index, _digest(body), None, notes)
        self._body = body
        self._validators = self._pending_validators
        return self._loaded

    def _lookup(self) -> _Loaded:
        # Lookups answer from the last download (one run sees one version of the
        # feed); only ``changes`` asks the server again.
        return self._loaded if self._loaded is not None else self._current()

    def _refuse(self, *_args: Any) -> Any:
        raise ReadOnlyBackend(f"{self.url} is a read-only ICS subscription", backend="ics")

    def create(self, item: CalendarItem, sync_key: str) -> CalendarItem:
        """Raises :class:`~severa_ext.errors.ReadOnlyBackend`."""
        return self._refuse(item, sync_key)  # type: ignore[no-any-return]

    def update(self, item_id: str, item: CalendarItem, if_match: str | None) -> CalendarItem:
        """Raises :class:`~severa_ext.errors.ReadOnlyBackend`."""
        return self._refuse(item_id, item, if_match)  # type: ignore[no-any-return]

    def delete(self, item_id: str, if_match: str | None) -> None:
        """Raises :class:`~severa_ext.errors.ReadOnlyBackend`."""
        self._refuse(item_id, if_match)

    def apply_batch(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Every op fails with :class:`~severa_ext.errors.ReadOnlyBackend`."""
        error = ReadOnlyBackend(f"{self.url} is a read-only ICS subscription", backend="ics")
        return [WriteResult(op, error=error) for op in ops]

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()


def _raise_for_status(url: str, answer: HttpAnswer) -> None:
    status = answer.status
    if status < 300 and status != 204:
        return
    reason = f"{safe_url(url)}: HTTP {status}"
    if status in (401, 403):
        raise AuthError(reason, backend="ics")
    if status in (404, 410):
        raise NotFound(reason, backend="ics")
    if status == 429 or (status == 503 and answer.header("Retry-After")):
        retry = parse_retry_after(answer.header("Retry-After"), now=datetime.now(UTC))
        raise Throttled(
            reason, retry_after=retry if retry is not None else DEFAULT_RETRY_AFTER, backend="ics"
        )
    if status >= 500:
        raise BackendUnavailable(reason, backend="ics")
    raise MalformedResponse(f"{reason} (expected 200 with a calendar)", backend="ics")
