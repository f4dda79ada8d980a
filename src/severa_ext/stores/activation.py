"""Sync activations in a SQL database: :class:`SQLActivationStore` (SQLAlchemy Core).

One row per user whose calendar sync is on (S1, S2, S10), in
``severa_ext_activations``. ``put`` replaces the row of the user (an update, or an
insert when there is none; a concurrent first insert is retried as an update), so
two requests turning sync on at once leave one of them, never an error.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from severa_ext.errors import StoreError, ValidationError
from severa_ext.stores._sql import from_row, to_row, translated
from severa_ext.stores.schema import SQLStore, activations
from severa_ext.sync.activation import Activation

__all__ = ["SQLActivationStore"]

_NAME = "SQLActivationStore"
_ROUNDS = 3


class SQLActivationStore(SQLStore):
    """An :class:`~severa_ext.sync.activation.ActivationStore` in ``severa_ext_activations``.

    Made with the host's engine (:class:`~severa_ext.stores.schema.SQLStore`).
    """

    def get(self, user_id: str) -> Activation | None:
        """The user's activation, if sync is on."""
        query = sa.select(activations).where(activations.c.user_id == user_id)
        with translated(_NAME), self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else from_row(row, Activation, store=_NAME)

    def put(self, activation: Activation) -> None:
        """Record that sync is on (replacing the user's earlier activation).

        Raises:
            ValidationError: ``activation`` is not an ``Activation``.
            StoreError: the database failed.
        """
        if not isinstance(activation, Activation):
            raise ValidationError(f"SQLActivationStore.put needs an Activation, got {activation!r}")
        values = to_row(activation)
        for _ in range(_ROUNDS):
            try:
                with self._engine.begin() as conn:
                    self._upsert(conn, values)
                return
            except IntegrityError:
                continue  # another request inserted the user first: update its row
            except sa.exc.SQLAlchemyError:
                with translated(_NAME):
                    raise
        raise StoreError(f"{_NAME}: the activation of {activation.user_id!r} keeps changing")

    @staticmethod
    def _upsert(conn: sa.Connection, values: dict[str, object]) -> None:
        updated = conn.execute(
            activations.update().where(activations.c.user_id == values["user_id"]).values(values)
        )
        if updated.rowcount == 0:
            conn.execute(activations.insert().values(values))

    def remove(self, user_id: str) -> None:
        """Record that sync is off (a no-op if it was off)."""
        with translated(_NAME), self._engine.begin() as conn:
            conn.execute(activations.delete().where(activations.c.user_id == user_id))

    def active(self, *, after: str | None = None, limit: int | None = None) -> list[Activation]:
        """The users whose sync is on, ordered by ``user_id``, after ``after`` (keyset paging).

        Raises:
            ValidationError: ``limit`` is negative.
            StoreError: the database failed.
        """
        if limit is not None and limit < 0:
            raise ValidationError(f"SQLActivationStore.active: limit must be >= 0, got {limit}")
        query = sa.select(activations).order_by(activations.c.user_id)
        if after is not None:
            query = query.where(activations.c.user_id > after)
        if limit is not None:
            query = query.limit(limit)
        with translated(_NAME), self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [from_row(row, Activation, store=_NAME) for row in rows]
