"""Extranet invite records in a SQL database: :class:`SQLInviteStore` (SQLAlchemy Core).

One row per invite in ``severa_ext_invites`` (a salted hash, never the password).
Every change is a compare-and-swap on the record's version,
``UPDATE ... WHERE id = ? AND version = ?``: two logins verifying the same password
at once (threads or processes, any database) cannot both use it
(:func:`~severa_ext.extranet.invites.verify_stored` retries on the fresh record), and
a revocation racing a login either revokes the open record or finds it used, never
both. ``add`` stores the new record and supersedes the share's open ones in one
transaction. ``list_open`` filters in SQL on indexed columns (the login by address,
X9, looks records up by ``email``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from severa_ext.errors import InviteConflict, InviteNotFound, StoreError, ValidationError
from severa_ext.extranet.invites import InviteRecord, RevokeReason
from severa_ext.extranet.shares import check_next_version
from severa_ext.stores._sql import from_row, to_row, translated
from severa_ext.stores.schema import SQLStore, invites

__all__ = ["SQLInviteStore"]

_NAME = "SQLInviteStore"
_ROUNDS = 8
"""Compare-and-swap attempts on one record before a revocation gives up."""


def _open_at(now: datetime) -> sa.ColumnElement[bool]:
    """The SQL of ``InviteRecord.is_open(now)``."""
    return sa.and_(
        invites.c.revoked_at.is_(None),
        invites.c.used_at.is_(None),
        invites.c.failed_attempts < invites.c.max_attempts,
        invites.c.expires_at > now,
    )


def _oldest_first(records: list[InviteRecord]) -> tuple[InviteRecord, ...]:
    return tuple(sorted(records, key=lambda r: (r.issued_at, r.id)))


def _select(conn: sa.Connection, where: sa.ColumnElement[bool]) -> list[InviteRecord]:
    found = conn.execute(sa.select(invites).where(where)).mappings().all()
    return [from_row(row, InviteRecord, store=_NAME) for row in found]


def _swap(conn: sa.Connection, record: InviteRecord, expected_version: int) -> bool:
    """Write ``record`` over the stored one if that is still at ``expected_version``."""
    updated = conn.execute(
        invites.update()
        .where(invites.c.id == record.id)
        .where(invites.c.version == expected_version)
        .values(to_row(record))
    )
    return updated.rowcount == 1


def _revoke_in(
    conn: sa.Connection, where: sa.ColumnElement[bool], reason: RevokeReason, now: datetime
) -> tuple[InviteRecord, ...]:
    """Revoke every record matching ``where`` that is open at ``now``; return them."""
    revoked = []
    for candidate in _select(conn, sa.and_(where, _open_at(now))):
        record: InviteRecord | None = candidate
        for _ in range(_ROUNDS):
            if record is None or not record.is_open(now):
                break  # used, locked or revoked by someone else meanwhile
            updated = record.revoked(reason, now)
            if _swap(conn, updated, record.version):
                revoked.append(updated)
                break
            fresh = _select(conn, invites.c.id == record.id)
            record = fresh[0] if fresh else None
        else:
            raise StoreError(f"{_NAME}: invite {candidate.id!r} keeps changing; try again")
    return _oldest_first(revoked)


class SQLInviteStore(SQLStore):
    """An :class:`~severa_ext.extranet.invites.InviteStore` in ``severa_ext_invites``.

    Made with the host's engine (:class:`~severa_ext.stores.schema.SQLStore`).
    """

    def add(self, record: InviteRecord) -> tuple[InviteRecord, ...]:
        """Store a new record; the share's records open at ``record.issued_at`` become
        revoked (``SUPERSEDED``), in the same transaction. Returns those.

        Raises:
            ValidationError: not an ``InviteRecord``, or a record with that id exists.
            StoreError: the database failed.
        """
        if not isinstance(record, InviteRecord):
            raise ValidationError(f"SQLInviteStore.add needs an InviteRecord, got {record!r}")
        same_share = sa.and_(
            invites.c.project_id == record.project_id,
            invites.c.contact_id == record.contact_id,
            invites.c.id != record.id,
        )
        with translated(_NAME):
            try:
                with self._engine.begin() as conn:
                    conn.execute(invites.insert().values(to_row(record)))
                    return _revoke_in(conn, same_share, RevokeReason.SUPERSEDED, record.issued_at)
            except IntegrityError:
                raise ValidationError(
                    f"an invite with id {record.id!r} is already stored"
                ) from None

    def get(self, invite_id: str) -> InviteRecord:
        """The record with ``invite_id``.

        Raises:
            InviteNotFound: no such record.
        """
        with translated(_NAME), self._engine.connect() as conn:
            found = _select(conn, invites.c.id == invite_id)
        if not found:
            raise InviteNotFound(invite_id)
        return found[0]

    def save(self, record: InviteRecord, *, expected_version: int) -> None:
        """Replace the stored record of ``record.id`` if it is still at ``expected_version``.

        Raises:
            InviteConflict: another request changed it first; nothing was written.
            InviteNotFound: no record with that id was ever added.
            ValidationError: not an ``InviteRecord``, or not ``expected_version + 1``.
            StoreError: the database failed.
        """
        if not isinstance(record, InviteRecord):
            raise ValidationError(f"SQLInviteStore.save needs an InviteRecord, got {record!r}")
        check_next_version(record.version, expected_version, what=f"invite {record.id!r}")
        with translated(_NAME), self._engine.begin() as conn:
            if _swap(conn, record, expected_version):
                return
            found = conn.execute(
                sa.select(invites.c.version).where(invites.c.id == record.id)
            ).scalar()
        if found is None:
            raise InviteNotFound(record.id)
        raise InviteConflict(
            record.id, expected_version=expected_version, actual_version=int(found)
        )

    def revoke_share(
        self, project_id: str, contact_id: str, *, reason: RevokeReason, now: datetime
    ) -> tuple[InviteRecord, ...]:
        """Revoke the share's records that are open at ``now``; return them revoked."""
        where = sa.and_(invites.c.project_id == project_id, invites.c.contact_id == contact_id)
        with translated(_NAME), self._engine.begin() as conn:
            return _revoke_in(conn, where, RevokeReason(reason), now)

    def revoke_contact(
        self, contact_id: str, *, reason: RevokeReason, now: datetime
    ) -> tuple[InviteRecord, ...]:
        """Revoke the contact's records (any project) open at ``now``; return them."""
        with translated(_NAME), self._engine.begin() as conn:
            return _revoke_in(conn, invites.c.contact_id == contact_id, RevokeReason(reason), now)

    def list_open(
        self,
        now: datetime,
        *,
        project_id: str | None = None,
        contact_id: str | None = None,
        email: str | None = None,
    ) -> tuple[InviteRecord, ...]:
        """Records open at ``now`` matching every filter given, oldest first
        (by ``issued_at``, then ``id``)."""
        where = [_open_at(now)]
        if project_id is not None:
            where.append(invites.c.project_id == project_id)
        if contact_id is not None:
            where.append(invites.c.contact_id == contact_id)
        if email is not None:
            where.append(invites.c.email == email)
        with translated(_NAME), self._engine.connect() as conn:
            return _oldest_first(_select(conn, sa.and_(*where)))

    def __len__(self) -> int:
        with translated(_NAME), self._engine.connect() as conn:
            found = conn.execute(sa.select(sa.func.count()).select_from(invites))
            return int(found.scalar_one())
