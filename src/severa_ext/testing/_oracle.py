"""The sync state machine's oracle: the five invariants of the design, over a plain
model of its own.

The oracle uses none of the code under test's helpers (no planner, identity phase,
content value or item helpers): it states what "same content", "the window" and
"the policy sends it" mean itself, from the documented rules, so that a bug in one
of those helpers fails a check instead of cancelling out.

* **content** (:func:`value`): text with ``\\r\\n`` / ``\\r`` as ``\\n``, each line's
  trailing white space and the text's outer white space dropped; instants in UTC to
  the whole second (all-day dates as dates); categories normalised, empty ones
  dropped, sorted; ``show_as`` by its value;
* **the S3 print** (:func:`print_of`): the title and both times, as above;
* **the window** (:func:`in_window`): ``past_days`` before and ``future_days`` after
  midnight UTC of today; an item overlaps it (all-day dates from midnight UTC, a
  zero-length item at its instant);
* **S8** (:func:`sent`): with activity rules on, an activity goes out when it is no
  project task and its type is one of ``outgoing_types``.

The checks, after a sync and a fault-free sync (:func:`check`):

1. **no duplicates** (:func:`no_duplicates`);
2. **convergence** (:func:`convergence`);
3. **idempotence**: checked by the machine itself (one more run plans nothing);
4. **no loss** (:func:`no_loss`);
5. **deletes propagate, and only user deletes do** (:func:`deletes_propagate`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import attrs

from severa_ext.sync.items import CalendarItem, Capabilities, Side
from severa_ext.sync.links import Intent, Link, Parked, Stored
from severa_ext.sync.policy import SyncPolicy

if TYPE_CHECKING:
    from severa_ext.testing.machine import SyncMachine

__all__ = [
    "FIELDS",
    "World",
    "check",
    "convergence",
    "deletes_propagate",
    "fields_kept",
    "in_window",
    "no_duplicates",
    "no_loss",
    "print_of",
    "sent",
    "value",
]

Key = tuple[Side, str]
"""An item: its side and id."""

FIELDS = ("title", "when", "location", "body", "private", "show_as", "categories")
"""The units of content the model compares (``when``: start and end together)."""

_SIDES: tuple[Side, Side] = ("a", "b")


# -- the plain model ------------------------------------------------------------------


def _text(text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def _moment(value: datetime | date) -> datetime | date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(microsecond=0)
    return value


def value(item: CalendarItem, name: str) -> object:
    """The model's value of content unit ``name`` of ``item``."""
    if name == "when":
        return (_moment(item.start), _moment(item.end))
    if name in ("title", "location", "body"):
        return _text(getattr(item, name))
    if name == "categories":
        return tuple(sorted(c for c in map(_text, item.categories) if c))
    if name == "show_as":
        return item.show_as.value
    return getattr(item, name)


def print_of(item: CalendarItem) -> tuple[object, ...]:
    """The S3 print in the model: the normalised title and both times."""
    return (_text(item.title), _moment(item.start), _moment(item.end))


def fields_kept(a: Capabilities, b: Capabilities) -> tuple[str, ...]:
    """The units both sides keep (``when`` needs ``start`` and ``end``)."""

    def kept(capabilities: Capabilities) -> set[str]:
        fields = capabilities.content_fields
        if fields is None:
            return set(FIELDS)
        return set(fields) | ({"when"} if {"start", "end"} <= set(fields) else set())

    both = kept(a) & kept(b)
    return tuple(name for name in FIELDS if name in both)


def _utc(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def in_window(policy: SyncPolicy, now: datetime, item: CalendarItem) -> bool:
    """True when ``item`` overlaps the sync window of ``now``."""
    day = datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), UTC)
    first, last = day - timedelta(days=policy.past_days), day + timedelta(days=policy.future_days)
    start, end = _utc(item.start), _utc(item.end)
    if start == end:
        return first <= start < last
    return start < last and end > first


def sent(policy: SyncPolicy, item: CalendarItem) -> bool:
    """True when an unlinked activity goes to the calendar (S8)."""
    if not policy.activity_rules:
        return True
    return not item.project_task and item.activity_type in policy.outgoing_types


# -- what the sides and the state hold ------------------------------------------------


