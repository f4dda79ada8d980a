"""The backend contract over real HTTP: ``SeveraBackend`` against ``FakeSeveraServer``,
every exchange validated against the published API description."""

from __future__ import annotations

from typing import Any

import pytest

from severa_ext.backends.severa import SEVERA_CONTENT_FIELDS
from severa_ext.sync.items import CalendarItem
from severa_ext.testing._severa_world import World, description_or_skip
from severa_ext.testing.contract import BackendContract

pytestmark = pytest.mark.slow


class TestSeveraContract(BackendContract):
    content_fields = SEVERA_CONTENT_FIELDS
    supports_delta = True
    supports_batch = True

    @pytest.fixture
    def world(self):
        made = World(check=description_or_skip())
        yield made
        made.close()
        assert made.check is not None
        assert made.check.problems == []

    @pytest.fixture
    def backend(self, world):
        return world.backend()

    @pytest.fixture(autouse=True)
    def _types(self, world):
        self._world = world

    def sample_item(self, **changes: Any) -> CalendarItem:
        item = super().sample_item(**changes)
        kind = self._world.personal if item.private else self._world.meeting
        return item.evolve(activity_type=kind.guid)
