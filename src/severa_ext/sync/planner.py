"""The pure planner: links + changes of both sides + policy -> an inert plan.

No I/O, no clock, no logging: :func:`plan_sync` takes values and returns a
:class:`Plan`, a tuple of frozen records that only the executor
(``severa_ext.sync.engine``) turns into calls. The decision table, per linked entry
(``-`` unchanged, ``E`` edited, ``D`` deleted, on side A / side B):

====== ====== ==============================================================
A      B      plan
====== ====== ==============================================================
E      ``-``  update B with A's content
``-``  E      update A with B's content (the activity keeps its type, S9)
E      E      field-level three-way merge against ``Link.base``; a field both
              changed goes to the conflict rule (default newest wins, ties to A)
D      ``-``  delete B, drop the link
D      E      edit beats delete: re-create on A from B (no data loss)
D      D      drop the link
====== ====== ==============================================================

Items not linked yet: a side-A item goes out only if the policy sends it (S8) and it
lies in the window; every side-B item in the window comes in (S9). Before creating
anything, unlinked items of both sides with the same fingerprint (title, start, end)
are *linked* instead (S3, the first sync of two calendars that already hold copies).
An item that carries a sync key another item of its side already holds, or a second
identical unlinked copy on one side, is *quarantined* (journaled, never multiplied).

Copies another tool makes in a *later* run (S3): the engine looks the
:func:`~severa_ext.sync.items.copy_print` of each new item up among the stored links
(``known_copies``). A new item on side ``s`` (in the window; on side A only one the
policy sends) whose print matches a live link is

- **quarantined** when that link's item on side ``s`` is still there with the same
  print (unchanged since the last sync, or changed this run but still with the same
  title and times): it is a copy of an entry that is already synced;
- **relinked** when that link's item on side ``s`` was deleted in this same run and
  its other item was not: the new item *replaces* it (a tool that moves items by
  delete + create, an ICS feed that re-issues UIDs). The link takes the new item's id
  and the entry is planned as if its side-``s`` item had been edited into the new
  one: no delete on the other side, no create; fields the new item differs in travel
  like any edit;
- **quarantined** as well when both items of that link were deleted in this run: the
  user's delete stands (bringing the new item over would undo it, relinking would
  only delete the new item).

An item that carries an entry's sync key and replaces that entry's item deleted in
this run (a move by delete + create that keeps extended properties) is relinked the
same way, whatever its title and times. Unlinked copies on both sides are linked to
each other first (as on a first sync: that writes nothing).

A new item whose linked twin was changed this run into something else (other title
or times) is not a copy of anything on its side any more: it syncs as a new entry.
A side-A item the policy does not send is never matched: it writes nothing, so it
cannot multiply anything, and it stays a plain local activity (S8).

Linking existing copies (S3) ignores what the policy says about *sending*: a side-A
item of a type that is not outgoing (even a project task) is linked to its calendar
copy instead of that copy coming in again as a second activity (S9). Linking writes
nothing to the calendar, so S8 holds. Once linked, an entry is governed by its link,
not by the policy (as for an item whose type later leaves the policy): edits and
deletes travel both ways so both copies stay equal, and "edit beats delete" restores
a deleted calendar copy of an edited activity (it is restoring the user's own entry,
not sending a new one; the copy existed before the link) -- except for a project
task, which never goes to the calendar (S8): its link is dropped instead and the
activity stays.

Fields a side does not keep (:attr:`Capabilities.content_fields
<severa_ext.sync.items.Capabilities>`, see :class:`KeptFields`) are neither compared
nor copied from that side: the other side's value survives in the base.

A side that is read-only (``Capabilities.read_only``, e.g. an ICS subscription) gets
no writes: each would-be write becomes a :class:`Skipped` record. A skipped delete
keeps the link (it is never a delete or a loss), a skipped re-create drops it, a
skipped first create stores nothing.

The planner is linear in the number of changes: every lookup is a dict lookup.
"""

from __future__ import annotations

import enum
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any

import attrs

from severa_ext.sync.items import CalendarItem, Side, Window, copy_print, normalize_text
from severa_ext.sync.policy import SyncPolicy, content_copy
from severa_ext.sync.state import Link

__all__ = [
    "MERGE_FIELDS",
    "Conflict",
    "Create",
    "Delete",
    "KeptFields",
    "KeyFactory",
    "Plan",
    "PlanRecord",
    "Quarantine",
    "SetLink",
    "SideChanges",
    "Skipped",
    "Unlink",
    "Update",
    "WriteRecord",
    "derive_sync_key",
    "differing_fields",
    "field_value",
    "merge_fields",
    "plan_entry",
    "plan_retry_create",
    "plan_sync",
    "quarantine_key",
]

MERGE_FIELDS: tuple[str, ...] = (
    "title",
    "when",
    "location",
    "body",
    "private",
    "show_as",
    "categories",
)
"""The units of the three-way merge (``when`` is start and end together)."""


