"""Credential and session stores: the memory ones and the SQL ones keep one contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("sqlalchemy")

import attrs
import sqlalchemy as sa

from severa_ext.portal.credentials import Credential, MemoryCredentialStore
from severa_ext.portal.sessions import (
    MemorySessionStore,
    SessionStage,
    new_session,
    rotated,
)
from severa_ext.portal.sql import (
    SQLCredentialStore,
    SQLSessionStore,
    create_portal_tables,
    sessions_table,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path):
    made = sa.create_engine(f"sqlite:///{tmp_path / 'portal.sqlite'}")
    create_portal_tables(made)
    yield made
    made.dispose()


@pytest.fixture(params=["memory", "sql"])
def credentials(request, engine):
    return MemoryCredentialStore() if request.param == "memory" else SQLCredentialStore(engine)


@pytest.fixture(params=["memory", "sql"])
def sessions(request, engine):
    return MemorySessionStore() if request.param == "memory" else SQLSessionStore(engine)


def _credential(contact_id="k1", email="anna@example.com", digest="$argon2id$x"):
    return Credential(contact_id=contact_id, email=email, password_hash=digest, set_at=T0)


def test_a_credential_is_found_by_its_address_and_replaced(credentials):
    assert credentials.by_email("anna@example.com") is None
    credentials.put(_credential())
    assert credentials.by_email("anna@example.com") == _credential()
    credentials.put(_credential(email="anna@new.example.com", digest="$argon2id$y"))
    assert credentials.by_email("anna@example.com") is None  # one per contact
    assert credentials.by_email("anna@new.example.com").password_hash == "$argon2id$y"
    credentials.put(_credential(contact_id="k2", email="anna@new.example.com"))
    assert credentials.by_email("anna@new.example.com").contact_id == "k2"  # one per address
    credentials.remove("k2")
    assert credentials.by_email("anna@new.example.com") is None


def test_the_hash_is_not_in_the_repr():
    assert "argon2" not in repr(_credential())


def test_a_session_round_trips_and_ends(sessions):
    session = new_session(T0, language="sv")
    sessions.put(session)
    assert sessions.get(session.id) == session
    signed = rotated(session, T0 + timedelta(minutes=1), stage=SessionStage.SIGNED_IN)
    signed = attrs.evolve(signed, contact_id="k1", email="anna@example.com")
    sessions.put(signed)
    sessions.put(attrs.evolve(signed, last_seen=T0 + timedelta(minutes=2)))
    assert sessions.get(signed.id).last_seen == T0 + timedelta(minutes=2)
    assert sessions.get(signed.id).stage is SessionStage.SIGNED_IN
    sessions.delete(session.id)
    assert sessions.get(session.id) is None
    assert sessions.get(signed.id) is not None
    assert sessions.get("never issued") is None


def test_the_sql_store_never_holds_the_cookie_value(engine):
    store = SQLSessionStore(engine)
    session = new_session(T0)
    store.put(session)
    with engine.connect() as conn:
        rows = [tuple(map(str, row)) for row in conn.execute(sa.select(sessions_table))]
    assert rows
    assert not any(session.id in value for row in rows for value in row)


def test_idle_sessions_are_purged(sessions):
    store = sessions
    old, fresh = new_session(T0), new_session(T0 + timedelta(hours=1))
    store.put(old)
    store.put(fresh)
    assert store.purge(T0 + timedelta(minutes=30)) == 1
    assert store.get(old.id) is None
    assert store.get(fresh.id) == fresh
