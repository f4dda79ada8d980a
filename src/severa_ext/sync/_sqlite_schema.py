"""The SQLite state store's schema: ordered migrations, applied in one transaction.

Each migration is the SQL that takes the schema from version ``n - 1`` to ``n``; the
``schema_version`` table holds the version a file is at. Never edit a released
migration: append a new one.
"""

from __future__ import annotations

__all__ = ["CURRENT_VERSION", "MIGRATIONS"]

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "links, cursors, leases and the journal",
        """
        CREATE TABLE links (
            pair_id TEXT NOT NULL,
            sync_key TEXT NOT NULL,
            a_id TEXT,
            b_id TEXT,
            pending TEXT,
            data TEXT NOT NULL,
            PRIMARY KEY (pair_id, sync_key)
        );
        CREATE TABLE cursors (
            pair_id TEXT NOT NULL,
            side TEXT NOT NULL,
            cursor TEXT,
            PRIMARY KEY (pair_id, side)
        );
        CREATE TABLE leases (
            pair_id TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            expires TEXT NOT NULL
        );
        CREATE TABLE journal (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            time TEXT NOT NULL,
            pair_id TEXT NOT NULL,
            data TEXT NOT NULL
        );
        """,
    ),
    (
        2,
        "lookup indexes and per-pair link counts (no scan on a no-change sync)",
        """
        CREATE INDEX links_by_a_id ON links (pair_id, a_id) WHERE a_id IS NOT NULL;
        CREATE INDEX links_by_b_id ON links (pair_id, b_id) WHERE b_id IS NOT NULL;
        CREATE INDEX links_pending ON links (pair_id) WHERE pending IS NOT NULL;
        CREATE INDEX journal_by_pair_time ON journal (pair_id, time);
        CREATE INDEX journal_by_time ON journal (time);
        CREATE TABLE link_counts (
            pair_id TEXT PRIMARY KEY,
            n INTEGER NOT NULL
        );
        INSERT INTO link_counts (pair_id, n)
            SELECT pair_id, count(*) FROM links GROUP BY pair_id;
        """,
    ),
)
"""``(version, what it does, SQL)`` in order.

``link_counts`` is kept by the writer in the same transaction as the links (per-row
triggers cost more than the whole insert).
"""

CURRENT_VERSION = MIGRATIONS[-1][0]
"""The schema version this release writes."""
