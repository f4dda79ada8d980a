"""The tables of the SQL stores: one SQLAlchemy ``MetaData`` a host creates or migrates.

:data:`metadata` holds every table of :mod:`severa_ext.stores` (shares, invites, the
audit log, activations) and ``severa_ext_schema_version``, which records the schema
version the tables are at. A host creates them in one of two ways:

* :func:`create_all` (``CREATE TABLE`` for what is missing, then records the
  version), e.g. at start-up or in a set-up command;
* its own Alembic migrations: add :data:`metadata` to ``target_metadata`` in
  ``env.py`` (``target_metadata = [Base.metadata, severa_ext.stores.schema.metadata]``),
  autogenerate, and call :func:`stamp` with ``op.get_bind()`` at the end of the
  migration that creates the tables.

Every store checks the recorded version when it is made (:func:`check_schema`) and
refuses tables that were never stamped, or that a newer release wrote, with a
:class:`~severa_ext.errors.StoreError` that says what to do.

Times are stored in UTC (``timestamp with time zone`` on PostgreSQL; UTC without an
offset on SQLite and MySQL, microseconds kept) and read back as aware UTC datetimes:
the same instants, whatever offset they were given with. Rights are JSON lists of
their names (the cattrs hooks of :mod:`severa_ext.extranet.rights`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from severa_ext.errors import StoreError, ValidationError
from severa_ext.stores._sql import translated

__all__ = [
    "COMPONENT",
    "SCHEMA_VERSION",
    "SQLStore",
    "UTCDateTime",
    "activations",
    "audit_events",
    "check_schema",
    "create_all",
    "invites",
    "metadata",
    "schema_version",
    "shares",
    "stamp",
]

SCHEMA_VERSION = 1
"""The version of the tables this release reads and writes."""

COMPONENT = "severa_ext.stores"
"""The key of this schema's row in ``severa_ext_schema_version``."""


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime kept in UTC; naive datetimes are refused."""

    #: The generic type this one wraps (per dialect, see :meth:`load_dialect_impl`).
    impl = sa.DateTime
    #: Statements using this type may be cached (it has no per-instance state).
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        """``timestamptz`` on PostgreSQL, ``DATETIME(6)`` on MySQL, else a plain DateTime."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.DateTime(timezone=True))
        if dialect.name in {"mysql", "mariadb"}:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        """The instant in UTC (with its offset only where the column keeps one)."""
        if value is None:
            return None
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise ValidationError(f"a stored time must be an aware datetime, got {value!r}")
        utc = value.astimezone(UTC)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        """An aware UTC datetime."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise StoreError(f"a stored time reads back as {type(value).__name__}, not a datetime")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_ID_TYPE = sa.String(255).with_variant(mysql.VARCHAR(255, collation="utf8mb4_bin"), "mysql")
"""Ids compare exactly: MySQL's default collations ignore case."""


def _id(name: str, **kwargs: Any) -> sa.Column[str]:
    return sa.Column(name, _ID_TYPE, **kwargs)


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)
"""Every table of the SQL stores (constraint names follow one convention, for Alembic)."""

