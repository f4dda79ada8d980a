"""Fixtures of the portal tests (the ``portal`` extra; skipped without Flask)."""

from __future__ import annotations

import pytest

pytest.importorskip("flask", reason="the portal tests need the 'portal' extra")

from portal.portal_support import make_demo
from severa_ext.portal.app import create_app


@pytest.fixture
def demo():
    built = make_demo()
    yield built
    built.close()


@pytest.fixture
def app(demo):
    return create_app(demo.wiring, demo.config)


@pytest.fixture
def client(app):
    with app.test_client() as test_client:
        yield test_client
