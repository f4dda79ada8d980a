"""Sync state: links between the two sides, cursors, intents, leases and the journal.

The :class:`StateStore` protocol is what the engine persists through; the in-memory
implementation here is the reference, and ``severa_ext.sync.sqlite`` keeps the
same state in an embedded SQLite file. Every call to :meth:`StateStore.apply` is one
durable step: after a crash, the store holds either all of a step or none of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Protocol

import attrs

from severa_ext.errors import LeaseHeld, ValidationError
from severa_ext.sync.items import CalendarItem, Side, copy_print
from severa_ext.sync.journal import JournalEntry

__all__ = [
    "Lease",
    "Link",
    "MemoryStateStore",
    "StateChange",
    "StateStore",
]


@attrs.frozen
class Link:
    """What the engine knows of one logical entry that exists on both sides.

    Attributes:
        sync_key: the link's identity, stamped on what the engine creates.
        a_id, b_id: the item's id on each side (``None`` while a create is pending).
        a_etag, b_etag: the version last seen / written on each side.
        base: the content as last synced (identity stripped): the common ancestor of
            the three-way merge. ``None`` only while the link is a pending intent.
            Its activity fields matter only for a create pending on side A (the type
            the new activity gets); merges compare content fields alone.
        pending: the side a create is in flight on (an intent written before the
            create); after a crash the engine resolves it with ``find(sync_key)``.
        quarantined: the link is parked (duplicates found, S3); the engine skips it
            and the journal says why.
    """

    sync_key: str
    a_id: str | None = None
    b_id: str | None = None
    a_etag: str | None = None
    b_etag: str | None = None
    base: CalendarItem | None = None
    pending: Side | None = None
    quarantined: bool = False

    def id_on(self, side: Side) -> str | None:
        """The item id on ``side``."""
        return self.a_id if side == "a" else self.b_id

    def etag_on(self, side: Side) -> str | None:
        """The etag last seen on ``side``."""
        return self.a_etag if side == "a" else self.b_etag

    def with_item(self, side: Side, item_id: str | None, etag: str | None) -> Link:
        """This link with ``side``'s id and etag replaced."""
        if side == "a":
            return attrs.evolve(self, a_id=item_id, a_etag=etag)
        return attrs.evolve(self, b_id=item_id, b_etag=etag)


@attrs.frozen
class StateChange:
    """One durable step: link upserts, link deletions and cursor moves, all or nothing."""

    put: tuple[Link, ...] = attrs.field(default=(), converter=tuple)
    delete: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    cursors: Mapping[Side, str | None] = attrs.field(factory=dict)


@attrs.frozen
class Lease:
    """Proof that one run holds a sync pair until ``expires``."""

    pair_id: str
    holder: str
    expires: datetime


