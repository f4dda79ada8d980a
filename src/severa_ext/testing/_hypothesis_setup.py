"""Hypothesis entry point: registers strategies so ``st.from_type`` knows our types.

Hypothesis runs the hook on every ``import hypothesis`` in an environment where
severa_ext is installed, so a host's test suite pays for it whether or not it uses
the SDK. The hook therefore imports only the small modules that define the types
(the item model, the activity model, the rights enum: no backend, no engine, no
network or parser library); each strategy is deferred and
:mod:`severa_ext.testing.strategies` loads when ``st.from_type`` first draws one.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["_hypothesis_setup_hook"]

_STRATEGIES = "severa_ext.testing.strategies"
_TYPES = {
    # type name: (the module that defines it, the strategy function's name)
    "CalendarItem": ("severa_ext.sync.items", "calendar_items"),
    "Window": ("severa_ext.sync.items", "windows"),
    "Activity": ("severa_ext.domain._activities", "activities"),
    "ActivityType": ("severa_ext.domain._activities", "activity_types"),
    "Right": ("severa_ext.extranet.rights", "rights"),
}


def _deferred(function: str) -> Any:
    from hypothesis import strategies as st

    def build() -> Any:  # the strategies module loads on the first draw
        return getattr(importlib.import_module(_STRATEGIES), function)()

    return st.deferred(build)


def _hypothesis_setup_hook() -> None:
    """Called by hypothesis at import when severa_ext is installed."""
    try:
        from hypothesis import strategies as st
    except ImportError:  # pragma: no cover - hypothesis is what calls this hook
        return
    for name, (module, function) in _TYPES.items():
        st.register_type_strategy(
            getattr(importlib.import_module(module), name), _deferred(function)
        )
