"""The backend contract, run against GraphBackend over real HTTP to the fake (S3, S7)."""

from __future__ import annotations

import pytest

from severa_ext.testing.contract import BackendContract

pytestmark = pytest.mark.slow


class TestGraphBackendContract(BackendContract):
    """Graph keeps every content field, has deltas and batches."""

    @pytest.fixture
    def backend(self, graph_server):
        backend = graph_server.backend("alice@contoso.com", page_size=2)
        yield backend
        backend.close()
