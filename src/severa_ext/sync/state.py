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
from severa_ext.sync.items import Side, copy_print
from severa_ext.sync.journal import JournalEntry
from severa_ext.sync.links import Intent, Link, Parked, Stored

__all__ = [
    "Intent",
    "Lease",
    "Link",
    "MemoryStateStore",
    "Parked",
    "StateChange",
    "StateStore",
    "Stored",
]


@attrs.frozen
class Lease:
    """Proof that one run holds a sync pair until ``expires``.

    ``token``: the fencing token of a store that keeps one (PostgreSQL: a number
    that grows each time the pair's lease changes hands); such a store refuses a
    step or a renewal whose token is not the pair's current one, even from the same
    holder. ``None`` for stores that fence by holder alone (memory, SQLite).
    """

    pair_id: str
    holder: str
    expires: datetime
    token: int | None = None


@attrs.frozen
class StateChange:
    """One durable step: upserts and deletions (by sync key) of links, intents and
    parked items, and cursor moves, all or nothing."""

    put: tuple[Stored, ...] = attrs.field(default=(), converter=tuple)
    delete: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    cursors: Mapping[Side, str | None] = attrs.field(factory=dict)
    lease: Lease | None = None
    """A fence. When set, the step is applied only while ``lease.holder`` still
    holds the pair's lease (checked in the step's own transaction); else
    :class:`~severa_ext.errors.LeaseHeld` and nothing of the step is stored."""


class StateStore(Protocol):
    """What the engine persists through, for one or many sync pairs (``pair_id``
    separates them). Everything else a store offers is its own business.

    Each :meth:`apply` is one durable step: after a crash the store holds all of it
    or none of it. Entries are :data:`~severa_ext.sync.links.Stored` values (a link,
    an intent or a parked item), keyed by their ``sync_key``.
    """

    def apply(self, pair_id: str, change: StateChange) -> None:
        """Apply ``change`` atomically and durably."""
        ...

    def links_by_ids(self, pair_id: str, side: Side, ids: Iterable[str]) -> dict[str, Stored]:
        """Entries whose id on ``side`` is among ``ids``, keyed by that id (bulk)."""
        ...

    def etags_by_ids(self, pair_id: str, side: Side, ids: Iterable[str]) -> dict[str, str | None]:
        """The etag each entry stores for its item on ``side``, keyed by the ids among
        ``ids`` that entries own (bulk lookup; no base is read): how a run leaves out
        the items that only echo its own writes."""
        ...

    def etags(self, pair_id: str, side: Side) -> dict[str, str | None]:
        """The etag each entry stores for its item on ``side``, keyed by every id
        entries own there (one read of two columns, no base): what a full listing is
        compared against, so an unchanged item costs a dict lookup and no link is
        loaded."""
        ...

    def links_by_keys(self, pair_id: str, sync_keys: Iterable[str]) -> dict[str, Stored]:
        """Entries among ``sync_keys``, keyed by sync key (bulk lookup)."""
        ...

    def links_by_prints(self, pair_id: str, prints: Iterable[str]) -> dict[str, list[Link]]:
        """Links (never intents or parked items) whose base has a
        :meth:`~severa_ext.sync.content.Content.print` among ``prints``, grouped by
        print: how a copy another tool made in a later run is recognised (S3)."""
        ...

    def links(self, pair_id: str) -> Iterator[Stored]:
        """Every entry of the pair (a full scan: verify mode, full listings)."""
        ...

    def intents(self, pair_id: str) -> list[Intent]:
        """The intents still in flight (what a crashed run left behind)."""
        ...

    def count(self, pair_id: str) -> int:
        """How many entries the pair has."""
        ...

    def cursor(self, pair_id: str, side: Side) -> str | None:
        """The stored cursor of ``side``."""
        ...

    def acquire(
        self,
        pair_id: str,
        holder: str,
        *,
        now: datetime,
        ttl: timedelta,
        replacing: str | None = None,
    ) -> Lease:
        """Take the pair's lease, or raise :class:`~severa_ext.errors.LeaseHeld`.

        An expired lease may be taken over; the same holder may re-acquire.
        ``replacing``: the holder the caller knows to be dead (same host, its process
        gone); its lease is taken over at once, expired or not.
        """
        ...

    def renew(self, lease: Lease, *, now: datetime, ttl: timedelta) -> Lease:
        """Extend ``lease`` to ``now + ttl`` if its holder still holds it.

        Raises:
            LeaseHeld: the lease was taken over or released meanwhile (the run lost
                it and must stop writing).
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

    def close(self) -> None:
        """Release the store's resources."""
        ...


