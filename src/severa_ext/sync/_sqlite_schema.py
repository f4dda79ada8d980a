"""The SQLite state store's schema: ordered migrations, applied in one transaction.

Each migration is the SQL that takes the schema from version ``n - 1`` to ``n``; the
``schema_version`` table holds the version a file is at. Never edit a released
migration: append a new one.
"""

from __future__ import annotations

__all__ = ["BACKFILL_PRINTS", "CURRENT_VERSION", "MIGRATIONS", "PRINT_INDEX"]

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
    (
        3,
        "link fields in columns, the base as JSON, the S3 print index",
        """
        CREATE TABLE links_v3 (
            pair_id TEXT NOT NULL,
            sync_key TEXT NOT NULL,
            a_id TEXT,
            b_id TEXT,
            a_etag TEXT,
            b_etag TEXT,
            pending TEXT,
            quarantined INTEGER NOT NULL DEFAULT 0,
            print TEXT,
            base TEXT,
            extra TEXT,
            PRIMARY KEY (pair_id, sync_key)
        );
        INSERT INTO links_v3 (
            rowid, pair_id, sync_key, a_id, b_id, a_etag, b_etag, pending, quarantined,
            print, base, extra
        )
            SELECT rowid, pair_id, sync_key, a_id, b_id,
                json_extract(data, '$.a_etag'), json_extract(data, '$.b_etag'), pending,
                coalesce(json_extract(data, '$.quarantined'), 0), NULL,
                json_extract(data, '$.base'),
                nullif(json_remove(data, '$.sync_key', '$.a_id', '$.b_id', '$.a_etag',
                    '$.b_etag', '$.pending', '$.quarantined', '$.base'), '{}')
            FROM links ORDER BY rowid;
        DROP TABLE links;
        ALTER TABLE links_v3 RENAME TO links;
        CREATE INDEX links_by_a_id ON links (pair_id, a_id) WHERE a_id IS NOT NULL;
        CREATE INDEX links_by_b_id ON links (pair_id, b_id) WHERE b_id IS NOT NULL;
        CREATE INDEX links_pending ON links (pair_id) WHERE pending IS NOT NULL;
        """,
    ),
    (
        4,
        "S3 prints at the one content precision (whole seconds, severa_ext.sync.content)",
        """
        UPDATE links SET print = NULL;
        """,
    ),
)
"""``(version, what it does, SQL)`` in order.

Version 3 moves each link's fields out of one JSON document into columns (the base
stays JSON, other fields go to ``extra``); the S3 prints of the migrated bases are
filled in by the store in the same transaction (:data:`BACKFILL_PRINTS`).
Version 4 recomputes every print at the one content precision (seconds, not
microseconds). The index on prints is not part of the schema: the store
creates it (:data:`PRINT_INDEX`) the first time it looks a print up.

``link_counts`` is kept by the writer in the same transaction as the links (per-row
triggers cost more than the whole insert).
"""

BACKFILL_PRINTS = 4
"""The migration after which the store computes the ``print`` of every link with a
base (a digest SQL cannot compute: normalised title, instants in UTC to the second)."""

PRINT_INDEX = (
    "CREATE INDEX IF NOT EXISTS links_by_print ON links (pair_id, print) WHERE print IS NOT NULL"
)
"""The S3 print index, made on first use: prints are digests, so keeping the index
while a pair's first sync inserts its links would touch a random index page per link
(a third of that sync's SQLite time); built once from the finished table it is one
sort. Every later write keeps it."""

CURRENT_VERSION = MIGRATIONS[-1][0]
"""The schema version this release writes."""
