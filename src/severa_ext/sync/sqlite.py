"""Sync state in an embedded SQLite file: the durable :class:`~severa_ext.sync.state.StateStore`.

One file holds any number of sync pairs. It runs in WAL mode with
``synchronous=NORMAL``, so readers never block the writer and a committed step
survives a crash of the process. Every :meth:`SQLiteStateStore.apply` is one
``BEGIN IMMEDIATE`` transaction: after a crash the file holds all of a step or none
of it. Leases are rows written under ``BEGIN IMMEDIATE`` too, so two threads or two
processes racing for one pair never both win (two runs never interleave).

A link's ids, etags and flags are columns; its base is JSON made by a cattrs
converter, and any other :class:`~severa_ext.sync.state.Link` field goes to an
``extra`` JSON column (a new field with a default needs no migration).
``links_by_ids``, ``links_by_keys`` and ``links_by_prints`` (the S3 print of the base)
go through indexes in chunks below SQLite's variable limit, and ``count`` reads a per-pair
counter kept in the same transaction, so a sync that changed nothing never scans
the table.

The schema has a ``schema_version`` table and ordered migrations, applied when a file
is opened. A file written by a newer release is refused with
:class:`~severa_ext.errors.StateError` and left untouched; so is a file that is not a
state store. No ``sqlite3`` exception escapes: every one becomes a ``StateError``
naming the file.

Example:
    >>> from severa_ext.sync.state import Link, StateChange
    >>> store = SQLiteStateStore(":memory:")
    >>> store.apply("alice", StateChange(put=[Link("k1", a_id="A1", b_id="B1")]))
    >>> store.links_by_ids("alice", "a", ["A1", "A2"])["A1"].b_id
    'B1'
    >>> store.close()
"""

from __future__ import annotations

import logging
import operator
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from itertools import compress
from typing import Any

from severa_ext.errors import LeaseHeld, StateError, ValidationError
from severa_ext.sync._sqlite_codec import (
    LinkRow,
    dump_base,
    dump_entry,
    link_row,
    load_entry,
    load_row,
    utc_key,
)
from severa_ext.sync._sqlite_schema import (
    BACKFILL_PRINTS,
    CURRENT_VERSION,
    MIGRATIONS,
    PRINT_INDEX,
)
from severa_ext.sync.items import CalendarItem, Side
from severa_ext.sync.journal import JournalEntry
from severa_ext.sync.links import Intent, Link, Stored
from severa_ext.sync.state import Lease, StateChange

__all__ = ["SQLiteStateStore"]

logger = logging.getLogger(__name__)

_CHUNK = 500
"""Ids per bulk lookup: well below SQLite's variable limit (999 in old builds)."""

_PAGE = 1000
"""Links per page of a full scan."""

_ID_COLUMN: dict[str, str] = {"a": "a_id", "b": "b_id"}


def _id_column(side: Side, operation: str) -> str:
    """The id column of ``side``.

    Raises:
        ValidationError: ``side`` is not ``"a"`` or ``"b"`` (naming ``operation``).
    """
    column = _ID_COLUMN.get(side)
    if column is None:
        raise ValidationError(f"{operation}: side must be 'a' or 'b', got {side!r}")
    return column


_ROW = "sync_key, a_id, b_id, a_etag, b_etag, pending, quarantined, print, base, extra"
"""The columns a link is loaded from, in :func:`~severa_ext.sync._sqlite_codec.load_row`
order."""

_WRITTEN_ROWS = 2_000
"""Rows a store remembers having written (forgotten all at once when full): enough
for a durable step's intents, whose final links then update them without reading
them back (a larger step reads them back in bulk). It was 50,000 rows: about 22 MiB
more at the peak of a 100,000-item first sync, and no time saved."""