class StateStore(Protocol):
    """Persistence of one or many sync pairs (``pair_id`` separates them)."""

    def apply(self, pair_id: str, change: StateChange) -> None:
        """Apply ``change`` atomically and durably."""
        ...

    def link(self, pair_id: str, sync_key: str) -> Link | None:
        """The link with ``sync_key``, if any."""
        ...

    def links_by_ids(self, pair_id: str, side: Side, ids: Iterable[str]) -> dict[str, Link]:
        """Links whose id on ``side`` is among ``ids``, keyed by that id (bulk lookup)."""
        ...

    def etags_by_ids(self, pair_id: str, side: Side, ids: Iterable[str]) -> dict[str, str | None]:
        """The etag each link stores for its item on ``side``, keyed by the ids among
        ``ids`` that links own (bulk lookup; no base is read): how a run leaves out
        the items that only echo its own writes."""
        ...

    def links_by_keys(self, pair_id: str, sync_keys: Iterable[str]) -> dict[str, Link]:
        """Links among ``sync_keys``, keyed by sync key (bulk lookup)."""
        ...

    def links_by_prints(self, pair_id: str, prints: Iterable[str]) -> dict[str, list[Link]]:
        """Links whose base has a :func:`~severa_ext.sync.items.copy_print` among
        ``prints``, grouped by print (bulk lookup; how a copy that another tool made
        in a later run is recognised, S3). Pending intents and links without a base
        are not indexed.
        """
        ...

    def links(self, pair_id: str) -> Iterator[Link]:
        """Every link of the pair (a full scan: verify mode, resyncs)."""
        ...

    def pending(self, pair_id: str) -> list[Link]:
        """Links that are intents still in flight (``pending`` set)."""
        ...

    def count(self, pair_id: str) -> int:
        """How many links the pair has."""
        ...

    def cursor(self, pair_id: str, side: Side) -> str | None:
        """The stored cursor of ``side``."""
        ...

    def acquire(self, pair_id: str, holder: str, *, now: datetime, ttl: timedelta) -> Lease:
        """Take the pair's lease, or raise :class:`~severa_ext.errors.LeaseHeld`.

        An expired lease may be taken over; the same holder may re-acquire (renew).
        """
        ...

    def release(self, lease: Lease) -> None:
        """Give the lease back (a no-op if it was taken over meanwhile)."""
        ...

    def record(self, entry: JournalEntry) -> None:
        """Append an entry to the error journal (S6)."""
        ...

    def journal(
        self,
        *,
        pair_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[JournalEntry]:
        """Journal entries, oldest first, filtered by pair and time."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """Group several reads into one consistent snapshot (a no-op where not needed)."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...


def _indexed(link: Link) -> bool:
    """Whether ``link`` is found by the print of its base: a settled link with a base."""
    return link.base is not None and link.pending is None


class MemoryStateStore:
    """The reference :class:`StateStore`, in memory (tests, examples, dry runs)."""

    def __init__(self) -> None:
        self._links: dict[str, dict[str, Link]] = {}
        self._by_id: dict[tuple[str, Side], dict[str, str]] = {}
        # pair -> base print -> sync keys (insertion ordered: dict as an ordered set)
        self._by_print: dict[str, dict[str, dict[str, None]]] = {}
        self._cursors: dict[tuple[str, Side], str | None] = {}
        self._leases: dict[str, Lease] = {}
        self._journal: list[JournalEntry] = []

    def __repr__(self) -> str:
        return f"MemoryStateStore(pairs={len(self._links)})"

    def _index(self, pair_id: str, side: Side) -> dict[str, str]:
        return self._by_id.setdefault((pair_id, side), {})

    def _unindex(self, pair_id: str, link: Link, new: Link | None = None) -> None:
        for side in ("a", "b"):
            item_id = link.id_on(side)
            index = self._index(pair_id, side)
            if item_id is not None and index.get(item_id) == link.sync_key:
                del index[item_id]
        if _indexed(link) and not (new is not None and _indexed(new) and new.base is link.base):
            assert link.base is not None
            print_ = copy_print(link.base)
            prints = self._by_print.get(pair_id, {})
            keys = prints.get(print_)
            if keys is not None:
                keys.pop(link.sync_key, None)
                if not keys:
                    del prints[print_]

    def apply(self, pair_id: str, change: StateChange) -> None:
        links = self._links.setdefault(pair_id, {})
        for key in change.delete:
            old = links.pop(key, None)
            if old is not None:
                self._unindex(pair_id, old)
        for link in change.put:
            old = links.get(link.sync_key)
            if old is not None:
                self._unindex(pair_id, old, link)
            links[link.sync_key] = link
            if _indexed(link) and not (old is not None and _indexed(old) and old.base is link.base):
                assert link.base is not None
                prints = self._by_print.setdefault(pair_id, {})
                prints.setdefault(copy_print(link.base), {})[link.sync_key] = None
            for side in ("a", "b"):
                item_id = link.id_on(side)
                if item_id is not None:
                    self._index(pair_id, side)[item_id] = link.sync_key
        for side, cursor in change.cursors.items():
            self._cursors[(pair_id, side)] = cursor

    def link(self, pair_id: str, sync_key: str) -> Link | None:
        return self._links.get(pair_id, {}).get(sync_key)

    def links_by_ids(self, pair_id: str, side: Side, ids: Iterable[str]) -> dict[str, Link]:
        index = self._index(pair_id, side)
        links = self._links.get(pair_id, {})
        found: dict[str, Link] = {}
        for item_id in ids:
            key = index.get(item_id)
            if key is not None:
                found[item_id] = links[key]
        return found

    def etags_by_ids(self, pair_id: str, side: Side, ids: Iterable[str]) -> dict[str, str | None]:
        index = self._index(pair_id, side)
        links = self._links.get(pair_id, {})
        return {i: links[key].etag_on(side) for i in ids if (key := index.get(i)) is not None}

    def links_by_keys(self, pair_id: str, sync_keys: Iterable[str]) -> dict[str, Link]:
        links = self._links.get(pair_id, {})
        return {key: links[key] for key in sync_keys if key in links}

    def links_by_prints(self, pair_id: str, prints: Iterable[str]) -> dict[str, list[Link]]:
        index = self._by_print.get(pair_id, {})
        links = self._links.get(pair_id, {})
        found: dict[str, list[Link]] = {}
        for print_ in prints:
            keys = index.get(print_)
            if keys:
                found[print_] = [links[key] for key in keys]
        return found

    def links(self, pair_id: str) -> Iterator[Link]:
        return iter(list(self._links.get(pair_id, {}).values()))

    def pending(self, pair_id: str) -> list[Link]:
        return [link for link in self._links.get(pair_id, {}).values() if link.pending]

    def count(self, pair_id: str) -> int:
        return len(self._links.get(pair_id, {}))

    def cursor(self, pair_id: str, side: Side) -> str | None:
        return self._cursors.get((pair_id, side))

    def acquire(self, pair_id: str, holder: str, *, now: datetime, ttl: timedelta) -> Lease:
        current = self._leases.get(pair_id)
        if current is not None and current.holder != holder and current.expires > now:
            raise LeaseHeld(pair_id, current.holder)
        lease = Lease(pair_id, holder, now + ttl)
        self._leases[pair_id] = lease
        return lease

    def release(self, lease: Lease) -> None:
        current = self._leases.get(lease.pair_id)
        if current is not None and current.holder == lease.holder:
            del self._leases[lease.pair_id]

    def record(self, entry: JournalEntry) -> None:
        self._journal.append(entry)

    def journal(
        self,
        *,
        pair_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[JournalEntry]:
        if limit is not None and limit < 0:
            raise ValidationError(f"journal: limit must not be negative, got {limit}")
        entries = [
            e
            for e in self._journal
            if (pair_id is None or e.pair_id == pair_id) and (since is None or e.time >= since)
        ]
        if limit is None:
            return entries
        return entries[len(entries) - limit :] if limit else []

    def transaction(self) -> AbstractContextManager[None]:
        return nullcontext()

    def close(self) -> None:
        """Nothing to release."""
