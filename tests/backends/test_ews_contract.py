"""The EWS backend passes the shared backend contract over real HTTP (S3)."""

from __future__ import annotations

import pytest

from severa_ext.backends.ews import EwsBackend
from severa_ext.testing.contract import BackendContract

pytestmark = pytest.mark.slow


class TestEwsBackendContract(BackendContract):
    """``EwsBackend`` against ``FakeEwsServer`` (batched writes: up to 20 per call)."""

    @pytest.fixture
    def backend(self, ews_server):
        with EwsBackend(
            ews_server.url, "alice@contoso.com", auth=ews_server.auth(), sleep=lambda _: None
        ) as backend:
            yield backend