def _indexed(link: Stored) -> bool:
    """Whether ``link`` is found by the print of its base: a link with a base."""
    return isinstance(link, Link) and link.base is not None


class MemoryStateStore:
    """The reference :class:`StateStore`, in memory (tests, examples, dry runs)."""

    def __init__(self) -> None:
        self._links: dict[str, dict[str, Stored]] = {}
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

    def _unindex(self, pair_id: str, link: Stored, new: Stored | None = None) -> None:
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
        if change.lease is not None:
            self._fence(change.lease)
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

    def link(self, pair_id: str, sync_key: str) -> Stored | None:
        """The entry with ``sync_key``, if any (not part of the protocol)."""
        return self._links.get(pair_id, {}).get(sync_key)

    def links_by_ids(self, pair_id: str, side: Side, ids: Iterable[str]) -> dict[str, Stored]:
        index = self._index(pair_id, side)
        links = self._links.get(pair_id, {})
        found: dict[str, Stored] = {}
        for item_id in ids:
            key = index.get(item_id)
            if key is not None:
                found[item_id] = links[key]
        return found

    def etags_by_ids(self, pair_id: str, side: Side, ids: Iterable[str]) -> dict[str, str | None]:
        index = self._index(pair_id, side)
        links = self._links.get(pair_id, {})
        return {i: links[key].etag_on(side) for i in ids if (key := index.get(i)) is not None}

    def etags(self, pair_id: str, side: Side) -> dict[str, str | None]:
        links = self._links.get(pair_id, {})
        return {i: links[key].etag_on(side) for i, key in self._index(pair_id, side).items()}

    def links_by_keys(self, pair_id: str, sync_keys: Iterable[str]) -> dict[str, Stored]:
        links = self._links.get(pair_id, {})
        return {key: links[key] for key in sync_keys if key in links}

    def links_by_prints(self, pair_id: str, prints: Iterable[str]) -> dict[str, list[Link]]:
        index = self._by_print.get(pair_id, {})
        links = self._links.get(pair_id, {})
        found: dict[str, list[Link]] = {}
        for print_ in prints:
            keys = index.get(print_)
            if keys:
                found[print_] = [link for key in keys if isinstance(link := links[key], Link)]
        return found

    def links(self, pair_id: str) -> Iterator[Stored]:
        return iter(list(self._links.get(pair_id, {}).values()))

    def intents(self, pair_id: str) -> list[Intent]:
        return [e for e in self._links.get(pair_id, {}).values() if isinstance(e, Intent)]

    def count(self, pair_id: str) -> int:
        return len(self._links.get(pair_id, {}))

    def cursor(self, pair_id: str, side: Side) -> str | None:
        return self._cursors.get((pair_id, side))

    def acquire(
        self,
        pair_id: str,
        holder: str,
        *,
        now: datetime,
        ttl: timedelta,
        replacing: str | None = None,
    ) -> Lease:
        current = self._leases.get(pair_id)
        if (
            current is not None
            and current.holder not in (holder, replacing)
            and current.expires > now
        ):
            raise LeaseHeld(pair_id, current.holder, expires=current.expires)
        lease = Lease(pair_id, holder, now + ttl)
        self._leases[pair_id] = lease
        return lease

    def renew(self, lease: Lease, *, now: datetime, ttl: timedelta) -> Lease:
        self._fence(lease)
        renewed = Lease(lease.pair_id, lease.holder, now + ttl)
        self._leases[lease.pair_id] = renewed
        return renewed

    def _fence(self, lease: Lease) -> None:
        current = self._leases.get(lease.pair_id)
        if current is None or current.holder != lease.holder:
            holder = current.holder if current is not None else None
            raise LeaseHeld(lease.pair_id, holder, expires=current.expires if current else None)

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
        """A no-op (not part of the protocol; here for symmetry with SQLite)."""
        return nullcontext()

    def close(self) -> None:
        """Nothing to release."""
