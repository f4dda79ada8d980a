"""The SQL of the PostgreSQL state store's entries, cursors and journal.

Entries are rows as :func:`~severa_ext.sync._sqlite_codec.link_row` makes them. A
step's puts go to the server as one array per column and are upserted by a single
``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE`` that leaves unchanged
rows alone (``IS DISTINCT FROM``): one round trip per step, whatever its size, and
a no-change step writes no row. Bulk lookups send their keys as one array
(``= ANY``) per chunk. Arrays go in psycopg's binary format (``%b``): a text-format
array of 1,000 JSON bases costs ~120 ms to quote and parse, a binary one ~0.5 ms.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from psycopg import Connection

from severa_ext.sync._sqlite_codec import dump_base, link_row, load_row
from severa_ext.sync.items import CalendarItem, Side
from severa_ext.sync.links import Stored

__all__ = [
    "PAGE",
    "BaseCache",
    "count_delta",
    "delete",
    "journal",
    "load",
    "move_cursors",
    "page",
    "pending",
    "put_arrays",
    "select_by",
    "side_etags",
    "upsert",
]

PAGE = 1000
"""Entries per page of a full scan."""

_CHUNK = 10_000
"""Keys per bulk lookup."""

_CACHED_BASES = 50_000
"""Encoded bases a store remembers (see :class:`BaseCache`)."""

_ROW = "sync_key, a_id, b_id, a_etag, b_etag, pending, quarantined, print, base, extra"
_COLUMNS = tuple(_ROW.split(", "))
_TYPES = ("text",) * 6 + ("smallint",) + ("text",) * 3

_UPSERT = (
    f"INSERT INTO severa_ext_state_links AS l (pair_id, {_ROW}) "  # noqa: S608 - fixed names
    f"SELECT %s, * FROM unnest({', '.join(f'%b::{t}[]' for t in _TYPES)}) "
    "ON CONFLICT (pair_id, sync_key) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in _COLUMNS[1:])
    + f" WHERE ({', '.join(f'l.{n}' for n in _COLUMNS[1:])}) IS DISTINCT FROM "
    f"({', '.join(f'excluded.{n}' for n in _COLUMNS[1:])}) "
    "RETURNING (xmax = 0)"
)
"""Upsert every put; returns one row per inserted or changed row (``true``: inserted)."""


def load(row: Sequence[Any], *, where: str) -> Stored:
    """The entry of a row of the ``_ROW`` columns."""
    return load_row(row, where=where)


class BaseCache:
    """The base each entry was last written with, encoded (:func:`dump_base`): an
    intent and its final link share one base object, which is then encoded once.
    Forgotten all at once when full; :meth:`forget` after a failed step."""

    def __init__(self, size: int = _CACHED_BASES) -> None:
        self._size = size
        self._bases: dict[tuple[str, str], tuple[CalendarItem, tuple[str, str]]] = {}

    def encoded(self, pair_id: str, entry: Stored) -> tuple[str, str] | None:
        """``dump_base(entry.base)``, from the cache when the base object is the same."""
        base = entry.base
        if base is None:
            return None
        key = (pair_id, entry.sync_key)
        known = self._bases.pop(key, None)
        if known is not None and known[0] is base:
            return known[1]
        encoded = dump_base(base)
        if len(self._bases) >= self._size:
            self._bases.clear()
        self._bases[key] = (base, encoded)
        return encoded

    def forget(self) -> None:
        """Drop every cached base."""
        self._bases.clear()


def put_arrays(pair_id: str, puts: Iterable[Stored], cache: BaseCache) -> list[list[Any]] | None:
    """The puts as one list per column (the last put of a key wins); ``None`` if none."""
    latest = {entry.sync_key: entry for entry in puts}
    if not latest:
        return None
    columns: list[list[Any]] = [[] for _ in _COLUMNS]
    for entry in latest.values():
        row = link_row(entry, cache.encoded(pair_id, entry))
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


def delete(conn: Connection[Any], pair_id: str, keys: Sequence[str]) -> int:
    """Delete the entries ``keys``; minus how many there were."""
    cursor = conn.execute(
        "DELETE FROM severa_ext_state_links WHERE pair_id = %s AND sync_key = ANY(%b::text[])",
        (pair_id, list(keys)),
    )
    return -cursor.rowcount


def upsert(conn: Connection[Any], pair_id: str, columns: list[list[Any]]) -> int:
    """Insert or update the rows of ``columns``; how many were new."""
    found = conn.execute(_UPSERT, (pair_id, *columns)).fetchall()
    return sum(1 for (inserted,) in found if inserted)


def count_delta(conn: Connection[Any], pair_id: str, delta: int) -> None:
    """Add ``delta`` to the pair's entry count (registering the pair if new)."""
    conn.execute(
        "INSERT INTO severa_ext_state_pairs AS p (pair_id, n) VALUES (%s, %s) "
        "ON CONFLICT (pair_id) DO UPDATE SET n = p.n + excluded.n",
        (pair_id, delta),
    )