def merge_fields(content_fields: Iterable[str] | None) -> tuple[str, ...]:
    """The :data:`MERGE_FIELDS` a side keeps, given the content fields it keeps.

    Args:
        content_fields: ``Capabilities.content_fields``; ``None`` means all.

    Returns:
        The merge fields, in :data:`MERGE_FIELDS` order (``when`` needs both
        ``start`` and ``end``).
    """
    if content_fields is None:
        return MERGE_FIELDS
    kept = set(content_fields)
    if {"start", "end"} <= kept:
        kept.add("when")
    return tuple(f for f in MERGE_FIELDS if f in kept)


@attrs.frozen
class KeptFields:
    """Which merge fields each side keeps (what merges and ``verify`` compare).

    Attributes:
        a, b: the :data:`MERGE_FIELDS` side A / side B keeps.
        both: the fields both keep: the only ones compared across sides.
    """

    a: tuple[str, ...] = MERGE_FIELDS
    b: tuple[str, ...] = MERGE_FIELDS
    both: tuple[str, ...] = attrs.field(init=False)
    _missing: dict[Side, tuple[str, ...]] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "both", tuple(f for f in self.a if f in self.b))
        missing: dict[Side, tuple[str, ...]] = {
            "a": tuple(f for f in self.b if f not in self.a),
            "b": tuple(f for f in self.a if f not in self.b),
        }
        object.__setattr__(self, "_missing", missing)

    @classmethod
    def of(cls, a: Iterable[str] | None, b: Iterable[str] | None) -> KeptFields:
        """From the ``Capabilities.content_fields`` of both sides."""
        return cls(merge_fields(a), merge_fields(b))

    def on(self, side: Side) -> tuple[str, ...]:
        """The fields ``side`` keeps."""
        return self.a if side == "a" else self.b

    def missing_on(self, side: Side) -> tuple[str, ...]:
        """Fields the other side keeps and ``side`` does not: content coming from
        ``side`` carries no value for them."""
        return self._missing[side]


_ALL_KEPT = KeptFields()


# -- records --------------------------------------------------------------------


@attrs.frozen
class Create:
    """Create ``item`` on ``side``, stamped with ``sync_key``.

    Attributes:
        side: where the new item goes.
        item: the content, already shaped for ``side`` by the policy.
        sync_key: the entry's key (an intent with it is stored before the write).
        source_id: the id of the item it copies, on the other side.
    """

    side: Side
    item: CalendarItem
    sync_key: str
    source_id: str | None


@attrs.frozen
class Update:
    """Replace the content of ``item_id`` on ``side`` if its etag is ``if_match``."""

    side: Side
    item_id: str
    item: CalendarItem
    if_match: str | None
    sync_key: str


@attrs.frozen
class Delete:
    """Delete ``item_id`` on ``side`` if its etag is ``if_match``."""

    side: Side
    item_id: str
    if_match: str | None
    sync_key: str


@attrs.frozen
class SetLink:
    """Store ``link`` once the entry's writes succeeded.

    The executor fills in the id and etag of each side it wrote.
    """

    link: Link

    @property
    def sync_key(self) -> str:
        """The entry's key."""
        return self.link.sync_key


@attrs.frozen
class Unlink:
    """Drop the link ``sync_key`` (once the entry's writes succeeded)."""

    sync_key: str


@attrs.frozen
class Conflict:
    """Both sides changed ``fields`` of one entry; ``winner`` supplied them."""

    sync_key: str
    fields: tuple[str, ...]
    winner: Side
    a_id: str | None
    b_id: str | None


@attrs.frozen
class Quarantine:
    """Park ``item_id`` on ``side``: a duplicate (S3) that is never multiplied.

    Attributes:
        side: the item's side.
        item_id: the duplicate.
        item: its content (stored as the quarantine link's base).
        reason: why, for the journal.
    """

    side: Side
    item_id: str
    item: CalendarItem
    reason: str

    @property
    def sync_key(self) -> str:
        """The key of the quarantine link."""
        return quarantine_key(self.side, self.item_id)


@attrs.frozen
class Skipped:
    """A write not planned because ``side`` is read-only (nothing is sent there).

    Attributes:
        side: the read-only side.
        operation: ``"create"``, ``"update"`` or ``"delete"``.
        sync_key: the entry's key.
        item_id: the item it would have written (``None`` for a create).
    """

    side: Side
    operation: str
    sync_key: str
    item_id: str | None = None


WriteRecord = Create | Update | Delete
"""A record the executor turns into a backend write."""

PlanRecord = Create | Update | Delete | SetLink | Unlink | Conflict | Quarantine | Skipped
"""Any record of a plan."""

KeyFactory = Callable[[Side, str], str]
"""``new_key(side, item_id)``: the sync key of a new entry first seen as ``item_id``
on ``side``; it must be a key no other entry holds (:func:`derive_sync_key` hashes
its arguments; the engine's factory is time-ordered and never repeats)."""


