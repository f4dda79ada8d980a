"""ShareStoreContract on the memory store and on SQL (SQLite and PostgreSQL)."""

from __future__ import annotations

import functools

import pytest

from severa_ext.extranet.shares import MemoryShareStore
from severa_ext.stores.shares import SQLShareStore
from severa_ext.testing.store_contracts import ShareStoreContract, open_sql


class TestMemoryShareStore(ShareStoreContract):
    @pytest.fixture
    def store(self):
        return MemoryShareStore()


class TestSQLShareStore(ShareStoreContract):
    @pytest.fixture
    def store(self, engine):
        return SQLShareStore(engine)

    @pytest.fixture
    def reopen(self, database_url):
        return functools.partial(open_sql, SQLShareStore, database_url)
