"""The neutral calendar item model every backend speaks.

A :class:`CalendarItem` is a frozen, hashable event: the Severa side (activities) and
every calendar backend map to and from it, so the engine syncs "side A" with "side B"
without knowing which is which. Pure values: no I/O, no clock.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import attrs

from severa_ext.errors import ValidationError
from severa_ext.sync.content import Content, instant, normalize_text

__all__ = [
    "CONTENT_FIELDS",
    "COPY_FIELDS",
    "CalendarItem",
    "Capabilities",
    "ChangeSet",
    "ShowAs",
    "Side",
    "Window",
    "content_equal",
    "copy_print",
    "fingerprint",
    "item_label",
    "new_sync_key",
    "normalize_text",
]

# Which side of a sync pair: "a" (by convention the Severa side) or "b".
Side = Literal["a", "b"]


class ShowAs(enum.Enum):
    """Free/busy state of an item (Graph ``showAs``, EWS ``LegacyFreeBusyStatus``,
    ICS ``TRANSP``)."""

    FREE = "free"
    TENTATIVE = "tentative"
    BUSY = "busy"
    OOF = "oof"
    WORKING_ELSEWHERE = "workingElsewhere"
    UNKNOWN = "unknown"


def _when(name: str, value: object, owner: str = "CalendarItem") -> None:
    """Refuse a time that is neither a date nor an aware datetime."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(
                f"{owner}.{name} must be timezone-aware, got naive "
                f"{value.isoformat()} (floating times are resolved by the backend)"
            )
    elif not isinstance(value, date):
        raise ValidationError(f"{owner}.{name} must be a date or an aware datetime, got {value!r}")