@attrs.frozen
class Plan:
    """An inert, ordered plan.

    Records of one entry are adjacent and share a ``sync_key``: its writes first,
    then an optional :class:`Conflict`, then its :class:`SetLink` or :class:`Unlink`.
    :class:`Skipped` records (writes a read-only side does not get) sit with their
    entry. :class:`Quarantine` records stand alone.
    """

    records: tuple[PlanRecord, ...] = ()

    def __len__(self) -> int:
        return len(self.records)

    @property
    def writes(self) -> tuple[WriteRecord, ...]:
        """The records that write to a backend."""
        return tuple(r for r in self.records if isinstance(r, Create | Update | Delete))

    @property
    def skipped(self) -> tuple[Skipped, ...]:
        """The writes not planned because their side is read-only."""
        return tuple(r for r in self.records if isinstance(r, Skipped))

    @property
    def conflicts(self) -> tuple[Conflict, ...]:
        """The conflicts the merge resolved."""
        return tuple(r for r in self.records if isinstance(r, Conflict))

    def count(self, kind: type[PlanRecord], side: Side | None = None) -> int:
        """How many records of ``kind`` (on ``side``, for writes) the plan holds."""
        return sum(
            1
            for r in self.records
            if isinstance(r, kind) and (side is None or getattr(r, "side", None) == side)
        )


@attrs.frozen
class SideChanges:
    """What one side reports, made definite by the engine.

    Attributes:
        changed: current versions of items that changed (in the window, or moved
            out of it: those are edits, not deletes).
        deleted: ids the backend confirmed deleted (``get`` returned nothing).
        shared_keys: sync keys that more than one item of this side carries while no
            link owns them (copies made by another tool, S3): their unlinked items
            are quarantined instead of copied.
    """

    changed: tuple[CalendarItem, ...] = ()
    deleted: frozenset[str] = frozenset()
    shared_keys: frozenset[str] = frozenset()


# -- helpers -------------------------------------------------------------------


class _State(enum.Enum):
    UNCHANGED = "unchanged"
    DELETED = "deleted"


_UNCHANGED = _State.UNCHANGED
_DELETED = _State.DELETED
_Seen = CalendarItem | _State


_SIDE_ORDER: tuple[Side, Side] = ("a", "b")
_NO_COPIES: Mapping[str, Sequence[Link]] = MappingProxyType({})


def derive_sync_key(side: Side, item_id: str) -> str:
    """The deterministic sync key of an entry first seen as ``item_id`` on ``side``.

    Deterministic so that a re-planned create after a crash reuses the key the
    first attempt stamped (``find`` then finds it).
    """
    return hashlib.blake2b(f"{side}\x1f{item_id}".encode(), digest_size=16).hexdigest()


def quarantine_key(side: Side, item_id: str) -> str:
    """The key of the link that parks a quarantined item."""
    return f"quarantine:{side}:{item_id}"


def _other(side: Side) -> Side:
    return "b" if side == "a" else "a"


def _instant(value: datetime | date) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(microsecond=0).isoformat()
    return value.isoformat()


def _field(item: CalendarItem, name: str) -> object:
    if name == "when":
        return (_instant(item.start), _instant(item.end))
    if name in ("title", "location", "body"):
        return normalize_text(getattr(item, name))
    if name == "categories":
        return tuple(sorted(c for c in (normalize_text(c) for c in item.categories) if c))
    if name == "show_as":
        return item.show_as.value
    return getattr(item, name)


def field_value(item: CalendarItem, name: str) -> object:
    """The normalised value of merge field ``name`` (one of :data:`MERGE_FIELDS`) of
    ``item``: what the merge and convergence compare."""
    return _field(item, name)


def _values(item: CalendarItem, name: str) -> dict[str, Any]:
    if name == "when":
        return {"start": item.start, "end": item.end}
    return {name: getattr(item, name)}


def _same(left: CalendarItem, right: CalendarItem, fields: tuple[str, ...] = MERGE_FIELDS) -> bool:
    return all(_field(left, f) == _field(right, f) for f in fields)


def differing_fields(
    left: CalendarItem, right: CalendarItem, fields: Iterable[str] = MERGE_FIELDS
) -> tuple[str, ...]:
    """The merge ``fields`` (all :data:`MERGE_FIELDS` by default) in which two items
    differ (after normalisation)."""
    return tuple(f for f in fields if _field(left, f) != _field(right, f))


def _overlay(
    item: CalendarItem, source: CalendarItem | None, names: tuple[str, ...]
) -> CalendarItem:
    """``item`` with the fields ``names`` taken from ``source`` (fields ``item``'s side
    does not keep: the other side's value survives)."""
    if not names or source is None:
        return item
    values: dict[str, Any] = {}
    for name in names:
        values.update(_values(source, name))
    return attrs.evolve(item, **values)


def _loose_fingerprint(item: CalendarItem) -> tuple[object, ...]:
    # Aware datetimes hash by instant, so zone spelling does not matter here.
    return (normalize_text(item.title), item.start, item.end)


def _base(content: CalendarItem, activity_from: CalendarItem | None) -> CalendarItem:
    """The stored base: neutral content plus side A's activity fields."""
    if activity_from is None:
        return content_copy(content, activity_type=None, project_task=False)
    return content_copy(
        content,
        activity_type=activity_from.activity_type,
        project_task=activity_from.project_task,
    )