schema_version = sa.Table(
    "severa_ext_schema_version",
    metadata,
    sa.Column("component", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)
"""The schema version the tables are at, one row per component."""

shares = sa.Table(
    "severa_ext_shares",
    metadata,
    _id("project_id", primary_key=True),
    _id("contact_id", primary_key=True),
    sa.Column("rights", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("valid_until", UTCDateTime),
    sa.Column("stopped_at", UTCDateTime),
    _id("created_by", nullable=False),
    sa.Index(None, "contact_id"),
)
"""Shares, one row per (project, contact) pair, stopped ones included (X2, X8)."""

invites = sa.Table(
    "severa_ext_invites",
    metadata,
    _id("id", primary_key=True),
    _id("project_id", nullable=False),
    _id("contact_id", nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("issued_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("kdf", sa.JSON, nullable=False),
    sa.Column("salt", sa.LargeBinary(64), nullable=False),
    sa.Column("hash", sa.LargeBinary(128), nullable=False),
    sa.Column("failed_attempts", sa.Integer, nullable=False),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("used_at", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
    sa.Column("revoked_reason", sa.String(32)),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Index(None, "project_id", "contact_id"),
    sa.Index(None, "contact_id"),
    sa.Index(None, "email"),
)
"""Invite records, salted hashes and never passwords (X6, X9)."""

audit_events = sa.Table(
    "severa_ext_audit_events",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    _id("actor", nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    _id("project_id"),
    _id("contact_id", nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("before_rights", sa.JSON),
    sa.Column("after_rights", sa.JSON),
    sa.Column("share_version", sa.Integer),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index(None, "project_id", "seq"),
    sa.Index(None, "contact_id", "seq"),
)
"""The Extranet audit trail, append-only and ordered by ``seq``."""

activations = sa.Table(
    "severa_ext_activations",
    metadata,
    _id("user_id", primary_key=True),
    sa.Column("mailbox", sa.String(320), nullable=False),
    sa.Column("server_kind", sa.String(16), nullable=False),
    sa.Column("activated_at", UTCDateTime, nullable=False),
)
"""The users whose calendar sync is on (S1, S2, S10)."""


def stamp(connection: sa.Connection) -> None:
    """Record :data:`SCHEMA_VERSION` for the tables, inside the caller's transaction.

    Call it from the Alembic migration that creates the tables
    (``stamp(op.get_bind())``); :func:`create_all` calls it itself.
    """
    current = connection.execute(
        sa.select(schema_version.c.version).where(schema_version.c.component == COMPONENT)
    ).scalar()
    if current is None:
        connection.execute(
            schema_version.insert().values(component=COMPONENT, version=SCHEMA_VERSION)
        )
    else:
        connection.execute(
            schema_version.update()
            .where(schema_version.c.component == COMPONENT)
            .values(version=SCHEMA_VERSION)
        )


def create_all(engine: sa.Engine) -> None:
    """Create the tables that are missing and record the schema version, in one transaction.

    Raises:
        StoreError: the database refused; or it holds the tables at another schema
            version (nothing is changed then).
    """
    with translated("create_all"), engine.begin() as connection:
        metadata.create_all(connection)
        version = _recorded(connection)
        if version is not None and version != SCHEMA_VERSION:
            raise _mismatch(version)
        stamp(connection)


def _recorded(connection: sa.Connection) -> int | None:
    found = connection.execute(
        sa.select(schema_version.c.version).where(schema_version.c.component == COMPONENT)
    ).scalar()
    return None if found is None else int(found)


def _mismatch(version: int) -> StoreError:
    advice = (
        "upgrade severa-ext"
        if version > SCHEMA_VERSION
        else "this release has no migration from it; restore a backup of a matching release"
    )
    return StoreError(
        f"the severa_ext tables are at schema version {version}, this release uses "
        f"{SCHEMA_VERSION}: {advice}"
    )


def check_schema(engine: sa.Engine) -> None:
    """Refuse tables this release cannot use.

    Raises:
        StoreError: the tables were never created (or their migration did not
            :func:`stamp` them), or they are at another schema version.
    """
    with translated("check_schema"), engine.connect() as connection:
        if not sa.inspect(connection).has_table(schema_version.name):
            version = None
        else:
            version = _recorded(connection)
    if version is None:
        raise StoreError(
            "the severa_ext tables are not created: call "
            "severa_ext.stores.schema.create_all(engine), or add "
            "severa_ext.stores.schema.metadata to your Alembic migrations and call "
            "stamp(op.get_bind()) in the one that creates them"
        )
    if version != SCHEMA_VERSION:
        raise _mismatch(version)


class SQLStore:
    """The base of the SQL stores: the host's engine, checked against the schema once.

    Args:
        engine: the host's SQLAlchemy engine; the tables must exist
            (:func:`create_all` or the host's migrations).

    Raises:
        StoreError: the tables are missing or at another schema version.
    """

    def __init__(self, engine: sa.Engine) -> None:
        check_schema(engine)
        self._engine = engine

    def __repr__(self) -> str:
        url = self._engine.url.render_as_string(hide_password=True)
        return f"{type(self).__name__}({url!r})"
