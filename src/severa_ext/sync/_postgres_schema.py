"""The PostgreSQL state store's schema: ordered migrations and the version table.

Every table is prefixed ``severa_ext_state_`` so that the state can live in the
host's own database (in the schema the connection's ``search_path`` names). Each
migration is the SQL that takes the schema from version ``n - 1`` to ``n``; the
``severa_ext_state_version`` table holds the version the tables are at. Migrations
run in one transaction under a transaction-level advisory lock (released at commit,
so it is safe behind a transaction-mode connection pooler): two workers starting at
once migrate once. Never edit a released migration: append a new one.
"""

from __future__ import annotations

__all__ = ["CURRENT_VERSION", "MIGRATIONS", "MIGRATION_LOCK", "VERSION_TABLE"]

VERSION_TABLE = "severa_ext_state_version"

MIGRATION_LOCK = 0x5E7E_2A57
"""The ``pg_advisory_xact_lock`` key the migrations take (transaction-scoped)."""

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "links, per-pair counts, cursors, leases and the journal",
        """
        CREATE TABLE severa_ext_state_links (
            pair_id text NOT NULL,
            sync_key text NOT NULL,
            seq bigint GENERATED ALWAYS AS IDENTITY,
            a_id text,
            b_id text,
            a_etag text,
            b_etag text,
            pending text,
            quarantined smallint NOT NULL DEFAULT 0,
            print text,
            base text,
            extra text,
            PRIMARY KEY (pair_id, sync_key)
        );
        CREATE INDEX severa_ext_state_links_seq ON severa_ext_state_links (pair_id, seq);
        CREATE INDEX severa_ext_state_links_a_id ON severa_ext_state_links (pair_id, a_id)
            WHERE a_id IS NOT NULL;
        CREATE INDEX severa_ext_state_links_b_id ON severa_ext_state_links (pair_id, b_id)
            WHERE b_id IS NOT NULL;
        CREATE INDEX severa_ext_state_links_print ON severa_ext_state_links (pair_id, print)
            WHERE print IS NOT NULL;
        CREATE INDEX severa_ext_state_links_pending ON severa_ext_state_links (pair_id, seq)
            WHERE pending IS NOT NULL;
        CREATE TABLE severa_ext_state_pairs (
            pair_id text PRIMARY KEY,
            n bigint NOT NULL DEFAULT 0
        );
        CREATE TABLE severa_ext_state_cursors (
            pair_id text NOT NULL,
            side text NOT NULL,
            cursor text,
            PRIMARY KEY (pair_id, side)
        );
        CREATE TABLE severa_ext_state_leases (
            pair_id text PRIMARY KEY,
            holder text NOT NULL,
            expires timestamptz NOT NULL
        );
        CREATE TABLE severa_ext_state_journal (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            time timestamptz NOT NULL,
            pair_id text NOT NULL,
            data text NOT NULL
        );
        CREATE INDEX severa_ext_state_journal_pair ON severa_ext_state_journal (pair_id, time);
        CREATE INDEX severa_ext_state_journal_time ON severa_ext_state_journal (time);
        """,
    ),
    (
        2,
        "fencing tokens (a released lease keeps its row) and pairs due for work",
        """
        ALTER TABLE severa_ext_state_leases ADD COLUMN token bigint NOT NULL DEFAULT 1;
        ALTER TABLE severa_ext_state_leases ALTER COLUMN holder DROP NOT NULL;
        ALTER TABLE severa_ext_state_pairs ADD COLUMN due timestamptz;
        CREATE INDEX severa_ext_state_pairs_due ON severa_ext_state_pairs (due)
            WHERE due IS NOT NULL;
        """,
    ),
)

CURRENT_VERSION = MIGRATIONS[-1][0]
"""The schema version this release writes."""
