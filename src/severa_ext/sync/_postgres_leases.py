"""Leases of the PostgreSQL state store: rows with a holder, an expiry and a fencing token.

A lease is a row of ``severa_ext_state_leases``, never a session-level advisory lock,
so it survives a connection pooler handing each transaction to another server
connection. Taking it is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` (the
row's current holder and expiry are checked under its row lock, so two workers
racing for a pair never both win); each takeover by another holder adds one to the
pair's ``token``. A released lease keeps its row (holder ``NULL``), so the token only
ever grows. :func:`fence` checks holder and token inside a durable step's own
transaction and keeps the row share-locked until that transaction commits: a
takeover waits for the step, and a step after a takeover is refused.

Workers of an organisation claim due pairs with :func:`claim_due`: ``SELECT ... FOR
UPDATE SKIP LOCKED`` over the pairs whose ``due`` time has come and whose lease is
free, so concurrent claimers never wait on or take each other's pairs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg import Connection

from severa_ext.errors import LeaseHeld
from severa_ext.sync.state import Lease

__all__ = ["acquire", "claim_due", "fence", "release", "renew", "schedule"]

_ACQUIRE = """
INSERT INTO severa_ext_state_leases AS l (pair_id, holder, expires, token)
VALUES (%(pair)s, %(holder)s, %(expires)s, 1)
ON CONFLICT (pair_id) DO UPDATE SET
    holder = excluded.holder,
    expires = excluded.expires,
    token = CASE WHEN l.holder = excluded.holder THEN l.token ELSE l.token + 1 END
WHERE l.holder IS NULL OR l.holder = %(holder)s OR l.holder = %(replacing)s
    OR l.expires <= %(now)s
RETURNING token
"""

_CLAIM = """
WITH due AS (
    SELECT p.pair_id FROM severa_ext_state_pairs p
    WHERE p.due <= %(now)s AND NOT EXISTS (
        SELECT 1 FROM severa_ext_state_leases l
        WHERE l.pair_id = p.pair_id AND l.holder IS NOT NULL AND l.expires > %(now)s
    )
    ORDER BY p.due, p.pair_id
    LIMIT %(limit)s
    FOR UPDATE OF p SKIP LOCKED
), claimed AS (
    INSERT INTO severa_ext_state_leases AS l (pair_id, holder, expires, token)
    SELECT pair_id, %(holder)s, %(expires)s, 1 FROM due
    ON CONFLICT (pair_id) DO UPDATE SET
        holder = excluded.holder,
        expires = excluded.expires,
        token = CASE WHEN l.holder = excluded.holder THEN l.token ELSE l.token + 1 END
    WHERE l.holder IS NULL OR l.holder = excluded.holder OR l.expires <= %(now)s
    RETURNING pair_id, token
), moved AS (
    UPDATE severa_ext_state_pairs p SET due = %(next)s
    FROM claimed WHERE p.pair_id = claimed.pair_id
)
SELECT pair_id, token FROM claimed ORDER BY pair_id
"""


def _held(conn: Connection[Any], pair_id: str) -> LeaseHeld:
    """The :class:`LeaseHeld` naming the pair's current holder (if any)."""
    row = conn.execute(
        "SELECT holder, expires FROM severa_ext_state_leases WHERE pair_id = %s", (pair_id,)
    ).fetchone()
    if row is None or row[0] is None:
        return LeaseHeld(pair_id)
    return LeaseHeld(pair_id, row[0], expires=row[1])


def acquire(
    conn: Connection[Any],
    pair_id: str,
    holder: str,
    *,
    now: datetime,
    ttl: timedelta,
    replacing: str | None,
) -> Lease:
    """Take the pair's lease in the caller's transaction, or raise ``LeaseHeld``."""
    expires = now + ttl
    params = {
        "pair": pair_id,
        "holder": holder,
        "expires": expires,
        "replacing": replacing,
        "now": now,
    }
    row = conn.execute(_ACQUIRE, params).fetchone()
    if row is None:
        raise _held(conn, pair_id)
    return Lease(pair_id, holder, expires, token=int(row[0]))


def _token_clause(lease: Lease) -> tuple[str, tuple[Any, ...]]:
    if lease.token is None:
        return "", ()
    return " AND token = %s", (lease.token,)


def renew(conn: Connection[Any], lease: Lease, *, now: datetime, ttl: timedelta) -> Lease:
    """Extend ``lease`` while its holder (and token) still hold the pair."""
    expires = now + ttl
    clause, extra = _token_clause(lease)
    row = conn.execute(
        "UPDATE severa_ext_state_leases SET expires = %s "  # noqa: S608 - fixed clause
        f"WHERE pair_id = %s AND holder = %s{clause} RETURNING token",
        (expires, lease.pair_id, lease.holder, *extra),
    ).fetchone()
    if row is None:
        raise _held(conn, lease.pair_id)
    return Lease(lease.pair_id, lease.holder, expires, token=int(row[0]))


def fence(conn: Connection[Any], lease: Lease) -> None:
    """Refuse the caller's transaction unless ``lease`` still holds its pair; the
    lease row stays share-locked until that transaction ends."""
    row = conn.execute(
        "SELECT holder, token, expires FROM severa_ext_state_leases WHERE pair_id = %s FOR SHARE",
        (lease.pair_id,),
    ).fetchone()
    if row is None or row[0] is None:
        raise LeaseHeld(lease.pair_id)
    holder, token, expires = row
    if holder != lease.holder or (lease.token is not None and token != lease.token):
        raise LeaseHeld(lease.pair_id, holder, expires=expires)


def release(conn: Connection[Any], lease: Lease) -> None:
    """Give the lease back (its row stays, so the token keeps growing); a no-op when
    another holder took the pair over meanwhile."""
    clause, extra = _token_clause(lease)
    conn.execute(
        "UPDATE severa_ext_state_leases SET holder = NULL "  # noqa: S608 - fixed clause
        f"WHERE pair_id = %s AND holder = %s{clause}",
        (lease.pair_id, lease.holder, *extra),
    )


def schedule(conn: Connection[Any], pair_id: str, due: datetime | None) -> None:
    """Make the pair due at ``due`` (``None``: never claimed by :func:`claim_due`)."""
    conn.execute(
        "INSERT INTO severa_ext_state_pairs (pair_id, due) VALUES (%s, %s) "
        "ON CONFLICT (pair_id) DO UPDATE SET due = excluded.due",
        (pair_id, due),
    )


def claim_due(
    conn: Connection[Any],
    holder: str,
    *,
    now: datetime,
    ttl: timedelta,
    limit: int,
    every: timedelta,
) -> list[Lease]:
    """Take the leases of up to ``limit`` due pairs with free leases, skipping pairs
    another claimer has locked; each claimed pair is next due at ``now + every``."""
    params = {
        "holder": holder,
        "now": now,
        "expires": now + ttl,
        "next": now + every,
        "limit": limit,
    }
    rows = conn.execute(_CLAIM, params).fetchall()
    return [Lease(pair_id, holder, now + ttl, token=int(token)) for pair_id, token in rows]