def _merge(
    base: CalendarItem | None,
    a: CalendarItem,
    b: CalendarItem,
    policy: SyncPolicy,
    kept: KeptFields = _ALL_KEPT,
) -> tuple[CalendarItem, tuple[str, ...], Side]:
    """Field-level three-way merge; returns (content, conflicting fields, winner).

    Only fields both sides keep are merged; a field only B keeps is B's.
    """
    winner: Side | None = None
    conflicts: list[str] = []
    take_b: dict[str, Any] = {}
    for name in kept.missing_on("a"):
        take_b.update(_values(b, name))
    for name in kept.both:
        fa, fb = _field(a, name), _field(b, name)
        if fa == fb:
            continue
        fbase = _field(base, name) if base is not None else None
        if base is not None and fbase == fa:
            take_b.update(_values(b, name))
        elif base is not None and fbase == fb:
            continue
        else:
            if winner is None:
                winner = policy.winner(a, b)
            conflicts.append(name)
            if winner == "b":
                take_b.update(_values(b, name))
    merged = attrs.evolve(a, **take_b) if take_b else a
    return merged, tuple(conflicts), winner or "a"


# -- per-entry decisions -------------------------------------------------------


def _seen(link: Link, side: Side, item: CalendarItem | None) -> _Seen:
    if item is None:
        return _DELETED
    if item.etag is not None and item.etag == link.etag_on(side):
        return _UNCHANGED
    return item


def plan_entry(
    link: Link,
    a: CalendarItem | None,
    b: CalendarItem | None,
    policy: SyncPolicy,
    *,
    kept: KeptFields | None = None,
    read_only: frozenset[Side] = frozenset(),
) -> list[PlanRecord]:
    """Re-plan one linked entry from fresh reads of both sides.

    The executor calls this after a write met a stale etag or a vanished item.

    Args:
        link: the stored link.
        a, b: the items as read now; ``None`` when deleted.
        policy: the pair's policy.
        kept: which fields each side keeps (all by default).
        read_only: sides that get no writes (their writes become :class:`Skipped`).

    Returns:
        The entry's records (possibly none).
    """
    records = _decide(link, _seen(link, "a", a), _seen(link, "b", b), policy, kept or _ALL_KEPT)
    if read_only:
        records = _without_writes_to(read_only, records, {link.sync_key})
    return records


def plan_retry_create(
    link: Link,
    source: CalendarItem,
    policy: SyncPolicy,
    *,
    kept: KeptFields | None = None,
    read_only: frozenset[Side] = frozenset(),
) -> list[PlanRecord]:
    """Re-plan a create whose intent is pending and whose item never appeared.

    The intent ``link`` (``pending`` set) records that the entry was to be created
    on ``link.pending`` from ``source``, the item on the other side, under
    ``link.sync_key``. When ``find(sync_key)`` finds nothing there, the create never
    happened (refused, or lost before it reached the server): the entry keeps its
    key and link and the create is planned again from ``source`` as read now. It is
    not re-planned as a new item: the policy that let the entry travel is not asked
    again (a linked entry of a type it does not send, S3, or an item created on
    side A by the sync, S9, would be left unlinked with a stamp no link owns), and
    the item's edits since travel with it (invariant 4). S8 still holds: a project
    task is never created on the calendar.

    Args:
        link: the pending intent.
        source: the entry's item on the side opposite ``link.pending``, read now.
        policy: the pair's policy.
        kept: which fields each side keeps (all by default).
        read_only: sides that get no writes (their writes become :class:`Skipped`).

    Returns:
        A :class:`Create` and its :class:`SetLink`, or an :class:`Unlink` when
        the create may not happen (S8).
    """
    target = link.pending
    assert target is not None
    assert source.id is not None
    key = link.sync_key
    live = _other(target)
    fields = kept or _ALL_KEPT
    if target == "b" and policy.activity_rules and source.project_task:
        return [Unlink(key)]
    base = link.base
    item = _overlay(source, base, fields.missing_on(live))
    activity = base if target == "a" else item
    content = policy.to_side(target, item, base if target == "a" else None)
    new_link = attrs.evolve(
        link,
        a_id=source.id if live == "a" else None,
        b_id=source.id if live == "b" else None,
        a_etag=source.etag if live == "a" else None,
        b_etag=source.etag if live == "b" else None,
        base=_base(item, activity),
        pending=None,
    )
    records: list[PlanRecord] = [Create(target, content, key, source.id), SetLink(new_link)]
    if read_only:
        records = _without_writes_to(read_only, records, {key})
    return records


