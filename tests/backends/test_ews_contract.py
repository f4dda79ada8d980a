"""The EWS backend passes the shared backend contract over real HTTP (S3)."""

from __future__ import annotations

import pytest

from severa_ext.testing.contract import BackendContract

pytestmark = pytest.mark.slow


class TestEwsBackendContract(BackendContract):
    """``EwsBackend`` against ``FakeEwsServer`` (batched writes: up to 20 per call)."""

    @pytest.fixture
    def backend(self, ews_server):
        with ews_server.backend("alice@contoso.com") as backend:
            yield backend
