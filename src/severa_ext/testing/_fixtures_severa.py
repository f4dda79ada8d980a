"""pytest fixtures of the Severa fake (loaded by ``severa_ext.testing.plugin``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from severa_ext.testing.severa_server import FakeSeveraServer

__all__ = ["severa_server"]


@pytest.fixture
def severa_server() -> Iterator[FakeSeveraServer]:
    """A started ``FakeSeveraServer`` on 127.0.0.1 with the user ``alice@example.com``
    (time zone Europe/Helsinki) and the activity types *Meeting* (the default),
    *Personal* (category Personal) and *Project work* (category Task).

    Wire a backend with ``SeveraBackend(SeveraCredentials(severa_server.client_id,
    severa_server.client_secret), user_email="alice@example.com",
    base_url=severa_server.base_url)``. At teardown the fixture fails the test if the
    fake itself hit an internal error, then stops the server.
    """
    from severa_ext.testing.severa_server import FakeSeveraServer

    server = FakeSeveraServer().start()
    server.add_user("alice@example.com", first_name="Alice", last_name="Example")
    server.add_type("Meeting", is_default=True)
    server.add_type("Personal", "Personal")
    server.add_type("Project work", "Task")
    try:
        yield server
        assert not server.errors, f"the fake Severa server failed internally: {server.errors}"
    finally:
        server.stop()
