"""The portal's credentials and sessions in the host's SQL database (SQLAlchemy Core).

Two tables in their own :data:`portal_metadata` (add it to the host's Alembic
``target_metadata`` beside :data:`severa_ext.stores.schema.metadata`, or call
:func:`create_portal_tables`): ``severa_ext_portal_credentials`` (one Argon2id hash per
contact, looked up by the normalised address) and ``severa_ext_portal_sessions`` (keyed
by the SHA-256 of the session id: the cookie value itself is never stored). Database
errors become :class:`~severa_ext.errors.StoreError`, never with the bound values.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa

from severa_ext.portal.credentials import Credential
from severa_ext.portal.sessions import PortalSession, SessionStage
from severa_ext.stores._sql import translated
from severa_ext.stores.schema import UTCDateTime

__all__ = [
    "SQLCredentialStore",
    "SQLSessionStore",
    "create_portal_tables",
    "credentials_table",
    "portal_metadata",
    "sessions_table",
]

portal_metadata = sa.MetaData(
    naming_convention={"ix": "ix_%(table_name)s_%(column_0_N_name)s", "pk": "pk_%(table_name)s"}
)
"""The portal's tables (apart from the SDK's, so a host without the portal has none)."""

credentials_table = sa.Table(
    "severa_ext_portal_credentials",
    portal_metadata,
    sa.Column("contact_id", sa.String(255), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(512), nullable=False),
    sa.Column("set_at", UTCDateTime, nullable=False),
)
"""One password hash per contact."""

sessions_table = sa.Table(
    "severa_ext_portal_sessions",
    portal_metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("csrf_token", sa.String(128), nullable=False),
    sa.Column("stage", sa.String(16), nullable=False),
    sa.Column("contact_id", sa.String(255)),
    sa.Column("email", sa.String(320)),
    sa.Column("language", sa.String(8)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False, index=True),
)
"""Server-side sessions, keyed by the SHA-256 of their id."""


def create_portal_tables(engine: sa.Engine) -> None:
    """Create the portal's tables where they are missing."""
    with translated("portal tables"):
        portal_metadata.create_all(engine)


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class SQLCredentialStore:
    """A :class:`~severa_ext.portal.credentials.CredentialStore` in SQL."""

    _NAME = "SQLCredentialStore"

    def __init__(self, engine: sa.Engine) -> None:
        """Use the host's engine (the tables must exist)."""
        self._engine = engine

    def __repr__(self) -> str:
        return f"SQLCredentialStore({self._engine.url.render_as_string(hide_password=True)!r})"

    def by_email(self, email: str) -> Credential | None:
        """The credential of the normalised ``email``, or ``None``."""
        table = credentials_table
        with translated(self._NAME), self._engine.connect() as conn:
            row = conn.execute(sa.select(table).where(table.c.email == email)).mappings().first()
        return None if row is None else Credential(**dict(row))

    def put(self, credential: Credential) -> None:
        """Store ``credential``, replacing the contact's (and the address's) earlier one."""
        table = credentials_table
        with translated(self._NAME), self._engine.begin() as conn:
            conn.execute(
                table.delete().where(
                    (table.c.contact_id == credential.contact_id)
                    | (table.c.email == credential.email)
                )
            )
            conn.execute(
                table.insert().values(
                    contact_id=credential.contact_id,
                    email=credential.email,
                    password_hash=credential.password_hash,
                    set_at=credential.set_at,
                )
            )

    def remove(self, contact_id: str) -> None:
        """Forget the contact's credential."""
        table = credentials_table
        with translated(self._NAME), self._engine.begin() as conn:
            conn.execute(table.delete().where(table.c.contact_id == contact_id))


class SQLSessionStore:
    """A :class:`~severa_ext.portal.sessions.SessionStore` in SQL."""

    _NAME = "SQLSessionStore"

    def __init__(self, engine: sa.Engine) -> None:
        """Use the host's engine (the tables must exist)."""
        self._engine = engine

    def __repr__(self) -> str:
        return f"SQLSessionStore({self._engine.url.render_as_string(hide_password=True)!r})"

    def get(self, session_id: str) -> PortalSession | None:
        """The session with this cookie value, or ``None``."""
        table = sessions_table
        with translated(self._NAME), self._engine.connect() as conn:
            row = (
                conn.execute(sa.select(table).where(table.c.key == _key(session_id)))
                .mappings()
                .first()
            )
        if row is None:
            return None
        values = dict(row)
        del values["key"]
        values["stage"] = SessionStage(values["stage"])
        return PortalSession(id=session_id, **values)

    def put(self, session: PortalSession) -> None:
        """Store or replace ``session``."""
        table = sessions_table
        values = {
            "csrf_token": session.csrf_token,
            "stage": session.stage.value,
            "contact_id": session.contact_id,
            "email": session.email,
            "language": session.language,
            "created_at": session.created_at,
            "last_seen": session.last_seen,
        }
        key = _key(session.id)
        with translated(self._NAME), self._engine.begin() as conn:
            updated = conn.execute(table.update().where(table.c.key == key).values(values))
            if updated.rowcount == 0:
                conn.execute(table.insert().values(key=key, **values))

    def delete(self, session_id: str) -> None:
        """Forget the session."""
        table = sessions_table
        with translated(self._NAME), self._engine.begin() as conn:
            conn.execute(table.delete().where(table.c.key == _key(session_id)))

    def purge(self, last_seen_before: datetime) -> int:
        """Delete sessions unused since before ``last_seen_before``; return how many.

        Run it from a periodic job with ``now - idle_timeout``: an expired session is
        refused anyway, this only keeps the table small.
        """
        table = sessions_table
        with translated(self._NAME), self._engine.begin() as conn:
            deleted = conn.execute(table.delete().where(table.c.last_seen < last_seen_before))
        return int(deleted.rowcount)