def _decide(
    link: Link, a: _Seen, b: _Seen, policy: SyncPolicy, kept: KeptFields = _ALL_KEPT
) -> list[PlanRecord]:
    key = link.sync_key
    if link.pending is not None:
        return []
    if link.quarantined:
        return [Unlink(key)] if _DELETED in (a, b) else []
    base = link.base
    if a is _UNCHANGED and b is _UNCHANGED:
        return []
    if a is _DELETED and b is _DELETED:
        return [Unlink(key)]
    if a is _DELETED or b is _DELETED:
        gone: Side = "a" if a is _DELETED else "b"
        live: Side = _other(gone)
        survivor = b if gone == "a" else a
        live_id = link.id_on(live)
        if live_id is None:
            return [Unlink(key)]
        if isinstance(survivor, CalendarItem) and (
            base is None or not _same(survivor, base, kept.on(live))
        ):
            if gone == "b" and policy.activity_rules and survivor.project_task:
                # S8: a project task never goes to the calendar, not even to restore a
                # deleted copy the user had made there; the activity stays (no loss).
                return [Unlink(key)]
            # Edit beats delete: bring the entry back on the side that lost it.
            survivor = _overlay(survivor, base, kept.missing_on(live))
            activity = base if gone == "a" else survivor
            content = policy.to_side(gone, survivor, base if gone == "a" else None)
            new_link = attrs.evolve(
                link,
                a_id=None if gone == "a" else link.a_id,
                b_id=None if gone == "b" else link.b_id,
                a_etag=survivor.etag if live == "a" else None,
                b_etag=survivor.etag if live == "b" else None,
                base=_base(survivor, activity),
            )
            return [Create(gone, content, key, live_id), SetLink(new_link)]
        etag = survivor.etag if isinstance(survivor, CalendarItem) else link.etag_on(live)
        return [Delete(live, live_id, etag, key), Unlink(key)]
    assert link.a_id is not None
    assert link.b_id is not None
    if isinstance(a, CalendarItem) and isinstance(b, CalendarItem):
        merged, fields, winner = _merge(base, a, b, policy, kept)
        records: list[PlanRecord] = []
        if not _same(merged, a, kept.a):
            records.append(Update("a", link.a_id, policy.to_side("a", merged, a), a.etag, key))
        if not _same(merged, b, kept.b):
            records.append(Update("b", link.b_id, policy.to_side("b", merged), b.etag, key))
        if fields:
            records.append(Conflict(key, fields, winner, link.a_id, link.b_id))
        new_link = attrs.evolve(
            link, a_etag=a.etag, b_etag=b.etag, base=_base(merged, a), pending=None
        )
        if records or new_link != link:
            records.append(SetLink(new_link))
        return records
    # Exactly one side edited.
    edited: Side = "a" if isinstance(a, CalendarItem) else "b"
    item = a if isinstance(a, CalendarItem) else b
    assert isinstance(item, CalendarItem)
    target = _other(edited)
    target_id = link.id_on(target)
    assert target_id is not None
    activity = item if edited == "a" else base
    records = []
    item = _overlay(item, base, kept.missing_on(edited))
    if base is None or not _same(item, base, kept.on(edited)):
        content = policy.to_side(target, item, base if target == "a" else None)
        records.append(Update(target, target_id, content, link.etag_on(target), key))
    if edited == "a":
        refreshed = attrs.evolve(link, a_etag=item.etag, base=_base(item, activity))
    else:
        refreshed = attrs.evolve(link, b_etag=item.etag, base=_base(item, activity))
    records.append(SetLink(refreshed))
    return records


# -- the planner ---------------------------------------------------------------


def plan_sync(
    links: Iterable[Link],
    a: SideChanges,
    b: SideChanges,
    policy: SyncPolicy,
    window: Window,
    *,
    kept: KeptFields | None = None,
    read_only: frozenset[Side] = frozenset(),
    new_key: KeyFactory = derive_sync_key,
    known_copies: Mapping[str, Sequence[Link]] = _NO_COPIES,
) -> Plan:
    """Plan one sync run.

    Args:
        links: the stored links relevant to the changes (those whose ids or sync keys
            the changes mention); more do no harm.
        a, b: what each side reports (side A: the Severa side).
        policy: which items travel and who wins conflicts (S8, S9).
        window: the sync window; an unlinked item outside it is left alone.
        kept: which fields each side keeps (all by default).
        read_only: sides that get no writes; each write they would get becomes a
            :class:`Skipped` record.
        new_key: the sync key of a new entry, from the side and id of the item
            first seen (:func:`derive_sync_key` by default). The engine passes
            time-ordered keys (cheaper to index); the planner itself reads no clock.
        known_copies: stored links by the :func:`~severa_ext.sync.items.copy_print`
            of their base, for the prints of the unlinked items (what
            ``StateStore.links_by_prints`` returns): a new item that copies a linked
            one is quarantined, one that replaces a linked item deleted in this run
            is relinked (S3, see the module docstring). Empty by default (nothing
            is matched against earlier runs).

    Returns:
        The inert plan (nothing has been written yet).
    """
    by_id: dict[Side, dict[str, Link]] = {"a": {}, "b": {}}
    by_key: dict[str, Link] = {}
    for link in links:
        by_key[link.sync_key] = link
        if link.a_id is not None:
            by_id["a"][link.a_id] = link
        if link.b_id is not None:
            by_id["b"][link.b_id] = link

    seen: dict[str, dict[Side, _Seen]] = {}
    order: list[str] = []
    unlinked: dict[Side, list[CalendarItem]] = {"a": [], "b": []}
    records: list[PlanRecord] = []
    sides: Mapping[Side, SideChanges] = {"a": a, "b": b}

    for side, changes in sides.items():
        index = by_id[side]
        for item in changes.changed:
            assert item.id is not None
            found = index.get(item.id)
            if found is None:
                unlinked[side].append(item)
                continue
            slot = seen.get(found.sync_key)
            if slot is None:
                slot = seen[found.sync_key] = {}
                order.append(found.sync_key)
            slot[side] = _seen(found, side, item)
        for item_id in changes.deleted:
            gone = index.get(item_id)
            if gone is None:
                continue
            slot = seen.get(gone.sync_key)
            if slot is None:
                slot = seen[gone.sync_key] = {}
                order.append(gone.sync_key)
            slot[side] = _DELETED

    shared: dict[Side, frozenset[str]] = {"a": a.shared_keys, "b": b.shared_keys}
    copied: Sequence[PlanRecord] = ()
    if unlinked["a"] or unlinked["b"]:
        copied = _match_copies(
            unlinked, known_copies, seen, by_key, shared=shared, policy=policy, window=window
        )

    fields = kept or _ALL_KEPT
    for key in order:
        slot = seen[key]
        records.extend(
            _decide(
                by_key[key], slot.get("a", _UNCHANGED), slot.get("b", _UNCHANGED), policy, fields
            )
        )

    records.extend(copied)
    records.extend(
        _plan_unlinked(unlinked, by_key, shared, policy, window, kept=fields, new_key=new_key)
    )
    if read_only:
        records = _without_writes_to(read_only, records, by_key)
    return Plan(tuple(records))