@attrs.frozen
class World:
    """The items of both sides and the state's links, as the oracle reads them.

    Attributes:
        items: per side, every item by id.
        partner: each linked item's partner on the other side.
        parked: the parked (quarantined) items.
    """

    items: Mapping[Side, Mapping[str, CalendarItem]]
    partner: Mapping[Key, Key]
    parked: frozenset[Key]

    @classmethod
    def observe(
        cls, snapshots: Mapping[Side, Iterable[CalendarItem]], links: Iterable[Stored]
    ) -> World:
        """Read the world; a pending intent, a half link or an item in two links
        fails here (invariant 1)."""
        partner: dict[Key, Key] = {}
        parked: set[Key] = set()
        for link in links:
            assert not isinstance(link, Intent), f"intent left over: {link}"
            if isinstance(link, Parked):
                parked.add((link.side, link.item_id))
                continue
            assert isinstance(link, Link), link
            assert link.a_id is not None, link
            assert link.b_id is not None, link
            a: Key = ("a", link.a_id)
            b: Key = ("b", link.b_id)
            assert a not in partner, f"{a} is in two links"
            assert b not in partner, f"{b} is in two links"
            partner[a], partner[b] = b, a
        items = {side: {str(i.id): i for i in snapshots[side]} for side in _SIDES}
        return cls(items, partner, frozenset(parked))

    def has(self, key: Key) -> bool:
        """The item is there."""
        return key[1] in self.items[key[0]]

    def item(self, key: Key | None) -> CalendarItem | None:
        """The item, if it is there."""
        return None if key is None else self.items[key[0]].get(key[1])

    def keys(self) -> set[Key]:
        """Every item of both sides."""
        return {(side, item_id) for side in _SIDES for item_id in self.items[side]}


def check(m: SyncMachine, world: World) -> None:
    """Invariants 1, 2, 4 and 5 (the machine checks 3 by running once more)."""
    no_duplicates(m, world)
    convergence(m, world)
    no_loss(m, world)
    deletes_propagate(m, world)


# -- 1. no duplicates -----------------------------------------------------------------


def no_duplicates(m: SyncMachine, world: World) -> None:
    """Invariant 1: every item the sync made is linked (no orphan of a crash), each
    user-made entry is there once per side, and a keyless copy of a synced entry is
    never synced as a second entry (S3)."""
    for side in _SIDES:
        for item in world.items[side].values():
            key: Key = (side, str(item.id))
            # A project task the sync restored on side A (edit beats delete) stays
            # there unlinked once its calendar copy is deleted again (S8).
            restored = side == "a" and item.project_task
            if key not in m.user_made and not restored:
                assert key in world.partner or key in world.parked, f"orphan {item}"
        _titles_unique(m, world, side)
    _keyless_copies_not_synced(m, world)


def _titles_unique(m: SyncMachine, world: World, side: Side) -> None:
    """Linked titles are unique per user-made entry (an entry made on both sides
    whose copies differ in time before the first sync is two); keyless copies share
    their source's title and are checked by :func:`_keyless_copies_not_synced`."""
    titles = Counter(
        item.title
        for item_id, item in world.items[side].items()
        if (key := (side, item_id)) in world.partner
        and key not in m.keyless_copies
        and world.partner[key] not in m.keyless_copies
    )
    for title, count in titles.items():
        limit = 2 if title in m.pair_titles else 1
        assert count <= limit, f"{count} copies of {title!r} on side {side}"


def _keyless_copies_not_synced(m: SyncMachine, world: World) -> None:
    """S3: a keyless copy made this round of a synced entry that still has its
    title and times is parked, linked to an existing item, or takes over the link
    of an item deleted this round; never synced as a new entry."""
    for copy in m.round_copies:
        made = world.item(copy)
        partner = world.partner.get(copy)
        if made is None or partner is None or partner in m.user_made:
            continue  # parked, or linked to an existing item (nothing was written)
        if m.partner_before.get(partner) in m.user_deleted:
            continue  # it took over the link of an item deleted this round
        for source in m.copied_from(copy):
            original = world.item(source)
            if original is None or source not in world.partner:
                continue
            assert print_of(original) != print_of(made), (
                f"keyless copy {made} of synced {original} was synced as a new entry"
            )


# -- 2. convergence -------------------------------------------------------------------


