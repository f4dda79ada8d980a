"""SQL store fixtures: each SQL test runs on SQLite (a file) and on a real PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from severa_ext.stores.schema import create_all


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A SQLAlchemy URL of an empty database: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'stores.db'}"
    return request.getfixturevalue("postgres_schema").sqlalchemy_url


def _sqlite_wal(dbapi_connection, _record):
    """WAL with synchronous=NORMAL, as the persistence guide advises SQLite hosts."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@pytest.fixture
def engine(database_url):
    """An engine on ``database_url`` with the store tables created."""
    engine = sa.create_engine(database_url)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_wal)
    create_all(engine)
    yield engine
    engine.dispose()