_INSERT_NEW = (
    f"INSERT INTO links (pair_id, {_ROW}) "  # noqa: S608 - fixed column names
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (pair_id, sync_key) DO NOTHING"
)
"""New links are inserted, and an insert leaves a stored key alone: a known link's row
is updated in the columns that changed only (SQLite then leaves the indexes of the
other columns alone: settling an intent touches the ``b_id``, ``pending`` and
``print`` indexes, not ``a_id``'s)."""

_COLUMNS: tuple[str, ...] = tuple(_ROW.split(", "))
"""``_ROW`` as names, to build the ``SET`` list of an update."""

_CHECKPOINT_PAGES = 10_000
"""WAL pages between automatic checkpoints (SQLite's default is 1,000)."""

_WAL_LIMIT = 64 * 2**20
"""Bytes the WAL file is truncated back to after a checkpoint."""

_CACHE_KIB = 2048
"""The page cache per connection, in KiB (SQLite's default; 8 MiB bought no time on
a 100,000-item initial sync and cost 7 MiB of peak memory)."""


_OURS = (
    "schema_version",
    "links",
    "cursors",
    "leases",
    "journal",
    "link_counts",
    "sqlite_",
)
"""Prefixes of the tables, indexes and SQLite's own objects a state store file holds."""


def _lease_time(text: str) -> datetime:
    """A stored lease expiry (``utc_key`` text) as an aware datetime."""
    return datetime.fromisoformat(text)


