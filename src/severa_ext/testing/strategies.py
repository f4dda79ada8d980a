"""Hypothesis strategies for calendar items, activities, rights and edit sequences.

Written in hypothesis's house style: plural nouns, keyword-only options, strategies
(never "a value or a strategy") as arguments, ``SearchStrategy[T]`` return types::

    from hypothesis import given
    from severa_ext.testing.strategies import calendar_items

    @given(calendar_items())
    def test_round_trip(item): ...

:func:`register_type_strategies` registers them for ``st.from_type``; the package's
``hypothesis`` entry point calls it, so ``st.from_type(CalendarItem)`` works in any
suite with severa_ext installed. Importing this module imports hypothesis and the
package's pure value types only (no backend, no I/O).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Literal, Protocol
from zoneinfo import ZoneInfo

import attrs
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from severa_ext.domain import Activity, ActivityCategory, ActivityType
from severa_ext.errors import ValidationError
from severa_ext.sync.items import CONTENT_FIELDS, CalendarItem, ShowAs, Side, Window

if TYPE_CHECKING:
    from severa_ext.extranet.rights import Right

__all__ = [
    "DEFAULT_WINDOW",
    "Edit",
    "EditableCalendar",
    "activities",
    "activity_types",
    "all_day_items",
    "calendar_items",
    "edit_sequences",
    "register_type_strategies",
    "rights",
    "windows",
]

DEFAULT_WINDOW = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
"""Where generated items fall unless a ``window`` is given."""

_ZONES: tuple[tzinfo, ...] = (
    UTC,
    ZoneInfo("Europe/Helsinki"),
    ZoneInfo("Europe/Stockholm"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Asia/Kolkata"),
)

_TEXT = st.characters(categories=("L", "N", "P", "S", "Zs"), exclude_characters="\x00")


def _texts(*, min_size: int = 0, max_size: int = 40) -> SearchStrategy[str]:
    return st.text(_TEXT, min_size=min_size, max_size=max_size)


def _bodies() -> SearchStrategy[str]:
    return st.lists(_texts(max_size=30), max_size=4).map("\n".join)


def _check_window(window: Window) -> Window:
    if not isinstance(window, Window):
        raise ValidationError(f"window must be a Window, got {window!r}")
    return window


@st.composite
def _timed_spans(
    draw: st.DrawFn,
    window: Window,
    zones: SearchStrategy[tzinfo],
    max_duration: timedelta,
) -> tuple[datetime, datetime]:
    minutes = int((window.end - window.start).total_seconds() // 60)
    offset = draw(st.integers(0, max(0, minutes - 1)))
    length = draw(st.integers(0, int(max_duration.total_seconds() // 60)))
    zone = draw(zones)
    start = (window.start + timedelta(minutes=offset)).astimezone(zone)
    return start, (start + timedelta(minutes=length)).astimezone(zone)


@st.composite
def _all_day_spans(draw: st.DrawFn, window: Window, max_days: int) -> tuple[date, date]:
    first = window.start.astimezone(UTC).date() + timedelta(days=1)
    last = (window.end.astimezone(UTC) - timedelta(days=1)).date()
    days = max(0, (last - first).days)
    start = first + timedelta(days=draw(st.integers(0, days)))
    return start, start + timedelta(days=draw(st.integers(1, max_days)))


def calendar_items(
    *,
    window: Window = DEFAULT_WINDOW,
    all_day: bool | None = None,
    titles: SearchStrategy[str] | None = None,
    zones: SearchStrategy[tzinfo] | None = None,
    max_duration: timedelta = timedelta(hours=10),
    max_days: int = 5,
    with_identity: bool = False,
) -> SearchStrategy[CalendarItem]:
    """Calendar items that start inside ``window``, with every content field drawn.

    Args:
        window: where the items start (all-day items: on whole days inside it).
        all_day: ``True`` for all-day items only, ``False`` for timed only, ``None``
            for both.
        titles: the titles; printable text of up to 40 characters by default.
        zones: the zones timed items are spelt in (UTC, Helsinki, Stockholm, New
            York, Kolkata by default); the instant is what counts.
        max_duration: the longest timed item.
        max_days: the longest all-day item, in days (at least 1).
        with_identity: also draw ``id``, ``etag`` and ``sync_key`` (as if stored).

    Returns:
        A strategy of valid :class:`~severa_ext.sync.items.CalendarItem` values.
    """
    _check_window(window)
    if max_days < 1:
        raise ValidationError(f"calendar_items: max_days must be at least 1, got {max_days}")
    if max_duration < timedelta(0):
        raise ValidationError("calendar_items: max_duration must not be negative")
    spans: list[SearchStrategy[Any]] = []
    if all_day is not True:
        spans.append(
            _timed_spans(
                window, zones if zones is not None else st.sampled_from(_ZONES), max_duration
            )
        )
    if all_day is not False:
        spans.append(_all_day_spans(window, max_days))
    identity = (
        st.fixed_dictionaries(
            {
                "id": st.uuids().map(str),
                "etag": st.integers(1, 10**6).map(str),
                "sync_key": st.uuids().map(lambda u: u.hex),
            }
        )
        if with_identity
        else st.just({})
    )
    return st.builds(
        _make_item,
        span=st.one_of(spans),
        title=titles if titles is not None else _texts(min_size=1),
        location=_texts(max_size=20),
        body=_bodies(),
        private=st.booleans(),
        show_as=st.sampled_from(ShowAs),
        categories=st.lists(_texts(min_size=1, max_size=12), max_size=3, unique=True),
        identity=identity,
    )


def _make_item(
    *,
    span: tuple[datetime | date, datetime | date],
    identity: Mapping[str, Any],
    categories: Sequence[str],
    **fields: Any,
) -> CalendarItem:
    start, end = span
    return CalendarItem(start=start, end=end, categories=tuple(categories), **fields, **identity)


def all_day_items(
    *, window: Window = DEFAULT_WINDOW, max_days: int = 5
) -> SearchStrategy[CalendarItem]:
    """All-day items (``date`` start, exclusive ``date`` end) inside ``window``.

    Args:
        window: where the items fall.
        max_days: the longest item, in days.
    """
    return calendar_items(window=window, all_day=True, max_days=max_days)


def windows(
    *,
    around: SearchStrategy[datetime] | None = None,
    max_past_days: int = 60,
    max_future_days: int = 400,
) -> SearchStrategy[Window]:
    """Sync windows: from some days before an instant to some days after it.

    Args:
        around: the instants the windows are built around (aware datetimes in 2026
            by default).
        max_past_days: the most days a window reaches back.
        max_future_days: the most days a window reaches forward.
    """
    instants = (
        around
        if around is not None
        else st.datetimes(
            min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
        )
    )
    return st.builds(
        lambda now, past, future: Window.around(now, past_days=past, future_days=future),
        instants,
        st.integers(0, max_past_days),
        st.integers(1, max_future_days),
    )


def activity_types(
    *,
    categories: SearchStrategy[ActivityCategory] | None = None,
    ids: SearchStrategy[str] | None = None,
) -> SearchStrategy[ActivityType]:
    """Severa activity types (calendar entries and project tasks, S8).

    Args:
        categories: the categories; both by default.
        ids: the type ids; short slugs by default.
    """
    return st.builds(
        ActivityType,
        id=ids if ids is not None else st.from_regex(r"[a-z][a-z0-9-]{1,11}", fullmatch=True),
        name=_texts(min_size=1, max_size=20).filter(lambda s: bool(s.strip())),
        category=categories if categories is not None else st.sampled_from(ActivityCategory),
    )


def activities(
    *,
    user_ids: SearchStrategy[str] | None = None,
    types: SearchStrategy[ActivityType] | None = None,
    items: SearchStrategy[CalendarItem] | None = None,
) -> SearchStrategy[Activity]:
    """Severa activities, their content drawn as calendar items are.

    Args:
        user_ids: whose activities (``"user-1"`` by default).
        types: the activity types drawn from (:func:`activity_types` by default).
        items: the content (:func:`calendar_items` by default).
    """
    return st.builds(
        _make_activity,
        activity_id=st.uuids().map(str),
        user_id=user_ids if user_ids is not None else st.just("user-1"),
        activity_type=types if types is not None else activity_types(),
        item=items if items is not None else calendar_items(),
    )


def _make_activity(
    *, activity_id: str, user_id: str, activity_type: ActivityType, item: CalendarItem
) -> Activity:
    return Activity(
        id=activity_id,
        user_id=user_id,
        activity_type_id=activity_type.id,
        title=item.title,
        start=item.start,
        end=item.end,
        location=item.location,
        description=item.body,
        is_private=item.private,
        categories=item.categories,
    )


def rights(*, consistent: bool = True) -> SearchStrategy[Right]:
    """Combinations of Extranet rights (X4, X5).

    Args:
        consistent: only combinations where each right has the rights it needs
            (``APPROVE_HOURS`` needs ``VIEW_HOURS``...); ``False`` draws any combination.
    """
    from severa_ext.extranet.rights import NO_RIGHTS, Right, with_dependencies

    singles = [r for r in Right if r.name is not None and bin(r.value).count("1") == 1]

    def combine(chosen: list[Right]) -> Right:
        combined = NO_RIGHTS
        for right in chosen:
            combined |= right
        return with_dependencies(combined) if consistent else combined

    return st.lists(st.sampled_from(singles), unique=True).map(combine)


# -- edit sequences ---------------------------------------------------------------------

EditAction = Literal["create", "update", "delete"]


class EditableCalendar(Protocol):
    """What :meth:`Edit.apply_to` needs: user-side edits, as ``MemoryBackend`` has."""

    def user_create(self, item: CalendarItem) -> CalendarItem:
        """Add an item as a user would."""
        ...

    def user_update(self, item_id: str, **changes: Any) -> CalendarItem:
        """Change fields of an item as a user would."""
        ...

    def user_delete(self, item_id: str) -> None:
        """Delete an item as a user would."""
        ...

    def all_items(self) -> list[CalendarItem]:
        """Every stored item."""
        ...


@attrs.frozen
class Edit:
    """One user edit on one side of a sync pair (drawn by :func:`edit_sequences`).

    Attributes:
        side: ``"a"`` or ``"b"``.
        action: ``"create"``, ``"update"`` or ``"delete"``.
        item: the new item (create), or the source of the new values (update).
        fields: for an update, the content fields taken from ``item`` (``start`` and
            ``end`` always together: a move).
        target: which existing item an update or delete touches: an index into the
            side's items sorted by id, taken modulo their number.
    """

    side: Side
    action: EditAction
    item: CalendarItem | None = None
    fields: tuple[str, ...] = ()
    target: int = 0

    def __attrs_post_init__(self) -> None:
        if self.action not in ("create", "update", "delete"):
            raise ValidationError(f"Edit: unknown action {self.action!r}")
        if self.action != "delete" and self.item is None:
            raise ValidationError(f"Edit: a {self.action} needs an item")
        unknown = set(self.fields) - set(CONTENT_FIELDS)
        if unknown:
            raise ValidationError(f"Edit: unknown content fields {sorted(unknown)}")

    def apply_to(self, backend: EditableCalendar) -> CalendarItem | None:
        """Make this edit on a calendar (a ``MemoryBackend``) as its user would.

        Returns:
            The created or updated item; ``None`` for a delete or when there is
            nothing to update or delete.
        """
        if self.action == "create" and self.item is not None:
            return backend.user_create(self.item)
        existing = sorted(backend.all_items(), key=lambda i: i.id or "")
        if not existing:
            return None
        victim = existing[self.target % len(existing)]
        if victim.id is None or self.item is None:
            if victim.id is not None:
                backend.user_delete(victim.id)
            return None
        changes = {name: getattr(self.item, name) for name in self.fields}
        return backend.user_update(victim.id, **changes)


_UPDATABLE = (*(f for f in CONTENT_FIELDS if f not in {"start", "end"}), "when")


def _fields(chosen: list[str]) -> tuple[str, ...]:
    fields: list[str] = []
    for name in chosen:
        fields.extend(("start", "end") if name == "when" else (name,))
    return tuple(fields)


def edit_sequences(
    *,
    items: SearchStrategy[CalendarItem] | None = None,
    sides: SearchStrategy[Side] | None = None,
    min_size: int = 0,
    max_size: int = 10,
) -> SearchStrategy[list[Edit]]:
    """Lists of user edits (create, update some fields or move, delete) on both sides.

    Args:
        items: the content of created items and of new values (:func:`calendar_items`
            by default).
        sides: which sides are edited (both by default).
        min_size: the fewest edits.
        max_size: the most edits.
    """
    contents = items if items is not None else calendar_items()
    on = sides if sides is not None else st.sampled_from(("a", "b"))
    creates = st.builds(Edit, side=on, action=st.just("create"), item=contents)
    updates = st.builds(
        Edit,
        side=on,
        action=st.just("update"),
        item=contents,
        fields=st.lists(st.sampled_from(_UPDATABLE), min_size=1, unique=True).map(_fields),
        target=st.integers(0, 1000),
    )
    deletes = st.builds(Edit, side=on, action=st.just("delete"), target=st.integers(0, 1000))
    return st.lists(st.one_of(creates, updates, deletes), min_size=min_size, max_size=max_size)


# -- st.from_type -----------------------------------------------------------------------


def register_type_strategies() -> None:
    """Register the strategies so ``st.from_type`` builds the package's values.

    Covers :class:`~severa_ext.sync.items.CalendarItem`,
    :class:`~severa_ext.sync.items.Window`, :class:`~severa_ext.domain.Activity`,
    :class:`~severa_ext.domain.ActivityType` and ``severa_ext.extranet.Right``.
    Safe to call more than once. The ``hypothesis`` entry point calls it.
    """
    from severa_ext.extranet.rights import Right

    st.register_type_strategy(CalendarItem, st.deferred(calendar_items))
    st.register_type_strategy(Window, st.deferred(windows))
    st.register_type_strategy(Activity, st.deferred(activities))
    st.register_type_strategy(ActivityType, st.deferred(activity_types))
    st.register_type_strategy(Right, st.deferred(rights))
