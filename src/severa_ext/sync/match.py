"""The identity phase (pure): every observed item resolved once, in one order.

:func:`match` takes the stored links and what each side reports, and says of each
observed item (and each confirmed delete) which entry it is. The planner decides
what to *do* with each outcome; no outcome is inferred anywhere else.

Each unlinked item gets the first outcome that applies, in this order (``s`` is its
side, a *print* is :meth:`Content.print <severa_ext.sync.content.Content.print>`):

== ========================= ===============================================================
#  outcome                   when
== ========================= ===============================================================
0  :class:`Member`           a link owns its id (or the id it reports deleted)
1  :class:`Replaces` (key)   it carries the sync key of a link whose item on ``s`` was
                             deleted in this run while the other item lives: a tool
                             moved it by delete + create and kept the key (S3)
2  :class:`Copy`             it carries a sync key a link owns, or one another item of
                             ``s`` carries (copies another tool made, S3)
3  :class:`Stays`            it lies outside the window
4  :class:`Pair`             an unlinked item of the other side has its print: the two
                             are copies of one entry (S3, first sync); side-A items the
                             policy sends pair first, then those it does not send
5  :class:`Stays`            a side-A item the policy does not send (S8)
6  :class:`Replaces` (print) its print is that of a linked entry whose item on ``s`` was
                             deleted in this run while the other item lives (S3)
6  :class:`Copy`             its print is that of a linked entry whose item on ``s`` is
                             there with that print, or whose items were both deleted
                             in this run (the user's delete stands)
7  :class:`Copy`             an earlier item of ``s`` with its print is already synced
                             in this run (a :class:`Pair` or a :class:`New`)
8  :class:`New`              anything else: a new entry, to create on the other side
== ========================= ===============================================================

A linked entry's item "on ``s``" at step 6 is the item as observed in this run (or
its base when unchanged), and the links asked are those in ``known_copies`` (stored
links by the print of their base) and those whose item on ``s`` changed in this run.
A replacement wins over a copy; pending intents and parked items are never matched.
A link is replaced at most once per run: a second item with its print is its copy.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence

import attrs

from severa_ext.sync.content import Content, instant
from severa_ext.sync.items import CalendarItem, Side, Window
from severa_ext.sync.links import Link, Stored
from severa_ext.sync.policy import SyncPolicy

__all__ = [
    "DELETED",
    "UNCHANGED",
    "Copy",
    "ItemState",
    "Matching",
    "Member",
    "New",
    "Observed",
    "Pair",
    "Replaces",
    "Seen",
    "Stays",
    "match",
    "seen_state",
]


class ItemState(enum.Enum):
    """What an entry's item is in a run, when it is not a new version."""

    UNCHANGED = "unchanged"
    DELETED = "deleted"


UNCHANGED = ItemState.UNCHANGED
"""An entry's item that did not change since the link's etag."""
DELETED = ItemState.DELETED
"""An entry's item its side confirmed deleted."""

Seen = CalendarItem | ItemState
"""An entry's item on one side in this run (its new version, or a state)."""

SIDES: tuple[Side, Side] = ("a", "b")


def _other(side: Side) -> Side:
    return "b" if side == "a" else "a"


@attrs.frozen
class Observed:
    """What one side reports, made definite by the engine.

    Attributes:
        changed: current versions of items that changed (in the window, or moved
            out of it: those are edits, not deletes).
        deleted: ids the backend confirmed deleted (``get`` returned nothing).
        shared_keys: sync keys that more than one item of this side carries while no
            link owns them (copies made by another tool, S3).
    """

    changed: tuple[CalendarItem, ...] = ()
    deleted: frozenset[str] = frozenset()
    shared_keys: frozenset[str] = frozenset()


@attrs.frozen
class Member:
    """Outcome 0: the entry ``link`` as observed; ``a``/``b`` is each side's state."""

    link: Stored
    a: Seen = UNCHANGED
    b: Seen = UNCHANGED


@attrs.frozen
class Replaces:
    """Outcomes 1 and 6: ``item`` on ``side`` replaces ``link``'s item deleted there
    in this run (S3); the entry is planned as if that item had been edited into it."""

    link: Link
    side: Side
    item: CalendarItem

    @property
    def replaced_id(self) -> str | None:
        """The id of the deleted item it replaces."""
        return self.link.id_on(self.side)


