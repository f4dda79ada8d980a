"""ActivationStoreContract on the memory store and on SQL (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from severa_ext.stores.activation import SQLActivationStore
from severa_ext.sync.activation import MemoryActivationStore
from severa_ext.testing.store_contracts import ActivationStoreContract


class TestMemoryActivationStore(ActivationStoreContract):
    @pytest.fixture
    def store(self):
        return MemoryActivationStore()


class TestSQLActivationStore(ActivationStoreContract):
    @pytest.fixture
    def store(self, engine):
        return SQLActivationStore(engine)