def _match_copies(
    unlinked: dict[Side, list[CalendarItem]],
    known_copies: Mapping[str, Sequence[Link]],
    seen: dict[str, dict[Side, _Seen]],
    by_key: dict[str, Link],
    *,
    shared: Mapping[Side, frozenset[str]],
    policy: SyncPolicy,
    window: Window,
) -> list[Quarantine]:
    """Match unlinked items against linked entries (S3, copies made in a later run).

    Quarantines copies of linked items and relinks replacements of linked items
    deleted in this run (``by_key`` and ``seen`` are updated: the entry is then
    decided as if its item had been edited into the replacement). Matched items
    leave ``unlinked``. Items that carry a sync key a link owns or another item
    shares, items outside the window and side-A items the policy does not send are
    left to :func:`_plan_unlinked`, and so are the unlinked items it will link to an
    unlinked copy on the other side (linking existing copies writes nothing: it
    goes first).
    """
    if by_key and seen:
        _relink_keyed(unlinked, seen, by_key)
    # Linked items changed in this run, by side and current print: a copy of the
    # new version is a copy too (its base print is the old one).
    changed_twins: dict[Side, dict[str, list[str]]] = {"a": {}, "b": {}}
    for key, slot in seen.items():
        for side, state in slot.items():
            if isinstance(state, CalendarItem):
                changed_twins[side].setdefault(copy_print(state), []).append(key)
    if not (known_copies or changed_twins["a"] or changed_twins["b"]):
        return []
    # The items _plan_unlinked considers, in its order, with their prints.
    sent: dict[Side, list[tuple[CalendarItem, str]]] = {"a": [], "b": []}
    quiet: Counter[str] = Counter()
    for side in _SIDE_ORDER:
        for item in unlinked[side]:
            if item.sync_key is not None and (
                item.sync_key in by_key or item.sync_key in shared[side]
            ):
                continue
            if not window.contains(item):
                continue
            if side == "a" and not policy.sends(item):
                quiet[copy_print(item)] += 1
                continue
            sent[side].append((item, copy_print(item)))
    # How many items of each print _plan_unlinked links across sides (the first ones).
    count: dict[Side, Counter[str]] = {
        side: Counter(print_ for _, print_ in sent[side]) for side in _SIDE_ORDER
    }
    paired: dict[Side, Counter[str]] = {"a": Counter(), "b": Counter()}
    for print_, in_b in count["b"].items():
        pairs = min(count["a"][print_], in_b)
        paired["a"][print_] = pairs
        paired["b"][print_] = pairs + min(quiet[print_], in_b - pairs)
    records: list[Quarantine] = []
    for side in _SIDE_ORDER:
        skip = paired[side]
        twins = changed_twins[side]
        taken: set[str] = set()
        for item, print_ in sent[side]:
            assert item.id is not None
            if skip[print_] > 0:
                skip[print_] -= 1
                continue
            stored = known_copies.get(print_, ())
            keys = [link.sync_key for link in stored] + twins.get(print_, [])
            if not keys:
                continue
            found = _twin(item, print_, side, keys=keys, stored=stored, seen=seen, by_key=by_key)
            if found is None:
                continue
            link, how = found
            taken.add(item.id)
            twin_id = link.id_on(side)
            if how == "replaces":
                _relink(link, side, item, seen, by_key)
                continue
            what = (
                f"already synced as {link.sync_key}"
                if how == "copies"
                else f"deleted in this run with its partner (entry {link.sync_key}); "
                "the delete stands"
            )
            reason = (
                f"duplicate (S3): {item.title!r} at {_instant(item.start)} copies "
                f"{twin_id} on side {side}, {what}"
            )
            records.append(Quarantine(side, item.id, item, reason))
        if taken:
            unlinked[side] = [item for item in unlinked[side] if item.id not in taken]
    return records