def convergence(m: SyncMachine, world: World) -> None:
    """Invariant 2: every linked pair holds equal content in the units both sides
    keep, and no project task reaches the calendar (S8; only a calendar copy the
    user made can be linked to one, S3)."""
    for (side, a_id), (_, b_id) in world.partner.items():
        if side != "a":
            continue
        a, b = world.items["a"].get(a_id), world.items["b"].get(b_id)
        assert a is not None, f"linked {a_id} missing on side a"
        assert b is not None, f"linked {b_id} missing on side b"
        diff = [name for name in m.both_kept if value(a, name) != value(b, name)]
        assert not diff, f"{a_id} / {b_id} diverge in {diff}: {a} / {b}"
        made_by_sync = ("b", b_id) not in m.user_made
        assert not (m.policy.activity_rules and a.project_task and made_by_sync), a


# -- 4. no loss -----------------------------------------------------------------------


def no_loss(m: SyncMachine, world: World) -> None:
    """Invariant 4: every item in the window (and, on side A, that the policy
    sends) is linked or parked, an entry made on both sides is linked, not copied
    (S3), and no user edit is silently dropped."""
    now = m.clock.now()
    for side in _SIDES:
        for item_id, item in world.items[side].items():
            key: Key = (side, item_id)
            if key in world.partner or key in world.parked or not in_window(m.policy, now, item):
                continue
            assert side == "a", f"calendar item {item} did not come in (S9)"
            assert not sent(m.policy, item), f"activity {item} was not sent (S8)"
    _twins_linked(m, world)
    _edits_kept(m, world)


def _twins_linked(m: SyncMachine, world: World) -> None:
    now = m.clock.now()
    for a_id, b_id in m.twins:
        twin_a: Key = ("a", a_id)
        twin_b: Key = ("b", b_id)
        a, b = world.item(twin_a), world.item(twin_b)
        if a is None or b is None or twin_a in world.parked or not in_window(m.policy, now, a):
            continue
        if print_of(a) != print_of(b):
            continue
        if m.sync_prints.get(twin_a) != m.sync_prints.get(twin_b):
            # They differed when the sync listed them (a user edited one of them
            # during the run back to the other's content): not copies the engine
            # could have known; each went over as a new entry (found by the soak).
            continue
        # A keyless copy (S3) of one twin may be linked to the other instead.
        linked = (
            world.partner.get(twin_a) == twin_b
            or twin_a in m.copied_from(world.partner.get(twin_b))
            or twin_b in m.copied_from(world.partner.get(twin_a))
        )
        assert linked, f"copies {a} / {b} not linked"


def _edits_kept(m: SyncMachine, world: World) -> None:
    """Every user edit is still there unless the other side changed the same unit
    (the conflict rule decided)."""
    for key, fields in m.edits.items():
        current = world.item(key)
        if current is None or key in world.parked:
            continue
        other = world.partner.get(key)
        if other in m.user_made and key not in m.partner_before and other not in m.partner_before:
            continue  # linked to an existing copy without a base (S3): the conflict
            # rule picked each unit
        theirs = m.edits.get(other, {}) if other is not None else {}
        for name, edited in fields.items():
            if name not in theirs:
                assert value(current, name) == edited, f"edit of {name} on {current} lost"


# -- 5. deletes propagate -------------------------------------------------------------


def deletes_propagate(m: SyncMachine, world: World) -> None:
    """Invariant 5: an item vanishes only when the user deleted its partner and did
    not edit it since; a user delete reaches the partner, unless an item that
    replaces the deleted one took the link over (S3)."""
    now = world.keys()
    for key in m.ids_before - now - m.user_deleted:
        was = m.partner_before.get(key)
        assert was is not None, f"{key} vanished and was not linked"
        assert was in m.user_deleted, f"{key} vanished but {was} was not deleted"
        assert key not in m.edits, f"{key} was edited, yet deleted (edit beats delete)"
    for key in m.user_deleted:
        was = m.partner_before.get(key)
        if was is None or was in m.edits or was not in m.ids_before:
            continue
        assert _replaced(m, world, key, was) or was not in now, (
            f"delete of {key} did not reach {was}"
        )


def _replaced(m: SyncMachine, world: World, deleted: Key, partner: Key) -> bool:
    """S3: an unlinked item with the deleted item's title and times (or its sync
    key) took its place in the same run; the partner is relinked to it."""
    now_with = world.partner.get(partner)
    before = m.items_before.get(deleted)
    if now_with is None or before is None or now_with == deleted:
        return False
    return (
        m.sync_prints.get(now_with) == print_of(before)
        or m.keyed_copies.get(now_with) == before.sync_key
    )
