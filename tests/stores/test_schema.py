"""The SQL stores' schema: create_all, the recorded version, Alembic's stamp, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from severa_ext.errors import StoreError, ValidationError
from severa_ext.extranet.audit import AuditEvent
from severa_ext.stores.activation import SQLActivationStore
from severa_ext.stores.audit import SQLAuditLog
from severa_ext.stores.schema import (
    COMPONENT,
    SCHEMA_VERSION,
    check_schema,
    create_all,
    metadata,
    schema_version,
    stamp,
)

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def bare_engine(database_url):
    engine = sa.create_engine(database_url)
    yield engine
    engine.dispose()


def _set_version(engine, version):
    with engine.begin() as conn:
        conn.execute(
            schema_version.update()
            .where(schema_version.c.component == COMPONENT)
            .values(version=version)
        )


def test_create_all_makes_every_table_and_records_the_version(bare_engine):
    create_all(bare_engine)
    create_all(bare_engine)  # idempotent
    names = set(sa.inspect(bare_engine).get_table_names())
    assert set(metadata.tables) <= names
    with bare_engine.connect() as conn:
        rows = conn.execute(sa.select(schema_version)).all()
    assert [tuple(r) for r in rows] == [(COMPONENT, SCHEMA_VERSION)]
    check_schema(bare_engine)


def test_stores_refuse_tables_never_created(bare_engine):
    with pytest.raises(StoreError, match=r"not created: call severa_ext\.stores"):
        SQLAuditLog(bare_engine)


def test_stores_refuse_unstamped_tables(bare_engine):
    metadata.create_all(bare_engine)  # e.g. an Alembic migration that forgot stamp()
    with pytest.raises(StoreError, match=r"stamp\(op.get_bind\(\)\)"):
        SQLActivationStore(bare_engine)


def test_stamp_in_the_hosts_migration(bare_engine):
    with bare_engine.begin() as conn:  # what an Alembic migration does
        metadata.create_all(conn)
        stamp(conn)
    log = SQLAuditLog(bare_engine)
    log.append(AuditEvent(actor="u", at=NOW, project_id="p", contact_id="c", kind="share"))
    assert len(log) == 1


@pytest.mark.parametrize(
    ("version", "advice"),
    [(SCHEMA_VERSION + 1, "upgrade severa-ext"), (SCHEMA_VERSION - 1, "no migration")],
)
def test_other_schema_versions_are_refused(bare_engine, version, advice):
    create_all(bare_engine)
    _set_version(bare_engine, version)
    with pytest.raises(StoreError, match=advice):
        SQLAuditLog(bare_engine)
    with pytest.raises(StoreError, match=f"schema version {version}"):
        create_all(bare_engine)
    with bare_engine.connect() as conn:
        assert conn.execute(sa.select(schema_version.c.version)).scalar() == version


def test_database_errors_become_store_errors_without_parameters(engine):
    log = SQLAuditLog(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE severa_ext_audit_events"))
    secret = "detail-that-must-not-leak"
    with pytest.raises(StoreError, match="SQLAuditLog: the database failed") as caught:
        log.append(
            AuditEvent(actor="u", at=NOW, project_id="p", contact_id="c", kind="x", detail=secret)
        )
    assert secret not in str(caught.value)
    assert secret not in str(caught.value.__cause__)
    assert "INSERT" not in str(caught.value)


def test_naive_times_are_refused(engine):
    with pytest.raises(sa.exc.StatementError) as caught, engine.begin() as conn:
        conn.execute(
            sa.insert(metadata.tables["severa_ext_activations"]).values(
                user_id="u", mailbox="m", server_kind="graph", activated_at=datetime(2026, 1, 1)
            )
        )
    assert isinstance(caught.value.orig, ValidationError)


def test_times_read_back_in_utc_to_the_microsecond(engine):
    table = metadata.tables["severa_ext_activations"]
    at = datetime(2026, 3, 29, 5, 30, 0, 654321, tzinfo=ZoneInfo("Europe/Helsinki"))
    with engine.begin() as conn:
        conn.execute(
            table.insert().values(user_id="u", mailbox="m", server_kind="graph", activated_at=at)
        )
        read = conn.execute(sa.select(table.c.activated_at)).scalar_one()
    assert read == at
    assert read.tzinfo is UTC


def test_a_corrupt_row_is_a_store_error(engine):
    store = SQLActivationStore(engine)
    with engine.begin() as conn:
        conn.execute(
            metadata.tables["severa_ext_activations"]
            .insert()
            .values(user_id="u", mailbox="m", server_kind="carrier-pigeon", activated_at=NOW)
        )
    with pytest.raises(StoreError, match="SQLActivationStore: a stored Activation is not valid"):
        store.get("u")