def _relink(
    link: Link,
    side: Side,
    item: CalendarItem,
    seen: dict[str, dict[Side, _Seen]],
    by_key: dict[str, Link],
) -> None:
    """Move ``link`` on ``side`` to ``item``, which replaces its deleted item (S3):
    the entry is then decided as if that item had been edited into ``item``."""
    by_key[link.sync_key] = attrs.evolve(
        link,
        a_id=item.id if side == "a" else link.a_id,
        b_id=item.id if side == "b" else link.b_id,
        a_etag=None if side == "a" else link.a_etag,
        b_etag=None if side == "b" else link.b_etag,
    )
    seen[link.sync_key][side] = item


def _relink_keyed(
    unlinked: dict[Side, list[CalendarItem]],
    seen: dict[str, dict[Side, _Seen]],
    by_key: dict[str, Link],
) -> None:
    """Relink items that carry the sync key of an entry whose item on their side was
    deleted in this run while its other item lives: a tool moved the item by delete
    + create and kept its extended properties (S3). The key names the entry, so
    title and times may differ (a move travels as an edit), and neither the window
    nor the policy is asked: the entry is linked already. Otherwise such an item is
    quarantined by :func:`_plan_unlinked` (a copy of an entry that is there)."""
    for side in _SIDE_ORDER:
        other = _other(side)
        taken: set[str] = set()
        for item in unlinked[side]:
            if item.sync_key is None or item.sync_key not in by_key:
                continue
            link = by_key[item.sync_key]
            slot = seen.get(link.sync_key)
            if (
                slot is None
                or slot.get(side) is not _DELETED
                or slot.get(other) is _DELETED
                or link.quarantined
                or link.pending is not None
                or link.id_on(other) is None
            ):
                continue
            assert item.id is not None
            _relink(link, side, item, seen, by_key)
            taken.add(item.id)
        if taken:
            unlinked[side] = [item for item in unlinked[side] if item.id not in taken]


def _twin(
    item: CalendarItem,
    print_: str,
    side: Side,
    *,
    keys: list[str],
    stored: Sequence[Link],
    seen: Mapping[str, Mapping[Side, _Seen]],
    by_key: Mapping[str, Link],
) -> tuple[Link, str] | None:
    """The linked entry ``item`` matches, and how: ``"replaces"`` (its item on
    ``side`` was deleted this run, its other item lives), ``"copies"`` (its item on
    ``side`` is there with the same print) or ``"deleted"`` (both its items were
    deleted this run: relinking would only carry the user's delete over to ``item``).

    A replacement wins over a copy: relinking keeps both entries and deletes nothing.
    """
    links = {link.sync_key: link for link in stored}
    found: tuple[Link, str] | None = None
    other = _other(side)
    for key in dict.fromkeys(keys):
        link = by_key.get(key) or links[key]
        twin_id = link.id_on(side)
        if link.quarantined or link.pending is not None or twin_id in (None, item.id):
            continue
        if link.id_on(other) is None:
            continue
        slot = seen.get(key, {})
        state = slot.get(side, _UNCHANGED)
        if state is _DELETED:
            if slot.get(other) is not _DELETED:
                return link, "replaces"
            if found is None:
                found = link, "deleted"
            continue
        current = link.base if state is _UNCHANGED else state
        if (
            (found is None or found[1] == "deleted")
            and isinstance(current, CalendarItem)
            and copy_print(current) == print_
        ):
            found = link, "copies"
    return found


def _without_writes_to(
    read_only: frozenset[Side], records: list[PlanRecord], known: Iterable[str] | Mapping[str, Link]
) -> list[PlanRecord]:
    """Replace the writes to ``read_only`` sides with :class:`Skipped` records.

    A skipped delete keeps the link as it is (not a delete, not a loss); a skipped
    create drops a stored link (edit beats delete cannot bring the item back) and
    stores nothing for a new entry.
    """
    stored = known if isinstance(known, Mapping) else set(known)
    out: list[PlanRecord] = []
    drop_final: set[str] = set()
    unlink: set[str] = set()
    for record in records:
        if isinstance(record, Create | Update | Delete) and record.side in read_only:
            operation = type(record).__name__.lower()
            item_id = None if isinstance(record, Create) else record.item_id
            out.append(Skipped(record.side, operation, record.sync_key, item_id))
            if isinstance(record, Delete):
                drop_final.add(record.sync_key)
            elif isinstance(record, Create):
                if record.sync_key in stored:
                    unlink.add(record.sync_key)
                else:
                    drop_final.add(record.sync_key)
            continue
        if isinstance(record, SetLink | Unlink):
            if record.sync_key in drop_final:
                continue
            if record.sync_key in unlink:
                out.append(Unlink(record.sync_key))
                continue
        out.append(record)
    return out


