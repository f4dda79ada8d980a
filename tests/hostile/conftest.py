"""Fixtures of the hostile-server suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hostile.server import HostileServer


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    """A running :class:`~hostile.server.HostileServer`, stopped after the test."""
    with HostileServer() as server:
        yield server