def _statements(script: str) -> Iterator[str]:
    """Split a migration script into complete statements (triggers included)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statement = buffer.strip()
            buffer = ""
            if statement:
                yield statement
    if buffer.strip():
        raise StateError(f"incomplete statement in a migration: {buffer.strip()!r}")


class SQLiteStateStore:
    """A :class:`~severa_ext.sync.state.StateStore` in one SQLite file.

    One instance may be shared by threads (calls are serialised); several
    instances, in one process or many, may open the same file.

    Args:
        path: the database file (created if missing; its directory must exist), or
            ``":memory:"`` for a private in-memory store.
        timeout: seconds to wait for another writer before giving up (then a
            :class:`~severa_ext.errors.StateError`).

    Raises:
        StateError: the file cannot be opened, is not a state store, is corrupt, or
            was written by a newer release (its schema version is above ours).
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self._path = os.fspath(path)
        self._lock = threading.RLock()
        self._closed = False
        self._print_index = False
        self._nested = False
        # Rows this store wrote, valid while no other connection writes (see apply).
        self._written: dict[tuple[str, str], LinkRow] = {}
        # The base each entry key was last written with, encoded: an intent and its
        # final link share one base object, which is then encoded once.
        self._bases: dict[tuple[str, str], tuple[CalendarItem, tuple[str, str]]] = {}
        self._written_version: int | None = None
        try:
            self._conn = sqlite3.connect(
                self._path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StateError(f"state store {self._path}: cannot open: {exc}") from exc
        try:
            self._setup()
        except BaseException:
            self._conn.close()
            self._closed = True
            raise

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"SQLiteStateStore({self._path!r}, {state})"

    def __enter__(self) -> SQLiteStateStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    # -- plumbing -----------------------------------------------------------------

    @contextmanager
    def _guard(self, operation: str) -> Iterator[sqlite3.Connection]:
        """Serialise access and turn ``sqlite3`` errors into ``StateError``."""
        with self._lock:
            if self._closed:
                raise StateError(f"state store {self._path}: {operation} after close()")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise StateError(
                    f"state store {self._path}: {operation} failed: {type(exc).__name__}: {exc}"
                ) from exc

    @contextmanager
    def _write(self, operation: str) -> Iterator[sqlite3.Connection]:
        """One write transaction (a savepoint inside :meth:`transaction`)."""
        with self._guard(operation) as conn:
            nested = conn.in_transaction
            conn.execute("SAVEPOINT write" if nested else "BEGIN IMMEDIATE")
            self._nested = nested
            try:
                yield conn
            except BaseException:
                if nested:
                    conn.execute("ROLLBACK TO write")
                    conn.execute("RELEASE write")
                elif conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("RELEASE write" if nested else "COMMIT")

    def _version(self, conn: sqlite3.Connection) -> int:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        if exists is None:
            return 0
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0]) if row[0] is not None else 0

    def _check_version(self, version: int) -> None:
        if version > CURRENT_VERSION:
            raise StateError(
                f"state store {self._path} has schema version {version}, newer than "
                f"this release's {CURRENT_VERSION}; upgrade severa_ext to use it"
            )

    def _refuse_foreign(self, conn: sqlite3.Connection) -> None:
        """Refuse a database that is not ours (a host's own file), before touching it:
        no WAL switch, no tables."""
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        foreign = sorted(name for name in names if not name.startswith(_OURS))
        if foreign or (names and "schema_version" not in names):
            shown = ", ".join(foreign[:5]) or ", ".join(sorted(names)[:5])
            raise StateError(
                f"state store {self._path}: the file is another application's database "
                f"(it holds {shown}); give the sync state a file of its own"
            )

    def _setup(self) -> None:
        with self._guard("open") as conn:
            self._refuse_foreign(conn)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA temp_store=MEMORY")
            # Speed without weakening durability (every commit still reaches the WAL):
            # checkpoint every ~40 MB instead of every 4 MB (a sync's index pages are
            # then copied to the file once per checkpoint, not ten times) and cap the
            # idle WAL file at that size. The page cache stays small (_CACHE_KIB):
            # a sync's keys are time-ordered, so its writes touch few pages.
            conn.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT}")
            conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
            version = self._version(conn)
        self._check_version(version)
        if version == CURRENT_VERSION:
            return  # up to date: opening takes no write lock
        with self._write("migrate") as conn:
            version = self._version(conn)  # again, under the write lock
            self._check_version(version)
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            for number, what, script in MIGRATIONS:
                if number <= version:
                    continue
                logger.info("migrating state store %s to version %d: %s", self._path, number, what)
                for statement in _statements(script):
                    conn.execute(statement)
                if number == BACKFILL_PRINTS:
                    self._backfill_prints(conn)
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))

    def _backfill_prints(self, conn: sqlite3.Connection) -> None:
        """Fill in the S3 print of every link with a base (intents and parked items
        have none, as in ``link_row``)."""
        last = 0
        while True:
            rows = conn.execute(
                f"SELECT rowid, {_ROW} FROM links "  # noqa: S608 - fixed column names
                "WHERE rowid > ? AND base IS NOT NULL AND pending IS NULL AND quarantined = 0 "
                "ORDER BY rowid LIMIT ?",
                (last, _PAGE),
            ).fetchall()
            updates = []
            for rowid, *row in rows:
                link = self._load(row)
                if isinstance(link, Link) and link.base is not None:
                    updates.append((dump_base(link.base)[1], rowid))
            conn.executemany("UPDATE links SET print = ? WHERE rowid = ?", updates)
            if len(rows) < _PAGE:
                return
            last = rows[-1][0]

    @property
    def schema_version(self) -> int:
        """The schema version of the open file."""
        with self._guard("read the schema version") as conn:
            return int(conn.execute("SELECT max(version) FROM schema_version").fetchone()[0])

    def _load(self, row: Any) -> Stored:
        return load_row(row, where=f"state store {self._path}")

    # -- links --------------------------------------------------------------------

    def apply(self, pair_id: str, change: StateChange) -> None:
        """Apply ``change`` in one transaction: all of it, or none of it on error.

        Raises:
            StateError: the write failed (nothing of it was stored).
        """
        deletes = [(pair_id, key) for key in change.delete]
        # The last put of a key wins, as if the puts were applied one by one.
        cursors = [(pair_id, side, cursor) for side, cursor in change.cursors.items()]
        with self._lock:  # the remembered rows change with the transaction, never apart
            puts = {link.sync_key: self._row(pair_id, link) for link in change.put}
            try:
                with self._write("apply") as conn:
                    if change.lease is not None:
                        self._fence(conn, change.lease)
                    written = self._written_rows(conn)
                    self._apply(
                        conn, pair_id, deletes=deletes, puts=puts, cursors=cursors, written=written
                    )
                    if written is not None:
                        if len(written) + len(puts) > _WRITTEN_ROWS:
                            written.clear()
                        for key, row in puts.items():
                            written[(pair_id, key)] = row
            except BaseException:
                self._written.clear()  # the step may not have been stored: forget it all
                self._bases.clear()
                raise

    def _row(self, pair_id: str, entry: Stored) -> LinkRow:
        """``entry`` as a row, its base encoded once per entry key and base object."""
        base = entry.base
        if base is None:
            return link_row(entry)
        key = (pair_id, entry.sync_key)
        known = self._bases.pop(key, None)
        if known is not None and known[0] is base:
            return link_row(entry, known[1])  # the final link after its intent
        encoded = dump_base(base)
        if len(self._bases) >= _WRITTEN_ROWS:
            self._bases.clear()
        self._bases[key] = (base, encoded)
        return link_row(entry, encoded)

    def _written_rows(self, conn: sqlite3.Connection) -> dict[tuple[str, str], LinkRow] | None:
        """The rows this store wrote, while no other connection has written since
        (``PRAGMA data_version``); ``None`` inside an outer transaction."""
        if self._nested:
            return None
        (version,) = conn.execute("PRAGMA data_version").fetchone()
        if version != self._written_version:
            self._written.clear()
            self._written_version = version
        return self._written

    def _apply(
        self,
        conn: sqlite3.Connection,
        pair_id: str,
        *,
        deletes: list[tuple[str, str]],
        puts: dict[str, LinkRow],
        cursors: Sequence[tuple[str, str, str | None]],
        written: dict[tuple[str, str], LinkRow] | None,
    ) -> None:
        delta = 0
        if deletes:
            before = conn.total_changes
            conn.executemany("DELETE FROM links WHERE pair_id = ? AND sync_key = ?", deletes)
            delta -= conn.total_changes - before
            if written is not None:
                for _, key in deletes:
                    written.pop((pair_id, key), None)
        if puts:
            # A row this store wrote is known without reading it back (a final link
            # after its intent); the others are inserted unless their key is stored.
            stored: dict[str, tuple[Any, ...]] = {}
            unknown: list[str] = []
            for key in puts:
                row = written.get((pair_id, key)) if written is not None else None
                if row is None:
                    unknown.append(key)
                else:
                    stored[key] = row
            inserted = self._insert_new(conn, pair_id, [puts[key] for key in unknown])
            delta += inserted
            if inserted < len(unknown):
                # Some keys were stored: read those rows back (a row just inserted
                # reads back equal to its put and is not written again).
                stored.update(self._stored_rows(conn, pair_id, unknown))
            self._update_changed(conn, pair_id, puts, stored)
        if delta:
            conn.execute(
                "INSERT INTO link_counts (pair_id, n) VALUES (?, ?) "
                "ON CONFLICT (pair_id) DO UPDATE SET n = n + excluded.n",
                (pair_id, delta),
            )
        if cursors:
            conn.executemany(
                "INSERT INTO cursors (pair_id, side, cursor) VALUES (?, ?, ?) "
                "ON CONFLICT (pair_id, side) DO UPDATE SET cursor = excluded.cursor",
                cursors,
            )

    @staticmethod
    def _insert_new(conn: sqlite3.Connection, pair_id: str, rows: list[LinkRow]) -> int:
        """Insert those of ``rows`` whose key the pair does not have yet (a new entry's
        intent, the usual case: no read first); how many were inserted."""
        before = conn.total_changes
        conn.executemany(_INSERT_NEW, [(pair_id, *row) for row in rows])
        return conn.total_changes - before

    @staticmethod
    def _stored_rows(
        conn: sqlite3.Connection, pair_id: str, keys: list[str]
    ) -> dict[str, tuple[Any, ...]]:
        """The stored rows (``_ROW`` columns) of those of ``keys`` the pair has."""
        found: dict[str, tuple[Any, ...]] = {}
        for offset in range(0, len(keys), _CHUNK):
            chunk = keys[offset : offset + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                f"SELECT {_ROW} FROM links "  # noqa: S608 - placeholders only
                f"WHERE pair_id = ? AND sync_key IN ({marks})",
                (pair_id, *chunk),
            ):
                found[row[0]] = row
        return found

    @staticmethod
    def _update_changed(
        conn: sqlite3.Connection,
        pair_id: str,
        puts: dict[str, LinkRow],
        stored: dict[str, tuple[Any, ...]],
    ) -> None:
        """Update each stored row in the columns whose value changed (grouped into one
        statement per set of columns; an unchanged row is not written at all)."""
        groups: dict[tuple[bool, ...], list[tuple[Any, ...]]] = {}
        for key, old in stored.items():
            new = puts[key]
            changed = tuple(map(operator.ne, new, old))  # the sync keys are equal
            if any(changed):
                groups.setdefault(changed, []).append((*compress(new, changed), pair_id, key))
        for changed, rows in groups.items():
            assignments = ", ".join(f"{name} = ?" for name in compress(_COLUMNS, changed))
            conn.executemany(
                f"UPDATE links SET {assignments} "  # noqa: S608 - fixed column names
                "WHERE pair_id = ? AND sync_key = ?",
                rows,
            )

    def link(self, pair_id: str, sync_key: str) -> Stored | None:
        """The entry with ``sync_key``, if any (not part of the protocol)."""
        with self._guard("read a link") as conn:
            row = conn.execute(
                f"SELECT {_ROW} FROM links WHERE pair_id = ? AND sync_key = ?",  # noqa: S608
                (pair_id, sync_key),
            ).fetchone()
        return self._load(row) if row is not None else None

    def _bulk(
        self,
        operation: str,
        column: str,
        pair_id: str,
        keys: Iterable[str],
        *,
        select: str = _ROW,
    ) -> list[Any]:
        wanted = list(dict.fromkeys(keys))
        rows: list[Any] = []
        with self._guard(operation) as conn:
            for offset in range(0, len(wanted), _CHUNK):
                chunk = wanted[offset : offset + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows.extend(
                    conn.execute(
                        f"SELECT {column}, {select} FROM links "  # noqa: S608 - fixed column names
                        f"WHERE pair_id = ? AND {column} IN ({marks}) ORDER BY rowid",
                        (pair_id, *chunk),
                    )
                )
        return rows

    def links_by_ids(self, pair_id: str, side: Side, ids: Iterable[str]) -> dict[str, Stored]:
        """Links whose id on ``side`` is among ``ids``, keyed by that id (indexed)."""
        column = _id_column(side, "links_by_ids")
        rows = self._bulk("look links up by id", column, pair_id, ids)
        return {row[0]: self._load(row[1:]) for row in rows}

    def etags_by_ids(self, pair_id: str, side: Side, ids: Iterable[str]) -> dict[str, str | None]:
        """The etag stored for each of ``ids`` a link owns on ``side`` (indexed; no
        base is read)."""
        column = _id_column(side, "etags_by_ids")
        rows = self._bulk("look etags up by id", column, pair_id, ids, select=f"{side}_etag")
        return dict(rows)

    def etags(self, pair_id: str, side: Side) -> dict[str, str | None]:
        """Every id an entry owns on ``side`` and the etag stored for it (one query;
        no base is read)."""
        column = _id_column(side, "etags")
        with self._guard("read the etags") as conn:
            rows = conn.execute(
                f"SELECT {column}, {side}_etag FROM links "  # noqa: S608 - fixed column names
                f"WHERE pair_id = ? AND {column} IS NOT NULL",
                (pair_id,),
            ).fetchall()
        return dict(rows)

    def links_by_keys(self, pair_id: str, sync_keys: Iterable[str]) -> dict[str, Stored]:
        """Links among ``sync_keys``, keyed by sync key (indexed)."""
        rows = self._bulk("look links up by sync key", "sync_key", pair_id, sync_keys)
        return {row[0]: self._load(row[1:]) for row in rows}

    def links_by_prints(self, pair_id: str, prints: Iterable[str]) -> dict[str, list[Link]]:
        """Links whose base has one of ``prints`` (S3), grouped by print (indexed)."""
        self._ensure_print_index()
        rows = self._bulk("look links up by print", "print", pair_id, prints)
        found: dict[str, list[Link]] = {}
        for row in rows:
            link = self._load(row[1:])
            if isinstance(link, Link):  # only links carry a print
                found.setdefault(row[0], []).append(link)
        return found

    def _ensure_print_index(self) -> None:
        """Create the S3 print index on first use (see ``PRINT_INDEX``); a store that
        cannot write answers by a scan instead."""
        if self._print_index:
            return
        try:
            with self._write("create the print index") as conn:
                conn.execute(PRINT_INDEX)
        except StateError as exc:
            logger.warning("state store %s: prints are looked up by a scan: %s", self._path, exc)
            return
        self._print_index = True

    def links(self, pair_id: str) -> Iterator[Stored]:
        """Every link of the pair, page by page (no lock is held between pages)."""
        last = 0
        while True:
            with self._guard("list links") as conn:
                rows = conn.execute(
                    f"SELECT rowid, {_ROW} FROM links "  # noqa: S608 - fixed column names
                    "WHERE pair_id = ? AND rowid > ? ORDER BY rowid LIMIT ?",
                    (pair_id, last, _PAGE),
                ).fetchall()
            for row in rows:
                yield self._load(row[1:])
            if len(rows) < _PAGE:
                return
            last = rows[-1][0]

    def intents(self, pair_id: str) -> list[Intent]:
        """The intents still in flight (indexed)."""
        with self._guard("list intents") as conn:
            rows = conn.execute(
                f"SELECT {_ROW} FROM links "  # noqa: S608 - fixed column names
                "WHERE pair_id = ? AND pending IS NOT NULL ORDER BY rowid",
                (pair_id,),
            ).fetchall()
        return [link for row in rows if isinstance(link := self._load(row), Intent)]

    def count(self, pair_id: str) -> int:
        """How many links the pair has (a counter, not a scan)."""
        with self._guard("count links") as conn:
            row = conn.execute("SELECT n FROM link_counts WHERE pair_id = ?", (pair_id,)).fetchone()
        return int(row[0]) if row is not None else 0

    def cursor(self, pair_id: str, side: Side) -> str | None:
        """The stored cursor of ``side``."""
        with self._guard("read a cursor") as conn:
            row = conn.execute(
                "SELECT cursor FROM cursors WHERE pair_id = ? AND side = ?", (pair_id, side)
            ).fetchone()
        return row[0] if row is not None else None

    # -- leases -------------------------------------------------------------------

    def acquire(
        self,
        pair_id: str,
        holder: str,
        *,
        now: datetime,
        ttl: timedelta,
        replacing: str | None = None,
    ) -> Lease:
        """Take the pair's lease (atomically across threads and processes);
        ``replacing``: a holder known dead, whose lease is taken over at once.

        Raises:
            LeaseHeld: another holder's lease has not expired at ``now``.
            StateError: the store cannot be written.
        """
        lease = Lease(pair_id, holder, now + ttl)
        with self._write("acquire a lease") as conn:
            row = conn.execute(
                "SELECT holder, expires FROM leases WHERE pair_id = ?", (pair_id,)
            ).fetchone()
            if row is not None and row[0] not in (holder, replacing) and row[1] > utc_key(now):
                raise LeaseHeld(pair_id, row[0], expires=_lease_time(row[1]))
            conn.execute(
                "INSERT INTO leases (pair_id, holder, expires) VALUES (?, ?, ?) "
                "ON CONFLICT (pair_id) DO UPDATE SET holder = excluded.holder, "
                "expires = excluded.expires",
                (pair_id, holder, utc_key(lease.expires)),
            )
        if row is not None and row[0] != holder:
            logger.info("took over the expired lease of pair %s from %s", pair_id, row[0])
        return lease

    def renew(self, lease: Lease, *, now: datetime, ttl: timedelta) -> Lease:
        """Extend ``lease`` to ``now + ttl`` while its holder still holds it.

        Raises:
            LeaseHeld: the lease was taken over or released meanwhile.
        """
        renewed = Lease(lease.pair_id, lease.holder, now + ttl)
        with self._write("renew a lease") as conn:
            self._fence(conn, lease)
            conn.execute(
                "UPDATE leases SET expires = ? WHERE pair_id = ? AND holder = ?",
                (utc_key(renewed.expires), lease.pair_id, lease.holder),
            )
        return renewed

    @staticmethod
    def _fence(conn: sqlite3.Connection, lease: Lease) -> None:
        """Refuse to go on unless ``lease``'s holder holds the pair (in the caller's
        transaction, so the check and the write are one)."""
        row = conn.execute(
            "SELECT holder, expires FROM leases WHERE pair_id = ?", (lease.pair_id,)
        ).fetchone()
        if row is None or row[0] != lease.holder:
            holder, expires = (row[0], _lease_time(row[1])) if row is not None else (None, None)
            raise LeaseHeld(lease.pair_id, holder, expires=expires)

    def release(self, lease: Lease) -> None:
        """Give the lease back; a no-op if another holder took it over meanwhile."""
        with self._write("release a lease") as conn:
            conn.execute(
                "DELETE FROM leases WHERE pair_id = ? AND holder = ?",
                (lease.pair_id, lease.holder),
            )

    # -- journal ------------------------------------------------------------------

    def record(self, entry: JournalEntry) -> None:
        """Append an entry to the error journal (S6)."""
        with self._write("record a journal entry") as conn:
            conn.execute(
                "INSERT INTO journal (time, pair_id, data) VALUES (?, ?, ?)",
                (utc_key(entry.time), entry.pair_id, dump_entry(entry)),
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
        if since is not None and since.tzinfo is None:
            raise ValidationError("journal: since must be timezone-aware")
        where: list[str] = []
        args: list[Any] = []
        if pair_id is not None:
            where.append("pair_id = ?")
            args.append(pair_id)
        if since is not None:
            where.append("time >= ?")
            args.append(utc_key(since))
        sql = "SELECT data FROM journal"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._guard("read the journal") as conn:
            rows = conn.execute(sql, args).fetchall()
        where_from = f"state store {self._path}"
        return [load_entry(data, where=where_from) for (data,) in reversed(rows)]

    # -- transactions and lifetime --------------------------------------------------

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        with self._guard("begin a read transaction") as conn:
            if conn.in_transaction:
                yield
                return
            conn.execute("BEGIN")
            try:
                yield
            finally:
                conn.commit()  # a no-op if the transaction is already over

    def transaction(self) -> AbstractContextManager[None]:
        """Group several reads (and writes) into one consistent snapshot."""
        return self._snapshot()

    def close(self) -> None:
        """Close the connection (idempotent); later calls raise ``StateError``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._conn.close()
            except sqlite3.Error as exc:  # pragma: no cover - close rarely fails
                raise StateError(f"state store {self._path}: close failed: {exc}") from exc
