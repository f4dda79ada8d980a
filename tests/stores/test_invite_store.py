"""InviteStoreContract on the memory store and on SQL (SQLite and PostgreSQL)."""

from __future__ import annotations

import functools

import pytest

from severa_ext.extranet.invites import MemoryInviteStore
from severa_ext.stores.invites import SQLInviteStore
from severa_ext.testing.store_contracts import InviteStoreContract, open_sql


class TestMemoryInviteStore(InviteStoreContract):
    @pytest.fixture
    def store(self):
        return MemoryInviteStore()


class TestSQLInviteStore(InviteStoreContract):
    @pytest.fixture
    def store(self, engine):
        return SQLInviteStore(engine)

    @pytest.fixture
    def reopen(self, database_url):
        return functools.partial(open_sql, SQLInviteStore, database_url)
