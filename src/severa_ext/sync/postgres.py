"""Sync state in PostgreSQL: the :class:`~severa_ext.sync.state.StateStore` a fleet shares.

Any number of sync pairs (one per user) share one database; every row carries its
``pair_id``. The store keeps a :class:`psycopg_pool.ConnectionPool` (extra
``postgres``: psycopg 3 and psycopg-pool) and each call borrows one connection for
one transaction:

* every :meth:`PostgresStateStore.apply` is one transaction (deletes, one
  ``INSERT ... ON CONFLICT`` of all puts from arrays, the pair's count, the cursors):
  after a crash the database holds all of a step or none of it;
* leases are rows with a holder, an expiry and a fencing token (see
  ``severa_ext.sync._postgres_leases``), checked inside each fenced step's own
  transaction; no session-level advisory lock, so the store works behind a
  transaction-mode pooler such as PgBouncer (give ``prepare_threshold=None`` there
  for PgBouncer before 1.21);
* workers claim due pairs with :meth:`PostgresStateStore.claim_due_pairs`
  (``SELECT ... FOR UPDATE SKIP LOCKED``);
* the tables (prefix ``severa_ext_state_``, in the connection's ``search_path``
  schema) carry a version; opening the store applies the missing migrations of
  ``severa_ext.sync._postgres_schema`` in one transaction, and tables a newer
  release wrote are refused with :class:`~severa_ext.errors.StateError`.

Right after a large sync (a first sync of 100,000 items) the pending-intent index
holds an entry for each settled intent until autovacuum runs; ``intents`` reads it
by a plain index scan, so the first call after such a sync passes those entries once
(and marks them dead) and later calls skip them.

Entries are stored as the SQLite store stores them (ids, etags and flags in columns,
the base as JSON text, the S3 print indexed). No psycopg exception escapes: each
becomes a ``StateError`` naming the database (never its password).

Example (``dsn`` reaches a PostgreSQL database)::

    with PostgresStateStore(dsn) as store:
        store.apply("alice", StateChange(put=[Link("k1", a_id="A1", b_id="B1")]))
        store.links_by_ids("alice", "a", ["A1"])["A1"].b_id  # 'B1'
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import Connection
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from severa_ext.errors import StateError, ValidationError
from severa_ext.sync import _postgres_leases as leases
from severa_ext.sync import _postgres_links as rows
from severa_ext.sync._postgres_schema import (
    CURRENT_VERSION,
    MIGRATION_LOCK,
    MIGRATIONS,
    VERSION_TABLE,
)
from severa_ext.sync._sqlite_codec import dump_entry, load_entry
from severa_ext.sync.items import Side
from severa_ext.sync.journal import JournalEntry
from severa_ext.sync.links import Intent, Link, Stored
from severa_ext.sync.state import Lease, StateChange

__all__ = ["PostgresStateStore"]

logger = logging.getLogger(__name__)

_SIDES = ("a", "b")


def _describe(conninfo: str) -> str:
    """``conninfo`` as ``postgresql://user@host:port/dbname``, never the password."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise ValidationError(f"PostgresStateStore: not a connection string: {exc}") from exc
    user = f"{params['user']}@" if params.get("user") else ""
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{user}{params.get('host', '')}{port}/{params.get('dbname', '')}"


