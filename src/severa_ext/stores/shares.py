"""Extranet shares in a SQL database: :class:`SQLShareStore` (SQLAlchemy Core).

One row per (project, contact) pair in ``severa_ext_shares``, stopped shares kept
(X8). ``save`` is the optimistic write every Extranet store makes: an ``INSERT``
that fails on the primary key when the caller read no share, else
``UPDATE ... WHERE project_id = ? AND contact_id = ? AND version = ?``; when no row
matched, :class:`~severa_ext.errors.ShareConflict` is raised and nothing is written.
Every read goes to the database (no cache), so a change is seen at once (X7, X8).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from severa_ext.errors import ShareConflict, ValidationError
from severa_ext.extranet.shares import Share, check_next_version
from severa_ext.stores._sql import from_row, to_row, translated
from severa_ext.stores.schema import SQLStore, shares

__all__ = ["SQLShareStore"]

_NAME = "SQLShareStore"


class SQLShareStore(SQLStore):
    """A :class:`~severa_ext.extranet.shares.ShareStore` in ``severa_ext_shares``.

    Made with the host's engine (:class:`~severa_ext.stores.schema.SQLStore`).
    """

    def get(self, project_id: str, contact_id: str) -> Share | None:
        """The share of the pair (stopped ones too), or ``None``."""
        found = self._select(
            (shares.c.project_id == project_id) & (shares.c.contact_id == contact_id)
        )
        return found[0] if found else None

    def save(self, share: Share, *, expected_version: int | None) -> None:
        """Insert or replace the share of ``share.key`` if its version is as expected.

        Args:
            share: the new record, at version ``1`` or ``expected_version + 1``.
            expected_version: the version of the record the caller read (``None``:
                it read no record).

        Raises:
            ShareConflict: another writer got there first; nothing was written.
            ValidationError: ``share`` is not a ``Share``, or not the next version.
            StoreError: the database failed.
        """
        if not isinstance(share, Share):
            raise ValidationError(f"SQLShareStore.save needs a Share, got {share!r}")
        check_next_version(share.version, expected_version, what=f"share {share.key!r}")
        conflict = ShareConflict(
            share.project_id, share.contact_id, expected_version=expected_version
        )
        values = to_row(share)
        with translated(_NAME):
            try:
                with self._engine.begin() as conn:
                    if expected_version is None:
                        conn.execute(shares.insert().values(values))
                        return
                    updated = conn.execute(
                        shares.update()
                        .where(shares.c.project_id == share.project_id)
                        .where(shares.c.contact_id == share.contact_id)
                        .where(shares.c.version == expected_version)
                        .values(values)
                    )
                    if updated.rowcount != 1:
                        raise conflict
            except IntegrityError:  # the pair was shared meanwhile
                raise conflict from None

    def for_contact(self, contact_id: str) -> tuple[Share, ...]:
        """Every share (stopped ones too) of one contact, ordered by project id.

        The order is Python's string order, whatever the database's collation.
        """
        found = self._select(shares.c.contact_id == contact_id)
        return tuple(sorted(found, key=lambda s: s.project_id))

    def for_project(self, project_id: str) -> tuple[Share, ...]:
        """Every share (stopped ones too) of one project, ordered by contact id."""
        found = self._select(shares.c.project_id == project_id)
        return tuple(sorted(found, key=lambda s: s.contact_id))

    def _select(self, where: sa.ColumnElement[bool]) -> list[Share]:
        with translated(_NAME), self._engine.connect() as conn:
            found = conn.execute(sa.select(shares).where(where)).mappings().all()
        return [from_row(row, Share, store=_NAME) for row in found]
