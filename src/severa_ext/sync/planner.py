"""The pure planner: matched entries -> one decision table -> an inert plan.

No I/O, no clock, no logging. :func:`plan_sync` runs the identity phase
(:func:`severa_ext.sync.match.match`: every observed item resolved once) and then
decides each outcome with one table. Per linked entry (``-`` unchanged, ``E``
edited, ``D`` deleted, on side A / side B):

====== ====== ==============================================================
A      B      plan
====== ====== ==============================================================
``-``  ``-``  nothing
E      ``-``  update B with A's content
``-``  E      update A with B's content (the activity keeps its type, S9)
E      E      field-level three-way merge against the base; a field both
              changed goes to the conflict rule (default newest wins, ties to A)
D      ``-``  delete B, drop the link (and the mirror case)
D      E      **bring over**: re-create on A from B, edit beats delete (no loss)
D      D      drop the link
====== ====== ==============================================================

"Content on one side, nothing on the other" is one cell, :func:`bring_over`,
whatever led there: an edit that beats a delete, a create retried after a crash
(:func:`plan_retry_create`), or a new entry (:class:`~severa_ext.sync.match.New`;
S8/S9 shape what goes out and what type comes in). It writes an intent before the
create (:attr:`Create.intent`) and never sends a project task to the calendar
(S8): the link is dropped instead and the activity stays.

The other outcomes of the identity phase: a :class:`~severa_ext.sync.match.Pair`
is linked (:class:`LinkExisting`, then decided as an entry with no base, so fields
the copies differ in are reconciled; S3), a
:class:`~severa_ext.sync.match.Replaces` relinks its entry (:class:`Relink`) and the
entry is decided as edited into the new item, a :class:`~severa_ext.sync.match.Copy`
is parked (:class:`Park`, journaled, never multiplied), a
:class:`~severa_ext.sync.match.Stays` writes nothing. A pending intent or a parked
item in the table is left alone (a parked item whose item is deleted is dropped).

Fields a side does not keep (``Capabilities.content_fields``,
:class:`~severa_ext.sync.merge.KeptFields`) are neither compared nor copied from that
side. A read-only side (``Capabilities.read_only``) gets no writes: each becomes a
:class:`Skipped` record; a skipped delete keeps the link, a skipped re-create drops
it, a skipped first create stores nothing.

The planner is linear in the number of changes: every lookup is a dict lookup.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

import attrs

from severa_ext.sync.content import MERGE_FIELDS
from severa_ext.sync.items import CalendarItem, Side, Window
from severa_ext.sync.links import Intent, Link, Parked, Stored, parked_key
from severa_ext.sync.match import (
    DELETED,
    UNCHANGED,
    Matching,
    Observed,
    Seen,
    match,
    seen_state,
)
from severa_ext.sync.merge import (
    ALL_KEPT,
    KeptFields,
    base_of,
    differing_fields,
    field_value,
    merge,
    merge_fields,
    overlay,
    same,
)
from severa_ext.sync.policy import SyncPolicy

__all__ = [
    "MERGE_FIELDS",
    "Conflict",
    "Create",
    "Delete",
    "KeptFields",
    "KeyFactory",
    "LinkExisting",
    "NewItems",
    "Park",
    "Plan",
    "PlanRecord",
    "Relink",
    "SetLink",
    "SideChanges",
    "Skipped",
    "Unlink",
    "Update",
    "WriteRecord",
    "bring_over",
    "derive_sync_key",
    "differing_fields",
    "field_value",
    "merge_fields",
    "new_items",
    "plan_entry",
    "plan_matched",
    "plan_retry_create",
    "plan_sync",
    "quarantine_key",
]

SideChanges = Observed
"""What one side reports (the identity phase's :class:`~severa_ext.sync.match.Observed`)."""


# -- records --------------------------------------------------------------------


@attrs.frozen
class Create:
    """Create ``item`` on ``side``, stamped with ``sync_key``.

    Attributes:
        side: where the new item goes.
        item: the content, already shaped for ``side`` by the policy.
        sync_key: the entry's key.
        source_id: the id of the item it copies, on the other side.
        planned: the entry's link as planned (the source's id and etag, and the
            base), the one its :class:`SetLink` stores once the create is done.
    """

    side: Side
    item: CalendarItem
    sync_key: str
    source_id: str | None
    planned: Link

    @property
    def intent(self) -> Intent:
        """The state stored before the create is sent (after a crash,
        ``find(sync_key)`` resolves it); made when asked, not kept per create."""
        return self.planned.intent(self.side)


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
    """Store ``link`` once the entry's writes succeeded (the executor fills in the id
    and etag of each side it wrote)."""

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
class LinkExisting:
    """The entry links two existing copies, ``a_id`` and ``b_id`` (S3): nothing is
    created; its writes (if any) reconcile the fields they differ in."""

    sync_key: str
    a_id: str
    b_id: str


@attrs.frozen
class Relink:
    """The entry's item on ``side`` is now ``new_id``: it replaces ``old_id``,
    deleted in this run (S3); nothing is deleted on the other side."""

    sync_key: str
    side: Side
    old_id: str | None
    new_id: str


@attrs.frozen
class Conflict:
    """Both sides changed ``fields`` of one entry; ``winner`` supplied them."""

    sync_key: str
    fields: tuple[str, ...]
    winner: Side
    a_id: str | None
    b_id: str | None


quarantine_key = parked_key
"""The state key of a parked item (:func:`severa_ext.sync.links.parked_key`)."""


@attrs.frozen
class Park:
    """Park ``item_id`` on ``side``: a duplicate (S3) that is never multiplied.

    Attributes:
        side: the item's side.
        item_id: the duplicate.
        item: its content.
        reason: why, for the journal.
    """

    side: Side
    item_id: str
    item: CalendarItem
    reason: str

    @property
    def sync_key(self) -> str:
        """The state key of the parked item."""
        return parked_key(self.side, self.item_id)

    def parked(self) -> Parked:
        """What the state keeps of it."""
        return Parked(self.side, self.item_id, self.item.etag, self.item.without_identity())


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

PlanRecord = (
    Create | Update | Delete | SetLink | Unlink | LinkExisting | Relink | Conflict | Park | Skipped
)
"""Any record of a plan."""

KeyFactory = Callable[[Side, str], str]
"""``new_key(side, item_id)``: the sync key of a new entry first seen as ``item_id``
on ``side``; it must be a key no other entry holds (:func:`derive_sync_key` hashes
its arguments; the engine's factory is time-ordered and never repeats)."""


@attrs.frozen
class Plan:
    """An inert, ordered plan.

    Records of one entry are adjacent and share a ``sync_key``: an optional
    :class:`LinkExisting` or :class:`Relink`, its writes (or :class:`Skipped`
    records), an optional :class:`Conflict`, then its :class:`SetLink` or
    :class:`Unlink`. :class:`Park` records stand alone.
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


def derive_sync_key(side: Side, item_id: str) -> str:
    """The deterministic sync key of an entry first seen as ``item_id`` on ``side``."""
    return hashlib.blake2b(f"{side}\x1f{item_id}".encode(), digest_size=16).hexdigest()


def _other(side: Side) -> Side:
    return "b" if side == "a" else "a"


# -- the cells ------------------------------------------------------------------


def bring_over(
    key: str,
    live: Side,
    item: CalendarItem,
    *,
    link: Link | Intent | None,
    policy: SyncPolicy,
    kept: KeptFields = ALL_KEPT,
) -> list[PlanRecord]:
    """The cell "content on one side, nothing on the other": create ``item`` (on
    ``live``) on the other side.

    Args:
        key: the entry's sync key.
        live: the side that holds ``item``.
        item: the content, as read now.
        link: the entry's link (an edit beats a delete, a retried create), or
            ``None`` for a new entry.
        policy: S8/S9: what goes out and which type comes in.
        kept: which fields each side keeps.

    Returns:
        A :class:`Create` (with its intent) and its :class:`SetLink`, or an
        :class:`Unlink` when the create may not happen (a project task, S8).
    """
    item_id = item.id
    assert item_id is not None
    base = link.base if link is not None else None
    if base is not None:
        item = overlay(item, base, kept.missing_on(live))
    # The base keeps side A's activity fields; equal to the content sent (the usual
    # case), it is that same value (content_copy shares it).
    if live == "a":
        if not policy.may_go_out(item, linked=link is not None):
            return [Unlink(key)]  # S8: a project task never goes to the calendar
        content = policy.to_side("b", item)
        final = Link(key, item_id, None, item.etag, None, base_of(content, item))
        return [Create("b", content, key, item_id, final), SetLink(final)]
    content = policy.to_side("a", item, base)
    final = Link(key, None, item_id, None, item.etag, base_of(content, base or content))
    return [Create("a", content, key, item_id, final), SetLink(final)]


def _merge_cell(
    link: Link, a: CalendarItem, b: CalendarItem, policy: SyncPolicy, kept: KeptFields
) -> list[PlanRecord]:
    assert link.a_id is not None
    assert link.b_id is not None
    key = link.sync_key
    merged, fields, winner = merge(link.base, a, b, policy, kept)
    records: list[PlanRecord] = []
    if not same(merged, a, kept.a):
        records.append(Update("a", link.a_id, policy.to_side("a", merged, a), a.etag, key))
    if not same(merged, b, kept.b):
        records.append(Update("b", link.b_id, policy.to_side("b", merged), b.etag, key))
    if fields:
        records.append(Conflict(key, fields, winner, link.a_id, link.b_id))
    new_link = link.synced(a.etag, b.etag, base_of(merged, a))
    if records or new_link != link:
        records.append(SetLink(new_link))
    return records


def _edit_cell(
    link: Link, edited: Side, item: CalendarItem, policy: SyncPolicy, kept: KeptFields
) -> list[PlanRecord]:
    target = _other(edited)
    target_id = link.id_on(target)
    assert target_id is not None
    base = link.base
    activity = item if edited == "a" else base
    item = overlay(item, base, kept.missing_on(edited))
    records: list[PlanRecord] = []
    content = item
    if base is None or not same(item, base, kept.on(edited)):
        content = policy.to_side(target, item, base if target == "a" else None)
        records.append(Update(target, target_id, content, link.etag_on(target), link.sync_key))
    # The base is the content sent (or the item's): one value when they are equal.
    new_base = base_of(content, activity)
    if edited == "a":
        records.append(SetLink(link.synced(item.etag, link.b_etag, new_base)))
    else:
        records.append(SetLink(link.synced(link.a_etag, item.etag, new_base)))
    return records


def _delete_cell(
    link: Link, gone: Side, survivor: Seen, policy: SyncPolicy, kept: KeptFields
) -> list[PlanRecord]:
    live = _other(gone)
    live_id = link.id_on(live)
    key = link.sync_key
    if live_id is None:
        return [Unlink(key)]
    if isinstance(survivor, CalendarItem) and (
        link.base is None or not same(survivor, link.base, kept.on(live))
    ):
        return bring_over(key, live, survivor, link=link, policy=policy, kept=kept)  # D + E
    etag = survivor.etag if isinstance(survivor, CalendarItem) else link.etag_on(live)
    return [Delete(live, live_id, etag, key), Unlink(key)]


def _decide(
    link: Stored, a: Seen, b: Seen, policy: SyncPolicy, kept: KeptFields = ALL_KEPT
) -> list[PlanRecord]:
    """The decision table (module docstring) for one linked entry."""
    if isinstance(link, Intent):
        return []
    if isinstance(link, Parked):
        return [Unlink(link.sync_key)] if DELETED in (a, b) else []
    if a is UNCHANGED and b is UNCHANGED:
        return []
    if a is DELETED and b is DELETED:
        return [Unlink(link.sync_key)]
    if a is DELETED:
        return _delete_cell(link, "a", b, policy, kept)
    if b is DELETED:
        return _delete_cell(link, "b", a, policy, kept)
    if isinstance(a, CalendarItem) and isinstance(b, CalendarItem):
        return _merge_cell(link, a, b, policy, kept)
    if isinstance(a, CalendarItem):
        return _edit_cell(link, "a", a, policy, kept)
    assert isinstance(b, CalendarItem)
    return _edit_cell(link, "b", b, policy, kept)


def _link_existing(
    a: CalendarItem, b: CalendarItem, policy: SyncPolicy, kept: KeptFields
) -> list[PlanRecord]:
    """Link two existing copies (S3) and reconcile the fields they differ in."""
    assert a.id is not None
    assert b.id is not None
    key = derive_sync_key("a", a.id)
    link = Link(key, a_id=a.id, b_id=b.id)
    records: list[PlanRecord] = [LinkExisting(key, a.id, b.id), *_decide(link, a, b, policy, kept)]
    if not any(isinstance(r, SetLink) for r in records):
        settled = link.synced(a.etag, b.etag, base_of(a, a))
        records.append(SetLink(settled))
    return records


def _without_writes_to(
    read_only: frozenset[Side],
    records: list[PlanRecord],
    stored: Iterable[str] | Mapping[str, Link],
) -> list[PlanRecord]:
    """Replace the writes to ``read_only`` sides with :class:`Skipped` records.

    A skipped delete keeps the link as it is (not a delete, not a loss); a skipped
    create drops a stored link (edit beats delete cannot bring the item back) and
    stores nothing for a new entry.
    """
    out: list[PlanRecord] = []
    drop_final: set[str] = set()
    unlink: set[str] = set()
    for record in records:
        if isinstance(record, Create | Update | Delete) and record.side in read_only:
            item_id = None if isinstance(record, Create) else record.item_id
            out.append(
                Skipped(record.side, type(record).__name__.lower(), record.sync_key, item_id)
            )
            if isinstance(record, Delete) or (
                isinstance(record, Create) and record.sync_key not in stored
            ):
                drop_final.add(record.sync_key)
            elif isinstance(record, Create):
                unlink.add(record.sync_key)
            continue
        if isinstance(record, SetLink | Unlink) and record.sync_key in drop_final:
            continue
        if isinstance(record, SetLink | Unlink) and record.sync_key in unlink:
            out.append(Unlink(record.sync_key))
            continue
        out.append(record)
    return out


# -- the planner ---------------------------------------------------------------


@attrs.frozen
class NewItems:
    """The new entries of a run, planned a part at a time (:meth:`records`).

    A first sync's plan is almost all new entries; the engine plans them as it
    writes, step by step, so a run holds one step of creates instead of all of them.
    Each is planned as in :func:`plan_sync`: :func:`bring_over`, then the read-only
    sides' :class:`Skipped` records.

    Attributes:
        into: per side, the items to create there (first seen on the other side), in
            the order they were observed.
        policy, new_key, read_only: as given to :func:`plan_sync`.
    """

    into: Mapping[Side, tuple[CalendarItem, ...]]
    policy: SyncPolicy
    new_key: KeyFactory
    read_only: frozenset[Side] = frozenset()

    def count(self, side: Side) -> int:
        """How many new entries create their item on ``side``."""
        return len(self.into.get(side, ()))

    def after(self, plan: Plan) -> Plan:
        """``plan`` followed by the records of every new entry, side B's creates
        first (:func:`plan_sync`'s order)."""
        return Plan((*plan.records, *self.records("b"), *self.records("a")))

    def records(self, side: Side, start: int = 0, stop: int | None = None) -> list[PlanRecord]:
        """The records of the new entries ``start:stop`` that create on ``side``."""
        live = _other(side)
        records: list[PlanRecord] = []
        for item in self.into.get(side, ())[start:stop]:
            assert item.id is not None
            key = self.new_key(live, item.id)
            records += bring_over(key, live, item, link=None, policy=self.policy)
        if self.read_only:
            records = _without_writes_to(self.read_only, records, ())
        return records


def new_items(
    matching: Matching,
    policy: SyncPolicy,
    new_key: KeyFactory,
    read_only: frozenset[Side] = frozenset(),
) -> NewItems:
    """The matching's new entries (:class:`~severa_ext.sync.match.New`), by the side
    their item is created on."""
    into: dict[Side, tuple[CalendarItem, ...]] = {
        side: tuple(new.item for new in matching.new if new.side != side) for side in ("a", "b")
    }
    return NewItems(into, policy, new_key, read_only)


def _plan_matching(matching: Matching, policy: SyncPolicy, kept: KeptFields) -> list[PlanRecord]:
    """The records of every outcome but the new entries (:func:`new_items`)."""
    records: list[PlanRecord] = []
    for member in matching.members:
        link = member.link
        replaced = matching.replaces.get(link.sync_key)
        if replaced is not None:
            side, item = replaced.side, replaced.item
            assert item.id is not None
            records.append(Relink(link.sync_key, side, replaced.replaced_id, item.id))
            link = replaced.link.with_item(side, item.id, None)
        records.extend(_decide(link, member.a, member.b, policy, kept))
    for copy in matching.copies:
        assert copy.item.id is not None
        records.append(Park(copy.side, copy.item.id, copy.item, copy.reason))
    for pair in matching.pairs:
        records.extend(_link_existing(pair.a, pair.b, policy, kept))
    return records


def plan_sync(
    links: Iterable[Stored],
    a: Observed,
    b: Observed,
    policy: SyncPolicy,
    window: Window,
    *,
    kept: KeptFields | None = None,
    read_only: frozenset[Side] = frozenset(),
    new_key: KeyFactory = derive_sync_key,
    known_copies: Mapping[str, Sequence[Link]] | None = None,
) -> Plan:
    """Plan one sync run: match (:func:`~severa_ext.sync.match.match`), then decide.

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
            time-ordered keys; the planner itself reads no clock.
        known_copies: stored links by the print of their base, for the prints of
            the unlinked items (``StateStore.links_by_prints``): how a copy made in a
            later run is recognised (S3). Empty by default.

    Returns:
        The inert plan (nothing has been written yet).
    """
    links = list(links)
    matching = match(links, a, b, policy, window, known_copies=known_copies)
    stored = {link.sync_key for link in links}
    known, new = plan_matched(
        matching, stored, policy, kept=kept, read_only=read_only, new_key=new_key
    )
    return new.after(known)


def plan_matched(
    matching: Matching,
    stored: Iterable[str],
    policy: SyncPolicy,
    *,
    kept: KeptFields | None = None,
    read_only: frozenset[Side] = frozenset(),
    new_key: KeyFactory = derive_sync_key,
) -> tuple[Plan, NewItems]:
    """Decide the outcomes of an identity phase, in two parts: the plan of every
    entry but the new ones, and the new entries, to plan a part at a time
    (:meth:`NewItems.records`). :func:`plan_sync` is this after
    :func:`~severa_ext.sync.match.match`, its parts joined (:meth:`NewItems.after`);
    the engine plans the new entries as it writes them.

    Args:
        matching: the identity phase's outcomes.
        stored: the sync keys of the links the matching was made from.
        policy, kept, read_only, new_key: as for :func:`plan_sync`.
    """
    records = _plan_matching(matching, policy, kept or ALL_KEPT)
    if read_only:
        records = _without_writes_to(read_only, records, set(stored))
    return Plan(tuple(records)), new_items(matching, policy, new_key, read_only)


def plan_entry(
    link: Link,
    a: CalendarItem | None,
    b: CalendarItem | None,
    policy: SyncPolicy,
    *,
    kept: KeptFields | None = None,
    read_only: frozenset[Side] = frozenset(),
) -> list[PlanRecord]:
    """Re-plan one linked entry from fresh reads of both sides (``None``: deleted).

    The executor calls this after a write met a stale etag or a vanished item.
    """
    a_seen, b_seen = seen_state(link, "a", a), seen_state(link, "b", b)
    records = _decide(link, a_seen, b_seen, policy, kept or ALL_KEPT)
    if read_only:
        records = _without_writes_to(read_only, records, {link.sync_key})
    return records


def plan_retry_create(
    intent: Intent,
    source: CalendarItem,
    policy: SyncPolicy,
    *,
    kept: KeptFields | None = None,
    read_only: frozenset[Side] = frozenset(),
) -> list[PlanRecord]:
    """Re-plan a create whose intent is pending and whose item never appeared.

    ``find(sync_key)`` found nothing on ``intent.side``: the create never happened.
    It is planned again from ``source`` (the item on the other side, read now) under
    the same key, by the same cell as an edit that beats a delete
    (:func:`bring_over`): the policy that let the entry travel is not asked again,
    the item's edits since travel with it (invariant 4), and S8 still holds.
    """
    live = _other(intent.side)
    fields = kept or ALL_KEPT
    records = bring_over(intent.sync_key, live, source, link=intent, policy=policy, kept=fields)
    if read_only:
        records = _without_writes_to(read_only, records, {intent.sync_key})
    return records
