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

The names here load on first use, so importing the package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from severa_ext.testing._fixtures_memory import START, SyncHarness
    from severa_ext.testing.contract import BackendContract
    from severa_ext.testing.faults import FaultyBackend
    from severa_ext.testing.severa_server import FakeSeveraServer

__all__ = ["START", "BackendContract", "FakeSeveraServer", "FaultyBackend", "SyncHarness"]

_LAZY = {
    "START": "severa_ext.testing._fixtures_memory",
    "BackendContract": "severa_ext.testing.contract",
    "FakeSeveraServer": "severa_ext.testing.severa_server",
    "FaultyBackend": "severa_ext.testing.faults",
    "SyncHarness": "severa_ext.testing._fixtures_memory",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # Not cached here: the module's own entry in sys.modules stays the one truth.
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
