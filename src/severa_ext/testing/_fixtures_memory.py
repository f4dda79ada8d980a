"""pytest fixtures of the memory fakes (loaded by ``severa_ext.testing.plugin``)."""

from __future__ import annotations

__all__: list[str] = []
