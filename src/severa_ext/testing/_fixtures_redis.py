"""pytest fixture of a throw-away Redis server (loaded by ``severa_ext.testing.plugin``).

Where ``redis-server`` cannot be started, tests that ask for it are skipped with the
reason, except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from severa_ext.testing._fixtures_postgres import skip_or_fail

if TYPE_CHECKING:
    from severa_ext.testing.redis_server import RedisServer

__all__ = ["redis_server"]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A running throw-away ``redis-server`` on a Unix socket, for the whole session.

    See :class:`~severa_ext.testing.redis_server.RedisServer` (``socket_path``,
    ``url(db)``, ``kombu_url(db)``). Stopped and deleted at the end of the session.
    """
    from severa_ext.testing.redis_server import RedisNotAvailable, RedisServer

    try:
        server = RedisServer.start()
    except RedisNotAvailable as exc:
        skip_or_fail(str(exc))
    try:
        yield server
    finally:
        server.stop()
