"""pytest fixtures of the graph fakes (loaded by ``severa_ext.testing.plugin``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from severa_ext.testing.graph_server import FakeGraphServer

__all__ = ["graph_server"]


@pytest.fixture
def graph_server() -> Iterator[FakeGraphServer]:
    """A started ``FakeGraphServer`` on 127.0.0.1 with the mailbox ``alice@contoso.com``.

    The mailbox has the alias ``alice@contoso.fi``; add more with
    ``graph_server.add_mailbox(...)`` and get a wired backend (msal app-only auth
    against the fake's token endpoint) with ``graph_server.backend(address)``. At
    teardown the fixture fails the test if the fake itself hit an internal error,
    then stops the server.
    """
    from severa_ext.testing.graph_server import FakeGraphServer

    server = FakeGraphServer().start()
    server.add_mailbox("alice@contoso.com", proxy_addresses=["smtp:alice@contoso.fi"])
    try:
        yield server
        assert not server.errors, f"the fake Graph server failed internally: {server.errors}"
    finally:
        server.stop()
