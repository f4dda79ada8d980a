"""One normalised content value: what "same content" means, everywhere.

:class:`Content` is the content of a :class:`~severa_ext.sync.items.CalendarItem`
with every spelling difference a backend may introduce taken out. The planner's
merges, the engine's echo filter and verify mode, the state stores' S3 print index,
the backends that compare content and the tests all compare through it, so there is
one answer to "did this item change".

Normalisation:

* **text** (title, location, body, each category): line endings become ``\\n``,
  trailing white space of each line and of the whole text goes
  (:func:`normalize_text`);
* **categories**: normalised, empty ones dropped, sorted (backends reorder them);
* **times**: the instant, **to the whole second** (:data:`PRECISION`; :func:`when`
  gives whole seconds since the epoch): the zone an instant is spelt in does not
  matter, and neither do sub-second digits (Graph sends seven, ICS and EWS none).
  All-day dates are compared as dates;
* **show_as**: its enum value.

Identity (id, etag, sync key), ``last_modified`` and the Severa-only fields
(activity type, project task) are not content.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from severa_ext.sync.items import CalendarItem

__all__ = [
    "MERGE_FIELDS",
    "PRECISION",
    "Content",
    "instant",
    "normalize_text",
    "when",
]

PRECISION = timedelta(seconds=1)
"""The one time precision of content (instants compare to the whole second, in UTC)."""

MERGE_FIELDS: tuple[str, ...] = (
    "title",
    "when",
    "location",
    "body",
    "private",
    "show_as",
    "categories",
)
"""The units content is compared and merged in (``when`` is start and end together:
a move changes both, and half a move is never merged)."""


def normalize_text(text: str) -> str:
    """Normalise text the way backends rewrite it.

    Line endings become ``\\n``, trailing white space of each line and of the whole
    text goes, so ``"a \\r\\nb\\n"`` and ``"a\\nb"`` compare equal.
    """
    if "\n" not in text and "\r" not in text:
        return text.strip()  # one line (most titles): its trailing space is the text's
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def instant(value: datetime | date) -> str:
    """A start or end for people (labels, the journal): ISO 8601 in UTC to the
    second, or the ISO date of an all-day item."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(microsecond=0).isoformat()
    return value.isoformat()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def when(value: datetime | date) -> int | str:
    """The normalised value of a start or end: whole seconds since the epoch (UTC,
    whatever zone the instant is spelt in), or the ISO date of an all-day item."""
    if isinstance(value, datetime):
        return (value - _EPOCH) // _SECOND
    return value.isoformat()


_TEXT = frozenset({"title", "location", "body"})
_RAW_EQUAL = frozenset({*_TEXT, "private", "show_as", "categories"})
"""Fields whose raw values, when equal, normalise to equal values."""


def _categories(categories: tuple[str, ...]) -> tuple[str, ...]:
    if not categories:
        return ()
    return tuple(sorted(c for c in map(normalize_text, categories) if c))


def _digest(title: str, start: int | str, end: int | str) -> str:
    text = f"{title}\x1f{start}\x1f{end}"
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


@attrs.frozen(cache_hash=True)
class Content:
    """The normalised content of one item (see the module docstring).

    Build it with :meth:`of`. Two items hold the same content exactly when their
    values are equal.

    Example:
        >>> from datetime import datetime, timedelta, timezone
        >>> from severa_ext.sync.items import CalendarItem
        >>> helsinki = timezone(timedelta(hours=3))
        >>> one = CalendarItem("Review ", datetime(2026, 5, 4, 12, tzinfo=helsinki),
        ...                    datetime(2026, 5, 4, 13, tzinfo=helsinki))
        >>> two = CalendarItem("Review", datetime(2026, 5, 4, 9, 0, 0, 500, tzinfo=UTC),
        ...                    datetime(2026, 5, 4, 10, tzinfo=UTC), body="notes")
        >>> Content.of(one).print() == Content.of(two).print()
        True
        >>> Content.of(one).diff(Content.of(two))
        ('body',)
    """

    title: str
    start: int | str
    end: int | str
    location: str
    body: str
    private: bool
    show_as: str
    categories: tuple[str, ...]

    @classmethod
    def of(cls, item: CalendarItem) -> Content:
        """The content of ``item``."""
        return cls(
            normalize_text(item.title),
            when(item.start),
            when(item.end),
            normalize_text(item.location),
            normalize_text(item.body),
            item.private,
            item.show_as.value,
            _categories(item.categories),
        )

    @staticmethod
    def field(item: CalendarItem, name: str) -> object:
        """``Content.of(item).value(name)``, normalising that one field alone."""
        if name == "when":
            return (when(item.start), when(item.end))
        if name in _TEXT:
            return normalize_text(getattr(item, name))
        if name in ("start", "end"):
            return when(getattr(item, name))
        if name == "categories":
            return _categories(item.categories)
        if name == "show_as":
            return item.show_as.value
        return getattr(item, name)

    @staticmethod
    def same(left: CalendarItem, right: CalendarItem, fields: Iterable[str] = MERGE_FIELDS) -> bool:
        """True when two items hold the same content in ``fields`` (field by field,
        stopping at the first difference: the cheap test of "did it change").

        A field whose raw values are equal is not normalised (normalising is a
        function of the value); times always are (two equal wall clocks of one zone
        can be different instants, either side of a DST fall-back).
        """
        for name in fields:
            if name in _RAW_EQUAL and getattr(left, name) == getattr(right, name):
                continue
            if Content.field(left, name) != Content.field(right, name):
                return False
        return True

    def value(self, name: str) -> object:
        """The value of one of :data:`MERGE_FIELDS` (or ``start`` / ``end``)."""
        if name == "when":
            return (self.start, self.end)
        return getattr(self, name)

    def key(self, fields: Iterable[str] = MERGE_FIELDS) -> tuple[object, ...]:
        """The values of ``fields`` (all :data:`MERGE_FIELDS` by default), in order:
        a hashable key that compares content on just those fields."""
        return tuple(self.value(name) for name in fields)

    def diff(self, other: Content, fields: Iterable[str] = MERGE_FIELDS) -> tuple[str, ...]:
        """The ``fields`` (all :data:`MERGE_FIELDS` by default) in which ``self`` and
        ``other`` differ, in the order given."""
        return tuple(name for name in fields if self.value(name) != other.value(name))

    def print(self) -> str:
        """The S3 print: a short digest of the title and the times.

        Other tools that copy an entry (a phone's sync, a second Outlook) rewrite
        bodies, categories and free/busy, but keep the title and the times; two items
        with one print are copies of one entry. The state stores index links by the
        print of their base.
        """
        return _digest(self.title, self.start, self.end)

    @staticmethod
    def print_of(item: CalendarItem) -> str:
        """``Content.of(item).print()``, without normalising what the print ignores
        (the hot path of every stored base)."""
        return _digest(*Content.print_key(item))

    @staticmethod
    def print_key(item: CalendarItem) -> tuple[str, int | str, int | str]:
        """What the print digests: the normalised title, start and end. Equal keys
        make equal prints (grouping by the key spares the digest)."""
        return normalize_text(item.title), when(item.start), when(item.end)

    @staticmethod
    def digest_key(key: tuple[str, int | str, int | str]) -> str:
        """The print of a :meth:`print_key`."""
        return _digest(*key)

    def digest(self, fields: Iterable[str] = MERGE_FIELDS) -> str:
        """A stable hex digest of ``fields`` (for a backend that stores a version of
        the content it wrote, or compares one field at a time)."""
        text = "\x1f".join(repr(value) for value in self.key(fields))
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