def _plan_unlinked(
    unlinked: Mapping[Side, list[CalendarItem]],
    by_key: Mapping[str, Link],
    shared: Mapping[Side, frozenset[str]],
    policy: SyncPolicy,
    window: Window,
    *,
    kept: KeptFields = _ALL_KEPT,
    new_key: KeyFactory = derive_sync_key,
) -> list[PlanRecord]:
    records: list[PlanRecord] = []
    candidates: dict[Side, list[CalendarItem]] = {"a": [], "b": []}
    # Side-A items the policy does not send: linked to an existing copy, never sent.
    link_only: list[CalendarItem] = []
    for side, items in unlinked.items():
        for item in items:
            assert item.id is not None
            if item.sync_key is not None and item.sync_key in by_key:
                owner = by_key[item.sync_key]
                records.append(
                    Quarantine(
                        side,
                        item.id,
                        item,
                        f"duplicate (S3): sync key {item.sync_key} already belongs to "
                        f"{owner.id_on(side) or 'a pending create'} on side {side}",
                    )
                )
                continue
            if item.sync_key is not None and item.sync_key in shared[side]:
                reason = f"duplicate (S3): another item on side {side} has sync key {item.sync_key}"
                records.append(Quarantine(side, item.id, item, reason))
                continue
            if not window.contains(item):
                continue
            if side == "a" and not policy.sends(item):
                link_only.append(item)
                continue
            candidates[side].append(item)

    if not (candidates["a"] or link_only) or not candidates["b"]:
        # Nothing to link across sides: only same-side copies need the fingerprint.
        for side, items in candidates.items():
            records.extend(_create_unique(side, items, policy, new_key))
        return records
    groups: dict[tuple[object, ...], dict[Side, list[CalendarItem]]] = {}
    for side, items in candidates.items():
        for item in items:
            group = groups.setdefault(_loose_fingerprint(item), {"a": [], "b": []})
            group[side].append(item)
    quiet: dict[tuple[object, ...], list[CalendarItem]] = {}
    for item in link_only:
        print_ = _loose_fingerprint(item)
        if print_ in groups:  # only where a calendar copy may wait for it
            quiet.setdefault(print_, []).append(item)

    for print_, group in groups.items():
        pairs = min(len(group["a"]), len(group["b"]))
        for a_item, b_item in zip(group["a"][:pairs], group["b"][:pairs], strict=True):
            records.extend(_link_copies(a_item, b_item, policy, kept))
        extra = quiet.get(print_, ())
        more = min(len(extra), len(group["b"]) - pairs)
        for a_item, b_item in zip(extra[:more], group["b"][pairs : pairs + more], strict=True):
            records.extend(_link_copies(a_item, b_item, policy, kept))
        for side in ("a", "b"):
            rest = group[side][pairs + more if side == "b" else pairs :]
            if side == "b":
                pairs += more
            if pairs == 0 and rest:
                records.extend(_create(side, rest[0], policy, new_key))
                rest = rest[1:]
            for item in rest:
                assert item.id is not None
                records.append(_second_copy(side, item))
    return records


def _second_copy(side: Side, item: CalendarItem) -> Quarantine:
    """Park ``item``: another unlinked copy of it on ``side`` is synced instead (S3)."""
    assert item.id is not None
    return Quarantine(
        side,
        item.id,
        item,
        f"duplicate (S3): another copy of {item.title!r} at "
        f"{_instant(item.start)} is already on side {side}",
    )


def _create_unique(
    side: Side, items: list[CalendarItem], policy: SyncPolicy, new_key: KeyFactory
) -> list[PlanRecord]:
    """Create every item, quarantining second identical copies on one side (S3)."""
    records: list[PlanRecord] = []
    seen: set[tuple[object, ...]] = set()
    for item in items:
        assert item.id is not None
        print_ = _loose_fingerprint(item)
        if print_ in seen:
            records.append(_second_copy(side, item))
            continue
        seen.add(print_)
        records.extend(_create(side, item, policy, new_key))
    return records


def _create(
    side: Side, item: CalendarItem, policy: SyncPolicy, new_key: KeyFactory
) -> list[PlanRecord]:
    assert item.id is not None
    key = new_key(side, item.id)
    target = _other(side)
    content = policy.to_side(target, item)
    # The content written is the base. Going to side A it carries the activity fields
    # a retried create needs. Going to side B it has none, yet the base must keep the
    # side-A item's type: a later calendar edit updates the activity with the base's
    # type (S9: a linked entry keeps its type), so that one case builds a copy.
    base = content if side == "b" else _base(content, item)
    link = Link(
        key,
        a_id=item.id if side == "a" else None,
        b_id=item.id if side == "b" else None,
        a_etag=item.etag if side == "a" else None,
        b_etag=item.etag if side == "b" else None,
        base=base,
        pending=target,  # the create's intent as it is; the engine settles it after
    )
    return [Create(target, content, key, item.id), SetLink(link)]


def _link_copies(
    a: CalendarItem, b: CalendarItem, policy: SyncPolicy, kept: KeptFields = _ALL_KEPT
) -> list[PlanRecord]:
    """Link two existing copies (S3) and reconcile the fields they differ in."""
    assert a.id is not None
    assert b.id is not None
    key = derive_sync_key("a", a.id)
    link = Link(key, a_id=a.id, b_id=b.id)
    records = _decide(link, a, b, policy, kept)
    if not any(isinstance(r, SetLink) for r in records):
        records.append(SetLink(attrs.evolve(link, a_etag=a.etag, b_etag=b.etag, base=_base(a, a))))
    return records
