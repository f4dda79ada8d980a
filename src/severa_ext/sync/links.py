"""What the state keeps of each entry: a link, an intent or a parked item.

A tagged union of three small frozen types, :data:`Stored`; the type says what an
entry is (no flag changes a type's meaning):

* :class:`Link`: an entry synced on both sides (ids, etags, and the base: the
  content as last synced, the common ancestor of the three-way merge);
* :class:`Intent`: a create in flight, stored before the create is sent; after a
  crash the engine resolves it with ``find(sync_key)`` (found: settle it into a
  :class:`Link`; not found: create again under the same key);
* :class:`Parked`: a duplicate another tool made (S3), parked so it is never
  multiplied; identified by its side and item id.

All three answer ``id_on(side)`` and ``etag_on(side)`` and have a ``sync_key`` (the
state's key), so a store indexes them alike. Pure values: no I/O.
"""

from __future__ import annotations

import attrs

from severa_ext.sync.items import CalendarItem, Side

__all__ = ["Intent", "Link", "Parked", "Stored", "parked_key"]


@attrs.frozen
class Link:
    """One logical entry, synced on both sides.

    Attributes:
        sync_key: the entry's identity, stamped on what the engine creates.
        a_id, b_id: the item's id on each side.
        a_etag, b_etag: the version last seen / written on each side.
        base: the content as last synced (identity stripped), with side A's
            activity fields; ``None`` for two copies being linked (S3).
    """

    sync_key: str
    a_id: str | None = None
    b_id: str | None = None
    a_etag: str | None = None
    b_etag: str | None = None
    base: CalendarItem | None = None

    def id_on(self, side: Side) -> str | None:
        """The item id on ``side``."""
        return self.a_id if side == "a" else self.b_id

    def etag_on(self, side: Side) -> str | None:
        """The etag last seen on ``side``."""
        return self.a_etag if side == "a" else self.b_etag

    def with_item(self, side: Side, item_id: str | None, etag: str | None) -> Link:
        """This link with ``side``'s id and etag replaced (built directly: this runs
        once per written item)."""
        if side == "a":
            return Link(self.sync_key, item_id, self.b_id, etag, self.b_etag, self.base)
        return Link(self.sync_key, self.a_id, item_id, self.a_etag, etag, self.base)

    def synced(self, a_etag: str | None, b_etag: str | None, base: CalendarItem) -> Link:
        """This link (same ids) once both sides hold ``base`` at these etags (built
        directly: this runs once per planned entry)."""
        return Link(self.sync_key, self.a_id, self.b_id, a_etag, b_etag, base)

    def intent(self, side: Side) -> Intent:
        """The intent to create this entry's item on ``side`` (stored before the create)."""
        return Intent(
            self.sync_key, side, self.a_id, self.b_id, self.a_etag, self.b_etag, self.base
        )


@attrs.frozen
class Intent:
    """A create of the entry ``sync_key`` on ``side``, stored before it is sent.

    Attributes:
        sync_key: the key the create stamps (``find`` looks it up after a crash).
        side: where the item is being created.
        a_id, b_id, a_etag, b_etag: what the entry holds on the other side (its
            source), as in :class:`Link`; ``None`` on ``side``.
        base: the content being created, with side A's activity fields (the type a
            new activity gets).
    """

    sync_key: str
    side: Side
    a_id: str | None = None
    b_id: str | None = None
    a_etag: str | None = None
    b_etag: str | None = None
    base: CalendarItem | None = None

    def id_on(self, side: Side) -> str | None:
        """The item id on ``side``."""
        return self.a_id if side == "a" else self.b_id

    def etag_on(self, side: Side) -> str | None:
        """The etag on ``side``."""
        return self.a_etag if side == "a" else self.b_etag

    def settled(self, item_id: str | None, etag: str | None) -> Link:
        """The link once the create made ``item_id`` (with ``etag``) on ``side``."""
        return Link(
            self.sync_key, self.a_id, self.b_id, self.a_etag, self.b_etag, self.base
        ).with_item(self.side, item_id, etag)


def parked_key(side: Side, item_id: str) -> str:
    """The state key of the parked item ``item_id`` on ``side``."""
    return f"quarantine:{side}:{item_id}"


@attrs.frozen
class Parked:
    """A duplicate on ``side`` that the sync leaves alone (S3).

    Attributes:
        side: the item's side.
        item_id: its id.
        etag: its version when parked.
        item: its content (identity stripped).
    """

    side: Side
    item_id: str
    etag: str | None
    item: CalendarItem

    @property
    def sync_key(self) -> str:
        """The state key (from the side and the item id)."""
        return parked_key(self.side, self.item_id)

    @property
    def base(self) -> CalendarItem:
        """The content as parked."""
        return self.item

    def id_on(self, side: Side) -> str | None:
        """The item id on ``side`` (``None`` on the other side)."""
        return self.item_id if side == self.side else None

    def etag_on(self, side: Side) -> str | None:
        """The etag on ``side``."""
        return self.etag if side == self.side else None


Stored = Link | Intent | Parked
"""What the state holds for one entry."""
