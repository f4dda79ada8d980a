"""The ``severa_ext`` pytest plugin (registered through the ``pytest11`` entry point).

Importing this module is cheap and has no side effects: the fixture modules it
names import what they build only when a test asks for a fixture. No fixture is
autouse.
"""

from __future__ import annotations

import pytest

__all__ = ["pytest_configure"]

# Each fixture family lives in its own module; pytest loads them with this plugin.
pytest_plugins = [
    "severa_ext.testing._fixtures_memory",
    "severa_ext.testing._fixtures_graph",
    "severa_ext.testing._fixtures_ews",
    "severa_ext.testing._fixtures_severa",
]


def pytest_configure(config: pytest.Config) -> None:
    """Register the plugin's markers."""
    config.addinivalue_line(
        "markers", "severa_ext: tests that use the severa_ext fakes (informational)"
    )