def _window_when(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    _when(attribute.name, value, "Window")


def _ends_before_start(start: datetime | date, end: datetime | date) -> bool:
    """``end < start`` by instant: Python compares two times of the same zone by wall
    clock and ignores ``fold``, so an end at the first 03:00 of a DST fall-back night
    would pass as after a start at the second one."""
    if isinstance(start, datetime) and isinstance(end, datetime):
        return end.astimezone(UTC) < start.astimezone(UTC)
    return end < start


def _categories(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ValidationError("CalendarItem.categories must be a sequence of strings")
    return tuple(value)


@attrs.frozen(cache_hash=True)
class CalendarItem:
    """One calendar entry (or one occurrence of a recurring series).

    Timed items have aware ``start``/``end`` datetimes; all-day items have ``date``
    values with an exclusive ``end`` (a one-day event on 1 May ends on 2 May).

    Attributes:
        title: the subject.
        start, end: when; see above. ``end >= start``.
        location, body: plain text (backends convert HTML bodies to text and back).
        private: the calendar's private / personal / confidential flag (S9).
        show_as: free/busy state.
        categories: the item's categories, in the order the backend keeps them.
        last_modified: when the item last changed on its side (conflict rule input).
        id: the backend's identifier; ``None`` for an item not stored yet.
        etag: the backend's version tag (Graph ``@odata.etag``, EWS ChangeKey, ICS hash).
        sync_key: the stable key the engine stamped on this item, if any.
        series_id, original_start: for occurrences of a recurring series, the series'
            id and the occurrence's original start; together a stable identity.
        activity_type: on the Severa side, the activity type id; ``None`` elsewhere.
        project_task: on the Severa side, whether the activity is a project task (S8).
    """

    title: str
    start: datetime | date
    end: datetime | date
    location: str = ""
    body: str = ""
    private: bool = False
    show_as: ShowAs = ShowAs.BUSY
    categories: tuple[str, ...] = attrs.field(default=(), converter=_categories)
    last_modified: datetime | None = None
    id: str | None = None
    etag: str | None = None
    sync_key: str | None = None
    series_id: str | None = None
    original_start: datetime | date | None = None
    activity_type: str | None = None
    project_task: bool = False

    def __attrs_post_init__(self) -> None:
        # One check instead of a validator per field: every backend listing, create
        # and copy builds items, so the common case (a str title, two datetimes in
        # UTC) takes a single branch.
        start = self.start
        end = self.end
        if (
            start.__class__ is datetime
            and end.__class__ is datetime
            and start.tzinfo is UTC
            and end.tzinfo is UTC
            and self.title.__class__ is str
        ):
            if end < start:  # one fixed zone: wall clock order is instant order
                self._fail(f"end {end} is before start {start}")
        else:
            self._check_slowly()
        modified = self.last_modified
        if modified is not None and not (modified.__class__ is datetime and modified.tzinfo is UTC):
            _when("last_modified", modified)
        if self.original_start is not None:
            _when("original_start", self.original_start)

    def _check_slowly(self) -> None:
        if not isinstance(self.title, str):
            raise ValidationError(f"CalendarItem.title must be a str, got {self.title!r}")
        _when("start", self.start)
        _when("end", self.end)
        if isinstance(self.start, datetime) != isinstance(self.end, datetime):
            self._fail("start and end must both be datetimes (timed) or both dates (all-day)")
        if _ends_before_start(self.start, self.end):
            self._fail(f"end {self.end} is before start {self.start}")

    def _fail(self, problem: str) -> None:
        raise ValidationError(f"CalendarItem {self.title!r}: {problem}")

    @property
    def all_day(self) -> bool:
        """True when the item spans whole days (``start``/``end`` are dates)."""
        return not isinstance(self.start, datetime)

    def evolve(self, **changes: Any) -> CalendarItem:
        """Return a copy with ``changes`` applied (validated like a new item)."""
        return attrs.evolve(self, **changes)

    def without_identity(self) -> CalendarItem:
        """Return the content alone: no id, etag or sync key (a base copy, a new item)."""
        return attrs.evolve(self, id=None, etag=None, sync_key=None)


CONTENT_FIELDS: tuple[str, ...] = (
    "title",
    "start",
    "end",
    "location",
    "body",
    "private",
    "show_as",
    "categories",
)
"""The fields both sides keep; convergence and three-way merges compare these."""


def _instant(value: datetime | date) -> str:
    if isinstance(value, datetime):
        # The same instant spelt in different zones is the same value.
        return value.astimezone(UTC).replace(microsecond=0).isoformat()
    return value.isoformat()


def content_equal(left: CalendarItem, right: CalendarItem) -> bool:
    """True when two items hold the same content: their
    :class:`~severa_ext.sync.content.Content` values are equal."""
    return Content.of(left) == Content.of(right)


def fingerprint(item: CalendarItem, *, fields: tuple[str, ...] = CONTENT_FIELDS) -> str:
    """A stable hex digest of an item's content (:meth:`Content.digest
    <severa_ext.sync.content.Content.digest>` of ``fields``, all of
    :data:`CONTENT_FIELDS` by default).
    """
    unknown = set(fields) - set(CONTENT_FIELDS)
    if unknown:
        raise ValidationError(f"fingerprint: unknown fields {sorted(unknown)}")
    return Content.of(item).digest(fields)


COPY_FIELDS: tuple[str, ...] = ("title", "start", "end")
"""The fields two items must share to count as copies of one entry (S3).

Other tools rewrite bodies, categories and free/busy, but keep the title and the
times."""


def copy_print(item: CalendarItem) -> str:
    """The S3 print of ``item``: :meth:`Content.print
    <severa_ext.sync.content.Content.print>` (normalised title, start and end to the
    second): two items with one print are copies of one entry."""
    return Content.print_of(item)


def new_sync_key() -> str:
    """A fresh, globally unique sync key (the engine stamps it on what it creates)."""
    return uuid.uuid4().hex


@attrs.frozen
class Window:
    """The span of time a sync looks at: ``start`` inclusive, ``end`` exclusive.

    An item that leaves the window is *not* deleted (invariant 5).
    """

    start: datetime = attrs.field(validator=_window_when)
    end: datetime = attrs.field(validator=_window_when)

    def __attrs_post_init__(self) -> None:
        if self.end <= self.start:
            raise ValidationError(f"Window end {self.end} is not after start {self.start}")

    @classmethod
    def around(cls, now: datetime, *, past_days: int = 30, future_days: int = 365) -> Window:
        """The window from ``past_days`` before ``now`` to ``future_days`` after it."""
        if past_days < 0 or future_days < 0:
            raise ValidationError("Window.around: day counts must not be negative")
        return cls(now - timedelta(days=past_days), now + timedelta(days=future_days))

    def contains(self, item: CalendarItem) -> bool:
        """True when ``item`` overlaps the window (all-day dates count from midnight UTC)."""
        start, end = item.start, item.end
        if start.__class__ is not datetime or end.__class__ is not datetime:
            start, end = _as_datetime(start), _as_datetime(end)  # all-day (or a subclass)
        if end == start:  # zero-length items count at their instant
            return self.start <= start < self.end
        return start < self.end and end > self.start


def _as_datetime(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


@attrs.frozen
class ChangeSet:
    """What ``Backend.changes`` returns.

    Attributes:
        items: items added or changed since the cursor (all items when ``full``).
        removed: ids the backend reports as gone *from the window* since the cursor.
            Whether that is a user delete or a move out of the window is the engine's
            to decide (it asks ``Backend.get``).
        cursor: the cursor to pass next time; ``None`` if the backend has none.
        full: True when ``items`` is a complete listing of the window (no delta).
    """

    items: tuple[CalendarItem, ...] = attrs.field(default=(), converter=tuple)
    removed: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    cursor: str | None = None
    full: bool = False


def _field_set(value: Iterable[str] | None) -> frozenset[str] | None:
    return None if value is None else frozenset(value)


def _content_fields(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    assert isinstance(value, frozenset)
    unknown = set(value) - set(CONTENT_FIELDS)
    if unknown:
        raise ValidationError(
            f"Capabilities.content_fields: unknown fields {sorted(unknown)}; "
            f"use names from {list(CONTENT_FIELDS)}"
        )


@attrs.frozen
class Capabilities:
    """What a backend can do; the engine adapts to it.

    Attributes:
        delta: ``changes`` can return deltas from a cursor (else always full listings).
        batch_size: the most operations one ``apply_batch`` call takes (1: no batching).
        read_only: writes raise :class:`~severa_ext.errors.ReadOnlyBackend`.
        sync_key_lookup: ``find(sync_key)`` asks the server (else it scans a listing).
        max_in_flight: how many requests may run at once against one mailbox.
        content_fields: the :data:`CONTENT_FIELDS` the backend keeps; ``None`` (the
            default) means all of them. A field a side drops (an activity has no
            ``show_as``) is never compared against it (``verify``, merges) and never
            overwritten on the other side with the dropping side's default.
        rewrites_on_flush: ``flush`` writes the whole store out again (a file
            replaced atomically), so its cost grows with the store, not with the
            writes since the last flush. The engine then lets its durable steps grow
            with the run (each at least as many as the side's writes so far): the
            bytes a large sync writes stay linear in its size.
    """

    delta: bool = False
    batch_size: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    read_only: bool = False
    sync_key_lookup: bool = True
    max_in_flight: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    content_fields: frozenset[str] | None = attrs.field(
        default=None, converter=_field_set, validator=_content_fields
    )
    rewrites_on_flush: bool = False


def item_label(item: CalendarItem) -> str:
    """A short human label for logs and the journal (never the body)."""
    return f"{item.title!r} at {instant(item.start)}"
