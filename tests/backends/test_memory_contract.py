"""The backend contract for the reference MemoryBackend, in each capability set."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.sync.items import Capabilities
from severa_ext.testing.contract import BackendContract

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


class TestMemoryBackendContract(BackendContract):
    """Delta listings and batches: the defaults."""

    @pytest.fixture
    def backend(self):
        backend = MemoryBackend("contract", clock=FixedClock(NOW))
        yield backend
        backend.close()


class TestMemoryBackendWithoutDeltaContract(BackendContract):
    """Full listings only, one write per batch."""

    supports_delta = False
    supports_batch = False

    @pytest.fixture
    def backend(self):
        capabilities = Capabilities(delta=False, batch_size=1)
        backend = MemoryBackend("contract", capabilities=capabilities, clock=FixedClock(NOW))
        yield backend
        backend.close()


class TestReadOnlyMemoryBackendContract(BackendContract):
    """A read-only source: items come in through the user side (seed), writes refused."""

    read_only = True
    supports_batch = False

    @pytest.fixture
    def backend(self):
        capabilities = Capabilities(delta=True, read_only=True)
        backend = MemoryBackend("contract", capabilities=capabilities, clock=FixedClock(NOW))
        yield backend
        backend.close()

    def seed(self, backend, items):
        from severa_ext.sync.items import new_sync_key

        return [backend.user_create(item.evolve(sync_key=new_sync_key())) for item in items]