@attrs.frozen
class Copy:
    """Outcomes 2, 6 and 7: ``item`` copies an entry that is synced already (S3)."""

    side: Side
    item: CalendarItem
    reason: str


@attrs.frozen
class Pair:
    """Outcome 4: two unlinked items, one per side, are copies of one entry (S3)."""

    a: CalendarItem
    b: CalendarItem


@attrs.frozen
class New:
    """Outcome 8: a new entry first seen as ``item`` on ``side``."""

    side: Side
    item: CalendarItem


@attrs.frozen
class Stays:
    """Outcomes 3 and 5: ``item`` is left where it is (outside the window, or a
    side-A item the policy does not send): nothing is written for it."""

    side: Side
    item: CalendarItem


@attrs.frozen
class Matching:
    """Every outcome of one run: each observed item is in exactly one.

    Attributes:
        members: the linked entries observed, in order of first observation; an
            entry with a :class:`Replaces` already shows the replacement.
        replaces: replacements, by sync key of their entry.
        copies, pairs, new, stays: the unlinked items, by outcome.
    """

    members: tuple[Member, ...] = ()
    replaces: Mapping[str, Replaces] = attrs.field(factory=dict)
    copies: tuple[Copy, ...] = ()
    pairs: tuple[Pair, ...] = ()
    new: tuple[New, ...] = ()
    stays: tuple[Stays, ...] = ()


def seen_state(link: Stored, side: Side, item: CalendarItem | None) -> Seen:
    """An entry's item as observed: ``DELETED``, ``UNCHANGED`` (its etag is the one
    the link stores) or the item itself."""
    if item is None:
        return DELETED
    if item.etag is not None and item.etag == link.etag_on(side):
        return UNCHANGED
    return item


def _label(item: CalendarItem) -> str:
    return f"{item.title!r} at {instant(item.start)}"


