"""Set-up shared by the Severa tests: a fake with one user and four activity types, a
backend factory wired to it, and the check of every exchange against the published
API description (:class:`~severa_ext.testing._severa_openapi.SpecCheck`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from severa_ext.backends.severa import SeveraBackend, SeveraCredentials
from severa_ext.clock import Clock
from severa_ext.testing._severa_openapi import SpecCheck, find_description
from severa_ext.testing.severa_server import FakeSeveraServer

__all__ = ["EMAIL", "START", "World", "checked_world", "description_or_skip", "world"]

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
EMAIL = "alice@example.com"


def description_or_skip() -> SpecCheck:
    """A spec check; in CI a missing description fails, locally it skips."""
    path = find_description()
    if path is None:
        message = (
            "openapi-subset.yaml not found (Severa's OpenAPI description): "
            "$SEVERA_OPENAPI names a missing file, or the package's copy is gone"
        )
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    return SpecCheck(path)


class World:
    """A started fake with Alice, the types Meeting (default), Personal and Project
    work (Task), and a factory of backends wired to it."""

    def __init__(self, clock: Clock | None = None, *, check: SpecCheck | None = None) -> None:
        self.server = FakeSeveraServer(clock=clock).start()
        self.user = self.server.add_user(EMAIL, first_name="Alice", last_name="Example")
        self.meeting = self.server.add_type("Meeting", is_default=True)
        self.personal = self.server.add_type("Personal", "Personal")
        self.task = self.server.add_type("Project work", "Task")
        self.travel = self.server.add_type("Travel")
        self.check = check
        self.clock = clock
        self.backends: list[SeveraBackend] = []

    def credentials(self) -> SeveraCredentials:
        """The fake's default API client."""
        return SeveraCredentials(self.server.client_id, self.server.client_secret)

    def backend(self, **options: Any) -> SeveraBackend:
        """A ``SeveraBackend`` for Alice over a session the spec check watches."""
        session = requests.Session()
        if self.check is not None:
            self.check.watch(session)
        options.setdefault("user_email", EMAIL)
        options.setdefault("timeout", 10)
        if self.clock is not None:
            options.setdefault("clock", self.clock)
        backend = SeveraBackend(
            self.credentials(), base_url=self.server.base_url, session=session, **options
        )
        self.backends.append(backend)
        return backend

    def close(self) -> None:
        """Close the backends, stop the server, fail on the fake's own errors."""
        for backend in self.backends:
            backend.close()
        self.server.stop()
        assert not self.server.errors, self.server.errors


@contextmanager
def world(clock: Clock | None = None, *, check: SpecCheck | None = None) -> Iterator[World]:
    """A :class:`World`, closed afterwards."""
    made = World(clock, check=check)
    try:
        yield made
    finally:
        made.close()


@contextmanager
def checked_world(clock: Clock | None = None) -> Iterator[World]:
    """A :class:`World` whose traffic is checked against the description; it fails
    when any exchange was off the description."""
    with world(clock, check=description_or_skip()) as made:
        yield made
    assert made.check is not None
    assert made.check.problems == [], made.check.problems