def move_cursors(conn: Connection[Any], pair_id: str, cursors: Mapping[Side, str | None]) -> None:
    """Store each side's new cursor."""
    sides = list(cursors)
    conn.execute(
        "INSERT INTO severa_ext_state_cursors (pair_id, side, cursor) "
        "SELECT %s, * FROM unnest(%b::text[], %b::text[]) "
        "ON CONFLICT (pair_id, side) DO UPDATE SET cursor = excluded.cursor",
        (pair_id, sides, [cursors[side] for side in sides]),
    )


def select_by(
    conn: Connection[Any],
    pair_id: str,
    column: str,
    keys: Iterable[str],
    *,
    select: str = _ROW,
) -> list[tuple[Any, ...]]:
    """Rows ``(column, *select)`` of the entries whose ``column`` is among ``keys``,
    in the order first stored. ``column`` and ``select`` are fixed names."""
    wanted = list(dict.fromkeys(keys))
    found: list[tuple[Any, ...]] = []
    sql = (
        f"SELECT {column}, {select} FROM severa_ext_state_links "  # noqa: S608 - fixed names
        f"WHERE pair_id = %s AND {column} = ANY(%b::text[]) ORDER BY seq"
    )
    for offset in range(0, len(wanted), _CHUNK):
        found.extend(conn.execute(sql, (pair_id, wanted[offset : offset + _CHUNK])).fetchall())
    return found


def side_etags(
    conn: Connection[Any], pair_id: str, column: str, etag: str
) -> list[tuple[Any, ...]]:
    """Rows ``(id, etag)`` of every entry with an id in ``column`` (fixed names)."""
    return conn.execute(
        f"SELECT {column}, {etag} FROM severa_ext_state_links "  # noqa: S608 - fixed names
        f"WHERE pair_id = %s AND {column} IS NOT NULL",
        (pair_id,),
    ).fetchall()


def page(conn: Connection[Any], pair_id: str, *, after: int) -> list[tuple[Any, ...]]:
    """The next :data:`PAGE` rows ``(seq, *_ROW)`` of the pair after ``seq`` ``after``."""
    return conn.execute(
        f"SELECT seq, {_ROW} FROM severa_ext_state_links "  # noqa: S608 - fixed names
        "WHERE pair_id = %s AND seq > %s ORDER BY seq LIMIT %s",
        (pair_id, after, PAGE),
    ).fetchall()


def pending(conn: Connection[Any], pair_id: str) -> list[tuple[Any, ...]]:
    """The rows of the pair's intents, in the order first stored (in the caller's
    transaction).

    A plain index scan of the partial pending-intent index, never a bitmap scan:
    after a large sync the index holds an entry for each settled intent until
    vacuum, and only an index scan marks those dead as it passes (so the next call
    skips them), while a bitmap scan visits their heap rows on every call.
    """
    conn.execute(b"SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off")
    found = conn.execute(
        f"SELECT seq, {_ROW} FROM severa_ext_state_links "  # noqa: S608 - fixed names
        "WHERE pair_id = %s AND pending IS NOT NULL",
        (pair_id,),
    ).fetchall()
    return [row[1:] for row in sorted(found, key=operator.itemgetter(0))]


def journal(
    conn: Connection[Any],
    *,
    pair_id: str | None,
    since: datetime | None,
    limit: int | None,
) -> list[str]:
    """The JSON texts of the journal entries that match, oldest first (the last
    ``limit`` of them)."""
    where = ["(%(pair)s::text IS NULL OR pair_id = %(pair)s)"]
    where.append("(%(since)s::timestamptz IS NULL OR time >= %(since)s)")
    sql = f"SELECT data FROM severa_ext_state_journal WHERE {' AND '.join(where)} ORDER BY id DESC"  # noqa: S608
    if limit is not None:
        sql += " LIMIT %(limit)s"
    found = conn.execute(sql, {"pair": pair_id, "since": since, "limit": limit}).fetchall()
    return [data for (data,) in reversed(found)]
