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


@pytest.fixture
def evil() -> Iterator[HostileServer]:
    """Another origin (same host, another port): a test fails if it is asked anything.

    Point foreign links and redirects here; credentials must never reach it.
    """
    with HostileServer() as server:
        yield server
    assert server.requests == [], "credentials went to a foreign origin"