class _Matcher:
    """One run's identity phase (the state of :func:`match`)."""

    def __init__(self, links: Iterable[Stored], known_copies: Mapping[str, Sequence[Link]]) -> None:
        self.by_key: dict[str, Stored] = {}
        self.by_id: dict[Side, dict[str, Stored]] = {"a": {}, "b": {}}
        for link in links:
            self.by_key[link.sync_key] = link
            for side in SIDES:
                item_id = link.id_on(side)
                if item_id is not None:
                    self.by_id[side][item_id] = link
        self.known_copies = known_copies
        self.slots: dict[str, dict[Side, Seen]] = {}
        self.replaces: dict[str, Replaces] = {}
        self.copies: list[Copy] = []
        # Links whose item on a side changed in this run (or was replaced), by side,
        # and the same by current print: built only when step 6 asks (an edit sync
        # with no unlinked item digests nothing).
        self.changed: dict[Side, list[tuple[str, CalendarItem]]] = {"a": [], "b": []}
        self._twins: dict[Side, dict[str, list[str]]] | None = None

    def observe(self, side: Side, seen: Observed) -> list[CalendarItem]:
        """Outcome 0; returns the unlinked items."""
        unlinked: list[CalendarItem] = []
        index = self.by_id[side]
        for item in seen.changed:
            assert item.id is not None
            link = index.get(item.id)
            if link is None:
                unlinked.append(item)
                continue
            state = seen_state(link, side, item)
            self.slots.setdefault(link.sync_key, {})[side] = state
            if isinstance(state, CalendarItem):
                self.note_changed(side, link.sync_key, state)
        for item_id in seen.deleted:
            link = index.get(item_id)
            if link is not None:
                self.slots.setdefault(link.sync_key, {})[side] = DELETED
        return unlinked

    def replaceable(self, link: Stored, side: Side) -> bool:
        """``link``'s item on ``side`` was deleted in this run, its other item lives."""
        slot = self.slots.get(link.sync_key, {})
        return (
            isinstance(link, Link)
            and slot.get(side) is DELETED
            and slot.get(_other(side)) is not DELETED
            and link.id_on(_other(side)) is not None
        )

    def replace(self, link: Link, side: Side, item: CalendarItem) -> None:
        self.replaces[link.sync_key] = Replaces(link, side, item)
        self.slots[link.sync_key][side] = item
        self.by_key[link.sync_key] = link.with_item(side, item.id, None)  # its item now
        self.note_changed(side, link.sync_key, item)

    def note_changed(self, side: Side, key: str, item: CalendarItem) -> None:
        """The entry ``key``'s item on ``side`` is ``item``, new in this run."""
        self.changed[side].append((key, item))
        if self._twins is not None:
            self._twins[side].setdefault(Content.print_of(item), []).append(key)

    def twins(self, side: Side, print_: str) -> list[str]:
        """The entries whose item on ``side`` changed in this run to one with ``print_``."""
        if self._twins is None:
            self._twins = {"a": {}, "b": {}}
            for each in SIDES:
                index = self._twins[each]
                for key, item in self.changed[each]:
                    index.setdefault(Content.print_of(item), []).append(key)
        return self._twins[side].get(print_, [])

    def copy(self, side: Side, item: CalendarItem, reason: str) -> None:
        self.copies.append(Copy(side, item, f"duplicate (S3): {reason}"))

    def keyed(self, side: Side, item: CalendarItem, shared: frozenset[str]) -> bool:
        """Outcomes 1 and 2; True when ``item`` got one."""
        key = item.sync_key
        if key is None:
            return False
        link = self.by_key.get(key)
        if isinstance(link, Link) and self.replaceable(link, side):
            self.replace(link, side, item)
            return True
        if link is not None:
            owner = link.id_on(side) or "a pending create"
            self.copy(side, item, f"sync key {key} already belongs to {owner} on side {side}")
            return True
        if key in shared:
            self.copy(side, item, f"another item on side {side} has sync key {key}")
            return True
        return False

    def linked_copy(self, side: Side, item: CalendarItem, print_: str) -> bool:
        """Outcome 6; True when ``item`` got it."""
        keys = [link.sync_key for link in self.known_copies.get(print_, ())]
        keys += self.twins(side, print_)
        stored = {link.sync_key: link for link in self.known_copies.get(print_, ())}
        copy_of: tuple[Link, str] | None = None
        only_deleted = True  # copy_of (if any) is an entry the user deleted
        for key in dict.fromkeys(keys):
            link = self.by_key.get(key) or stored[key]
            twin_id = link.id_on(side)
            if not isinstance(link, Link) or twin_id in (None, item.id):
                continue
            if link.id_on(_other(side)) is None:
                continue
            if self.replaceable(link, side):
                self.replace(link, side, item)
                return True
            slot = self.slots.get(key, {})
            state = slot.get(side, UNCHANGED)
            if state is DELETED:
                if slot.get(_other(side)) is DELETED and copy_of is None:
                    what = "deleted in this run with its partner"
                    copy_of = link, f"{what} (entry {key}); the delete stands"
                continue
            current = link.base if state is UNCHANGED else state
            if (
                only_deleted
                and isinstance(current, CalendarItem)
                and Content.print_of(current) == print_
            ):
                copy_of, only_deleted = (link, f"already synced as {key}"), False
        if copy_of is None:
            return False
        link, what = copy_of
        self.copy(side, item, f"{_label(item)} copies {link.id_on(side)} on side {side}, {what}")
        return True


_PrintKey = tuple[str, int | str, int | str]


def _pair(
    candidates: Mapping[str, list[tuple[_PrintKey, CalendarItem]]],
) -> tuple[list[Pair], dict[Side, set[_PrintKey]]]:
    """Step 4: unlinked items of both sides with one print pair up, in order; side-A
    items the policy sends first, then those it does not send. Returns the pairs and
    the prints each side has synced (their further copies are step 7's)."""
    pairs: list[Pair] = []
    synced: dict[Side, set[_PrintKey]] = {"a": set(), "b": set()}
    if not candidates["b"] or not (candidates["a"] or candidates["quiet"]):
        return pairs, synced  # nothing to pair (a first sync of one full side)
    waiting: dict[_PrintKey, list[CalendarItem]] = {}
    for key, item in candidates["b"]:
        waiting.setdefault(key, []).append(item)
    for kind in ("a", "quiet"):
        for key, item in candidates[kind]:
            queue = waiting.get(key)
            if queue:
                pairs.append(Pair(item, queue.pop(0)))
                synced["a"].add(key)
                synced["b"].add(key)
    return pairs, synced


