"""The Extranet audit log in a SQL database: :class:`SQLAuditLog` (SQLAlchemy Core).

Append-only rows of ``severa_ext_audit_events``; each append is its own committed
transaction, and ``seq`` (an autoincrement key) gives the order events are read back
in, oldest first, per project and per contact (both indexed).

Example:
    >>> import sqlalchemy as sa
    >>> from severa_ext.stores.schema import create_all
    >>> engine = sa.create_engine("sqlite://")
    >>> create_all(engine)
    >>> log = SQLAuditLog(engine)
    >>> len(log)
    0
"""

from __future__ import annotations

import sqlalchemy as sa

from severa_ext.errors import ValidationError
from severa_ext.extranet.audit import AuditEvent
from severa_ext.stores._sql import from_row, to_row, translated
from severa_ext.stores.schema import SQLStore, audit_events

__all__ = ["SQLAuditLog"]

_NAME = "SQLAuditLog"
_COLUMNS = [c for c in audit_events.c if c.name != "seq"]


class SQLAuditLog(SQLStore):
    """An :class:`~severa_ext.extranet.audit.AuditLog` in ``severa_ext_audit_events``.

    Made with the host's engine (:class:`~severa_ext.stores.schema.SQLStore`).
    """

    def append(self, event: AuditEvent) -> None:
        """Record one event (committed when this returns).

        Raises:
            ValidationError: ``event`` is not an ``AuditEvent``.
            StoreError: the database failed.
        """
        if not isinstance(event, AuditEvent):
            raise ValidationError(f"SQLAuditLog.append needs an AuditEvent, got {event!r}")
        with translated(_NAME), self._engine.begin() as conn:
            conn.execute(audit_events.insert().values(to_row(event)))

    def _select(self, where: sa.ColumnElement[bool]) -> tuple[AuditEvent, ...]:
        query = sa.select(*_COLUMNS).where(where).order_by(audit_events.c.seq)
        with translated(_NAME), self._engine.connect() as conn:
            found = conn.execute(query).mappings().all()
        return tuple(from_row(row, AuditEvent, store=_NAME) for row in found)

    def for_project(self, project_id: str) -> tuple[AuditEvent, ...]:
        """Events of one project, oldest first."""
        return self._select(audit_events.c.project_id == project_id)

    def for_contact(self, contact_id: str) -> tuple[AuditEvent, ...]:
        """Events of one contact person, oldest first."""
        return self._select(audit_events.c.contact_id == contact_id)

    def __len__(self) -> int:
        with translated(_NAME), self._engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(audit_events)).scalar_one()
            )
