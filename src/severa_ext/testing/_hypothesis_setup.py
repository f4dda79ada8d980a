"""Hypothesis entry point: registers strategies so ``st.from_type`` knows our types."""

from __future__ import annotations

__all__ = ["_hypothesis_setup_hook"]


def _hypothesis_setup_hook() -> None:
    """Called by hypothesis at import when severa_ext is installed.

    Registration is lazy: it imports the strategies module only here.
    """
    import importlib

    try:
        strategies = importlib.import_module("severa_ext.testing.strategies")
    except ImportError:  # pragma: no cover - hypothesis or the module is not there
        return
    register = getattr(strategies, "register_type_strategies", None)
    if register is not None:
        register()
