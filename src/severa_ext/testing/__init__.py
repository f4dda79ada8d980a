"""Test support for host applications: pytest fixtures, fake servers, strategies.

Install the ``testing`` extra (``pip install severa-ext[testing]``); the pytest plugin
is registered automatically through the ``pytest11`` entry point, and the hypothesis
strategies through the ``hypothesis`` entry point.

* :class:`BackendContract` (in :mod:`severa_ext.testing.contract`): the backend
  contract test class to subclass for a host's own adapter.
* :class:`SyncHarness`: two sides, a state store, a fixed clock and a sync engine.
* :class:`FaultyBackend` (in :mod:`severa_ext.testing.faults`): any backend with the
  fault injection of the memory backend.
* :class:`FakeSeveraServer` (in :mod:`severa_ext.testing.severa_server`): a fake
  Severa REST API over real HTTP (fixture ``severa_server``).
* :mod:`severa_ext.testing.strategies`: hypothesis strategies.
* :data:`START`: the fakes' clock time (4 May 2026 09:00 UTC).
* :class:`StateStoreContract` (in :mod:`severa_ext.testing.state_contract`) and the
  Extranet / activation store contracts in :mod:`severa_ext.testing.store_contracts`
  (:class:`ShareStoreContract`, :class:`InviteStoreContract`,
  :class:`AuditLogContract`, :class:`ActivationStoreContract`).
* :class:`PostgresServer` and :class:`RedisServer`: throw-away servers for tests
  (also as the ``postgres_server``, ``postgres_schema`` and ``redis_server`` fixtures).

The names here load on first use, so importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from severa_ext._lazy import lazy_exports

if TYPE_CHECKING:
    from severa_ext.testing._fixtures_memory import START, SyncHarness
    from severa_ext.testing.contract import BackendContract
    from severa_ext.testing.faults import FaultyBackend
    from severa_ext.testing.postgres_server import PostgresServer
    from severa_ext.testing.redis_server import RedisServer
    from severa_ext.testing.severa_server import FakeSeveraServer
    from severa_ext.testing.state_contract import StateStoreContract
    from severa_ext.testing.store_contracts import (
        ActivationStoreContract,
        AuditLogContract,
        InviteStoreContract,
        ShareStoreContract,
    )

__all__ = [
    "START",
    "ActivationStoreContract",
    "AuditLogContract",
    "BackendContract",
    "FakeSeveraServer",
    "FaultyBackend",
    "InviteStoreContract",
    "PostgresServer",
    "RedisServer",
    "ShareStoreContract",
    "StateStoreContract",
    "SyncHarness",
]

_LAZY = {
    "START": "severa_ext.testing._fixtures_memory",
    "ActivationStoreContract": "severa_ext.testing.store_contracts",
    "AuditLogContract": "severa_ext.testing.store_contracts",
    "BackendContract": "severa_ext.testing.contract",
    "FakeSeveraServer": "severa_ext.testing.severa_server",
    "FaultyBackend": "severa_ext.testing.faults",
    "InviteStoreContract": "severa_ext.testing.store_contracts",
    "PostgresServer": "severa_ext.testing.postgres_server",
    "RedisServer": "severa_ext.testing.redis_server",
    "ShareStoreContract": "severa_ext.testing.store_contracts",
    "StateStoreContract": "severa_ext.testing.state_contract",
    "SyncHarness": "severa_ext.testing._fixtures_memory",
}


__getattr__, __dir__ = lazy_exports(__name__, __all__, _LAZY)
