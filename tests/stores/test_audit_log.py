"""AuditLogContract on the memory log and on SQL (SQLite and PostgreSQL)."""

from __future__ import annotations

import functools

import pytest

from severa_ext.extranet.audit import MemoryAuditLog
from severa_ext.stores.audit import SQLAuditLog
from severa_ext.testing.store_contracts import AuditLogContract, open_sql


class TestMemoryAuditLog(AuditLogContract):
    @pytest.fixture
    def store(self):
        return MemoryAuditLog()


class TestSQLAuditLog(AuditLogContract):
    @pytest.fixture
    def store(self, engine):
        return SQLAuditLog(engine)

    @pytest.fixture
    def reopen(self, database_url):
        return functools.partial(open_sql, SQLAuditLog, database_url)
