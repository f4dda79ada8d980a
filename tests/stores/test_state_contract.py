"""StateStoreContract on the memory store (the reference). The SQLite store runs it
in ``tests/sync/test_sqlite.py``, the PostgreSQL store in ``tests/sync/test_postgres.py``."""

from __future__ import annotations

import pytest

from severa_ext.sync.state import MemoryStateStore
from severa_ext.testing.state_contract import StateStoreContract


class TestMemoryStateStore(StateStoreContract):
    @pytest.fixture
    def store(self):
        store = MemoryStateStore()
        yield store
        store.close()