class PostgresStateStore:
    """A :class:`~severa_ext.sync.state.StateStore` in PostgreSQL, for many pairs and
    many worker processes (see the module doc).

    Args:
        conninfo: a libpq connection string or ``postgresql://`` URL.
        min_size, max_size: connections the pool keeps open / may open.
        timeout: seconds to wait for a pooled connection (then ``StateError``).
        prepare_threshold: psycopg's server-side prepare threshold; ``None`` for a
            transaction-mode pooler that cannot keep prepared statements.

    Raises:
        StateError: the database cannot be reached or migrated, or its tables were
            written by a newer release.
        ValidationError: ``conninfo`` is not a connection string.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        min_size: int = 1,
        max_size: int = 4,
        timeout: float = 30.0,
        prepare_threshold: int | None = 5,
    ) -> None:
        self._where = f"state store {_describe(conninfo)}"
        self._closed = False
        self._bases = rows.BaseCache()
        self._pool: ConnectionPool[Connection[Any]] = ConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True, "prepare_threshold": prepare_threshold},
            name="severa_ext-state",
            open=False,
        )
        try:
            self._pool.open()
            self._migrate()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"PostgresStateStore({self._where.removeprefix('state store ')!r}, {state})"

    def __enter__(self) -> PostgresStateStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------

    @contextmanager
    def _conn(self, operation: str) -> Iterator[Connection[Any]]:
        """A pooled connection (autocommit); psycopg errors become ``StateError``."""
        if self._closed:
            raise StateError(f"{self._where}: {operation} after close()")
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise StateError(
                f"{self._where}: {operation} failed: {type(exc).__name__}: {exc}"
            ) from exc

    @contextmanager
    def _transaction(self, operation: str) -> Iterator[Connection[Any]]:
        """One transaction on a pooled connection (committed, or rolled back on error)."""
        with self._conn(operation) as conn, conn.transaction():
            yield conn

    @contextmanager
    def _lease_transaction(self, operation: str) -> Iterator[Connection[Any]]:
        """A transaction of the lease table alone, committed without waiting for the
        WAL flush (``synchronous_commit = off``): safe because every durable step is
        fenced in its own, flushed, transaction. A lease write lost in a server crash
        only makes that run's next step fail the fence (an acquire, a renewal or a
        claim) or leaves the lease to expire (a release); the next flushed commit
        flushes it anyway. It saves one disk flush per lease write (two per no-change
        sync)."""
        with self._transaction(operation) as conn:
            conn.execute("SET LOCAL synchronous_commit = off")
            yield conn

    def _version(self, conn: Connection[Any]) -> int:
        # A query of pg_tables, not to_regclass(): it sees tables another transaction
        # committed while this one waited for the migration lock.
        exists = conn.execute(
            "SELECT count(*) > 0 FROM pg_catalog.pg_tables "
            "WHERE schemaname = current_schema() AND tablename = %s",
            (VERSION_TABLE,),
        ).fetchone()
        if exists is None or not exists[0]:
            return 0
        row = conn.execute(f"SELECT max(version) FROM {VERSION_TABLE}").fetchone()  # noqa: S608
        return int(row[0]) if row is not None and row[0] is not None else 0

    def _check_version(self, version: int) -> None:
        if version > CURRENT_VERSION:
            raise StateError(
                f"{self._where} has schema version {version}, newer than this "
                f"release's {CURRENT_VERSION}; upgrade severa_ext to use it"
            )

    def _migrate(self) -> None:
        with self._conn("open") as conn:
            version = self._version(conn)
        self._check_version(version)
        if version == CURRENT_VERSION:
            return  # up to date: opening takes no lock
        with self._transaction("migrate") as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            version = self._version(conn)  # again, under the lock
            self._check_version(version)
            conn.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version integer NOT NULL)")
            for number, what, script in MIGRATIONS:
                if number > version:
                    logger.info("migrating %s to version %d: %s", self._where, number, what)
                    conn.execute(script.encode())  # several statements, no parameters
                    conn.execute(f"DELETE FROM {VERSION_TABLE}")  # noqa: S608
                    conn.execute(f"INSERT INTO {VERSION_TABLE} VALUES (%s)", (number,))  # noqa: S608

    @property
    def schema_version(self) -> int:
        """The schema version of the tables."""
        with self._conn("read the schema version") as conn:
            return self._version(conn)

    def _load(self, row: Any) -> Stored:
        return rows.load(row, where=self._where)

    # -- links ------------------------------------------------------------------------

    def apply(self, pair_id: str, change: StateChange) -> None:
        """Apply ``change`` in one transaction, fenced by ``change.lease`` if set.

        Raises:
            LeaseHeld: ``change.lease`` no longer holds the pair (nothing stored).
            StateError: the write failed (nothing of it was stored).
        """
        puts = rows.put_arrays(pair_id, change.put, self._bases)
        try:
            with self._transaction("apply") as conn:
                if change.lease is not None:
                    leases.fence(conn, change.lease)
                delta = rows.delete(conn, pair_id, change.delete) if change.delete else 0
                delta += rows.upsert(conn, pair_id, puts) if puts is not None else 0
                if delta:
                    rows.count_delta(conn, pair_id, delta)
                if change.cursors:
                    rows.move_cursors(conn, pair_id, change.cursors)
        except BaseException:
            self._bases.forget()
            raise

    def links_by_ids(self, pair_id: str, side: Side, ids: Iterable[str]) -> dict[str, Stored]:
        """Entries whose id on ``side`` is among ``ids``, keyed by that id (indexed)."""
        column = _column(side, "links_by_ids")
        with self._conn("look links up by id") as conn:
            found = rows.select_by(conn, pair_id, column, ids)
        return {row[0]: self._load(row[1:]) for row in found}

    def etags_by_ids(self, pair_id: str, side: Side, ids: Iterable[str]) -> dict[str, str | None]:
        """The etag stored for each of ``ids`` an entry owns on ``side`` (no base read)."""
        column = _column(side, "etags_by_ids")
        with self._conn("look etags up by id") as conn:
            found = rows.select_by(conn, pair_id, column, ids, select=f"{side}_etag")
        return {row[0]: row[1] for row in found}

    def etags(self, pair_id: str, side: Side) -> dict[str, str | None]:
        """Every id an entry owns on ``side`` and the etag stored for it (one query;
        no base is read)."""
        column = _column(side, "etags")
        with self._conn("read the etags") as conn:
            found = rows.side_etags(conn, pair_id, column, f"{side}_etag")
        return dict(found)

    def links_by_keys(self, pair_id: str, sync_keys: Iterable[str]) -> dict[str, Stored]:
        """Entries among ``sync_keys``, keyed by sync key."""
        with self._conn("look links up by sync key") as conn:
            found = rows.select_by(conn, pair_id, "sync_key", sync_keys)
        return {row[0]: self._load(row[1:]) for row in found}

    def links_by_prints(self, pair_id: str, prints: Iterable[str]) -> dict[str, list[Link]]:
        """Links whose base has one of ``prints`` (S3), grouped by print (indexed)."""
        with self._conn("look links up by print") as conn:
            found = rows.select_by(conn, pair_id, "print", prints)
        grouped: dict[str, list[Link]] = {}
        for row in found:
            link = self._load(row[1:])
            if isinstance(link, Link):
                grouped.setdefault(row[0], []).append(link)
        return grouped

    def links(self, pair_id: str) -> Iterator[Stored]:
        """Every entry of the pair in the order first stored, page by page (each page
        its own query: no transaction stays open between pages)."""
        last = 0
        while True:
            with self._conn("list links") as conn:
                page = rows.page(conn, pair_id, after=last)
            for row in page:
                yield self._load(row[1:])
            if len(page) < rows.PAGE:
                return
            last = page[-1][0]

    def intents(self, pair_id: str) -> list[Intent]:
        """The intents still in flight (indexed)."""
        with self._transaction("list intents") as conn:
            found = rows.pending(conn, pair_id)
        return [entry for row in found if isinstance(entry := self._load(row), Intent)]

    def count(self, pair_id: str) -> int:
        """How many entries the pair has (a counter kept with each step, not a scan)."""
        with self._conn("count links") as conn:
            row = conn.execute(
                "SELECT n FROM severa_ext_state_pairs WHERE pair_id = %s", (pair_id,)
            ).fetchone()
        return int(row[0]) if row is not None else 0

    def cursor(self, pair_id: str, side: Side) -> str | None:
        """The stored cursor of ``side``."""
        with self._conn("read a cursor") as conn:
            row = conn.execute(
                "SELECT cursor FROM severa_ext_state_cursors WHERE pair_id = %s AND side = %s",
                (pair_id, side),
            ).fetchone()
        return row[0] if row is not None else None

    # -- leases and claims ----------------------------------------------------------

    def acquire(
        self,
        pair_id: str,
        holder: str,
        *,
        now: datetime,
        ttl: timedelta,
        replacing: str | None = None,
    ) -> Lease:
        """Take the pair's lease (one statement under the lease row's lock; the
        returned lease carries the pair's fencing ``token``).

        Raises:
            LeaseHeld: another holder's lease has not expired at ``now``.
        """
        _aware(now, "acquire")
        with self._lease_transaction("acquire a lease") as conn:
            return leases.acquire(conn, pair_id, holder, now=now, ttl=ttl, replacing=replacing)

    def renew(self, lease: Lease, *, now: datetime, ttl: timedelta) -> Lease:
        """Extend ``lease`` to ``now + ttl`` while it still holds its pair.

        Raises:
            LeaseHeld: the lease was taken over or released meanwhile.
        """
        _aware(now, "renew")
        with self._lease_transaction("renew a lease") as conn:
            return leases.renew(conn, lease, now=now, ttl=ttl)

    def release(self, lease: Lease) -> None:
        """Give the lease back; a no-op if another holder took it over meanwhile."""
        with self._lease_transaction("release a lease") as conn:
            leases.release(conn, lease)

    def schedule(self, pair_id: str, due: datetime | None) -> None:
        """Make ``pair_id`` due for a sync at ``due`` (registering the pair if new);
        ``None``: :meth:`claim_due_pairs` leaves it alone (not part of the protocol)."""
        if due is not None:
            _aware(due, "schedule")
        with self._lease_transaction("schedule a pair") as conn:
            leases.schedule(conn, pair_id, due)

    def claim_due_pairs(
        self,
        holder: str,
        *,
        now: datetime,
        ttl: timedelta,
        every: timedelta,
        limit: int = 1,
    ) -> list[Lease]:
        """Claim up to ``limit`` pairs that are due (``due <= now``) and not leased:
        take each one's lease for ``holder`` until ``now + ttl`` and make it next due at
        ``now + every``, in one transaction (not part of the protocol).

        Concurrent claimers skip each other's locked rows (``FOR UPDATE SKIP LOCKED``):
        they never wait, and never get the same pair. Pass ``holder`` to
        ``SyncEngine(holder=...)`` so the run re-acquires the claimed lease; a worker
        that dies leaves the pair to be claimed again once its lease expires and it
        is due again.

        Raises:
            ValidationError: ``limit`` is below 1 or ``now`` is naive.
        """
        _aware(now, "claim_due_pairs")
        if limit < 1:
            raise ValidationError(f"claim_due_pairs: limit must be >= 1, got {limit}")
        with self._lease_transaction("claim due pairs") as conn:
            return leases.claim_due(conn, holder, now=now, ttl=ttl, limit=limit, every=every)

    # -- journal ----------------------------------------------------------------------

    def record(self, entry: JournalEntry) -> None:
        """Append an entry to the error journal (S6)."""
        with self._transaction("record a journal entry") as conn:
            conn.execute(
                "INSERT INTO severa_ext_state_journal (time, pair_id, data) VALUES (%s, %s, %s)",
                (entry.time, entry.pair_id, dump_entry(entry)),
            )

    def journal(
        self,
        *,
        pair_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[JournalEntry]:
        """Journal entries, oldest first (the last ``limit`` of them), by pair and time.

        Raises:
            ValidationError: ``limit`` is negative or ``since`` is naive.
        """
        if limit is not None and limit < 0:
            raise ValidationError(f"journal: limit must not be negative, got {limit}")
        if since is not None:
            _aware(since, "journal")
        with self._conn("read the journal") as conn:
            found = rows.journal(conn, pair_id=pair_id, since=since, limit=limit)
        return [load_entry(data, where=self._where) for data in found]

    def close(self) -> None:
        """Close the pool's connections (idempotent); later calls raise ``StateError``."""
        if self._closed:
            return
        self._closed = True
        self._pool.close()


def _column(side: Side, operation: str) -> str:
    if side not in _SIDES:
        raise ValidationError(f"{operation}: side must be 'a' or 'b', got {side!r}")
    return f"{side}_id"


def _aware(value: datetime, operation: str) -> None:
    if value.tzinfo is None:
        raise ValidationError(f"{operation}: times must be timezone-aware, got {value!r}")
