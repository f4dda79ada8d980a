"""pytest fixtures of the ews fakes (loaded by ``severa_ext.testing.plugin``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from severa_ext.testing.ews_server import FakeEwsServer

__all__ = ["ews_server"]


@pytest.fixture
def ews_server() -> Iterator[FakeEwsServer]:
    """A started ``FakeEwsServer`` with the mailbox ``alice@contoso.com``; stopped after.

    The service account is ``ews_server.username`` with ``ews_server.auth()`` as its
    credentials; add more mailboxes with ``ews_server.add_mailbox``. At teardown the
    fixture fails the test if a fault injected with ``fail_next`` never fired (a
    misspelt operation, a call that never happened); ``clear_faults()`` opts out.
    """
    from severa_ext.testing.ews_server import FakeEwsServer

    with FakeEwsServer() as server:
        server.add_mailbox("alice@contoso.com", aliases=("alice@contoso.fi",))
        yield server
        pending = server.pending_faults
    assert pending == 0, f"{pending} fault(s) injected into ews_server never fired"
