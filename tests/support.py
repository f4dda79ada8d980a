"""Helpers shared by the test modules (importable as ``support``)."""

from __future__ import annotations

import os

__all__ = ["scaled"]

_FACTORS = {"ci": 1.0, "dev": 0.6, "soak": 20.0}


def scaled(n: int) -> int:
    """``n`` examples under the ``ci`` profile, scaled for the active profile."""
    profile = os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
    return max(1, round(n * _FACTORS.get(profile, 1.0)))
