"""pytest fixtures of a throw-away PostgreSQL server (loaded by ``severa_ext.testing.plugin``).

``postgres_server`` starts one cluster per test session (so one per xdist worker:
each has its own temp folder and socket, nothing clashes) and ``postgres_schema``
gives each test an empty schema in it. Where no PostgreSQL can be started, tests that
ask for them are skipped with the reason, except under CI (``CI`` set to ``true``,
``1`` or ``yes``), where they fail: a CI run must not pass by skipping its database
tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from severa_ext.testing.postgres_server import PostgresSchema, PostgresServer

__all__ = ["postgres_schema", "postgres_server", "skip_or_fail"]


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the test with ``reason``, or fail it under CI (``CI=true``).

    Args:
        reason: what is missing and how to get it.
    """
    if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI needs this: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running throw-away PostgreSQL server for the whole session (Unix socket only).

    See :class:`~severa_ext.testing.postgres_server.PostgresServer`: ``dsn`` reaches
    its test database, ``create_schema()`` makes an empty schema. Stopped and deleted
    at the end of the session. Skips (fails under CI) where no server can start.
    """
    from severa_ext.testing.postgres_server import PostgresNotAvailable, PostgresServer

    try:
        server = PostgresServer.start()
    except PostgresNotAvailable as exc:
        skip_or_fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_schema(postgres_server: PostgresServer) -> Iterator[PostgresSchema]:
    """An empty schema for one test: ``dsn`` and ``sqlalchemy_url`` put new tables in it.

    Dropped, with everything in it, after the test.
    """
    schema = postgres_server.create_schema()
    try:
        yield schema
    finally:
        postgres_server.drop_schema(schema)