def match(
    links: Iterable[Stored],
    a: Observed,
    b: Observed,
    policy: SyncPolicy,
    window: Window,
    *,
    known_copies: Mapping[str, Sequence[Link]] | None = None,
) -> Matching:
    """Resolve every observed item into one outcome (see the module docstring).

    Args:
        links: the stored links relevant to the observations (more do no harm).
        a, b: what each side reports (side A: the Severa side).
        policy: which side-A items are sent (S8).
        window: the sync window; an unlinked item outside it stays.
        known_copies: stored links by the print of their base, for the prints of
            the unlinked items (``StateStore.links_by_prints``).

    Returns:
        The outcomes.
    """
    matcher = _Matcher(links, known_copies or {})
    unlinked = {"a": matcher.observe("a", a), "b": matcher.observe("b", b)}
    sorting = _Sorting()
    sorting.sort("a", unlinked["a"], a.shared_keys, matcher, policy=policy, window=window)
    sorting.sort("b", unlinked["b"], b.shared_keys, matcher, policy=policy, window=window)
    candidates, stays = sorting.candidates, sorting.stays
    pairs, synced = _pair(candidates)  # step 4; step 5: the quiet ones left stay
    paired: set[tuple[Side, str | None]] = {("a", pair.a.id) for pair in pairs}
    paired.update(("b", pair.b.id) for pair in pairs)
    stays.extend(Stays("a", x) for _, x in candidates["quiet"] if ("a", x.id) not in paired)
    new: list[New] = []
    for side in SIDES:
        new += _settle(side, candidates[side], paired, synced[side], matcher)
    return Matching(
        _members(matcher),
        dict(matcher.replaces),
        tuple(matcher.copies),
        tuple(pairs),
        tuple(new),
        tuple(stays),
    )


@attrs.define
class _Sorting:
    """Steps 1-3: the unlinked items that are not keyed copies, as candidates
    (``"quiet"``: side-A items the policy does not send) with their print keys, in
    order, or as items that stay outside the window."""

    candidates: dict[str, list[tuple[_PrintKey, CalendarItem]]] = attrs.field(
        factory=lambda: {"a": [], "b": [], "quiet": []}
    )
    stays: list[Stays] = attrs.field(factory=list)

    def sort(
        self,
        side: Side,
        items: list[CalendarItem],
        shared: frozenset[str],
        matcher: _Matcher,
        *,
        policy: SyncPolicy,
        window: Window,
    ) -> None:
        """Sort the unlinked ``items`` of ``side``."""
        contains, print_key = window.contains, Content.print_key
        mine, quiet = self.candidates[side], self.candidates["quiet"]
        for item in items:
            if item.sync_key is not None and matcher.keyed(side, item, shared):
                continue
            if not contains(item):
                self.stays.append(Stays(side, item))
            elif side == "b" or policy.sends(item):
                mine.append((print_key(item), item))
            else:
                quiet.append((print_key(item), item))


def _settle(
    side: Side,
    candidates: list[tuple[_PrintKey, CalendarItem]],
    paired: set[tuple[Side, str | None]],
    synced: set[_PrintKey],
    matcher: _Matcher,
) -> list[New]:
    """Steps 6-8 for the candidates of ``side`` that did not pair: the new entries."""
    new: list[New] = []
    linked = bool(matcher.known_copies) or any(matcher.changed.values())
    for key, item in candidates:
        if paired and (side, item.id) in paired:
            continue
        if linked and matcher.linked_copy(side, item, Content.digest_key(key)):  # step 6
            continue
        if key in synced:  # step 7
            matcher.copy(side, item, f"another copy of {_label(item)} is already on side {side}")
            continue
        new.append(New(side, item))  # step 8
        synced.add(key)
    return new


def _members(matcher: _Matcher) -> tuple[Member, ...]:
    """The linked entries observed, each with its replacement's link if it has one."""
    stored = {key: found.link for key, found in matcher.replaces.items()}
    return tuple(
        Member(
            stored.get(key) or matcher.by_key[key],
            slot.get("a", UNCHANGED),
            slot.get("b", UNCHANGED),
        )
        for key, slot in matcher.slots.items()
    )
