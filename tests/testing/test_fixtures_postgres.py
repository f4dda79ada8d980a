"""The throw-away PostgreSQL server and its fixtures: a real cluster, isolated schemas,
skip locally / fail under CI where no server can start."""

from __future__ import annotations

import stat

import psycopg
import pytest

from severa_ext.testing.postgres_server import (
    PostgresNotAvailable,
    PostgresServer,
    find_bindir,
)


def test_schema_is_empty_and_on_the_search_path(postgres_schema):
    with psycopg.connect(postgres_schema.dsn) as conn:
        assert conn.execute("SELECT current_schema()").fetchone() == (postgres_schema.name,)
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
        rows = conn.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 't'"
        ).fetchall()
    assert rows == [(postgres_schema.name,)]


def test_schemas_are_isolated(postgres_server):
    first = postgres_server.create_schema()
    second = postgres_server.create_schema()
    try:
        with psycopg.connect(first.dsn) as conn:
            conn.execute("CREATE TABLE only_here (x int)")
        with psycopg.connect(second.dsn) as conn:
            found = conn.execute("SELECT to_regclass('only_here')").fetchone()
        assert found == (None,)
    finally:
        postgres_server.drop_schema(first)
        postgres_server.drop_schema(second)
    with psycopg.connect(postgres_server.dsn) as conn:
        names = {
            row[0] for row in conn.execute("SELECT schema_name FROM information_schema.schemata")
        }
    assert first.name not in names
    assert second.name not in names


def test_sqlalchemy_url_reaches_the_schema(postgres_schema):
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_schema.sqlalchemy_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_schema()")).scalar() == (
                postgres_schema.name
            )
    finally:
        engine.dispose()


def test_unix_socket_only_and_private(postgres_server):
    with psycopg.connect(postgres_server.dsn) as conn:
        listen = conn.execute("SHOW listen_addresses").fetchone()
        fsync = conn.execute("SHOW fsync").fetchone()
    assert listen == ("",)
    assert fsync == ("off",)
    mode = stat.S_IMODE(postgres_server.socket_dir.stat().st_mode)
    assert mode & 0o077 == 0


def test_stop_removes_the_cluster_and_the_process():
    server = PostgresServer.start()
    root = server.root
    with psycopg.connect(server.dsn) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    server.stop()
    assert not server.running
    assert not root.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.dsn, connect_timeout=2)


def test_missing_binaries_are_reported(tmp_path):
    with pytest.raises(PostgresNotAvailable, match="initdb"):
        PostgresServer.start(bindir=tmp_path)


def test_bindir_from_the_environment(monkeypatch, tmp_path):
    real = find_bindir()
    assert (real / "initdb").is_file()
    monkeypatch.setenv("SEVERA_EXT_PG_BINDIR", str(real))
    assert find_bindir() == real
    monkeypatch.setenv("SEVERA_EXT_PG_BINDIR", str(tmp_path))
    with pytest.raises(PostgresNotAvailable, match="SEVERA_EXT_PG_BINDIR"):
        find_bindir()


def test_no_server_skips_locally_and_fails_in_ci(pytester, monkeypatch, tmp_path):
    pytester.makepyfile(
        """
        def test_needs_postgres(postgres_schema):
            raise AssertionError("must not run")
        """
    )
    monkeypatch.setenv("SEVERA_EXT_PG_BINDIR", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no PostgreSQL server found*"])
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*CI needs this: no PostgreSQL server found*"])
