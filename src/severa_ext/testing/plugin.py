"""The ``severa_ext`` pytest plugin (registered through the ``pytest11`` entry point).

Importing this module is cheap and has no side effects: fixtures import what they
build only when a test asks for them. No fixture is autouse.
"""

from __future__ import annotations

import pytest

__all__ = ["pytest_configure"]


def pytest_configure(config: pytest.Config) -> None:
    """Register the plugin's markers."""
    config.addinivalue_line(
        "markers", "severa_ext: tests that use the severa_ext fakes (informational)"
    )
