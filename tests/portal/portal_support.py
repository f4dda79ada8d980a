"""Helpers of the portal tests: a demo portal with a fixed clock and cheap KDFs."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from severa_ext.clock import FixedClock
from severa_ext.extranet.invites import ScryptKdf
from severa_ext.portal.config import PortalConfig
from severa_ext.portal.demo import Demo, build_demo
from severa_ext.portal.passwords import PasswordHasher

ANNA = "anna@asiakas.example.com"
BERT = "bert@asiakas.example.com"
GOOD_PASSWORD = "purple tractor sings at dawn"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHEAP_KDF = ScryptKdf(n=2**4, r=1, p=1)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def cheap_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def make_demo(*, login_url: str = "http://127.0.0.1:8000/", **config: object) -> Demo:
    cfg = PortalConfig(product_name="Extranet", **config)  # type: ignore[arg-type]
    demo = build_demo(
        clock=FixedClock(START),
        login_url=login_url,
        kdf=CHEAP_KDF,
        hasher=cheap_hasher(),
        config=cfg,
    )
    demo.wiring.projects.store_file("p-web", "f1", b"%PDF-1.4 specification")
    return demo


def csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


def post(client, path: str, data: dict, *, page: str = "/login", **kwargs):
    """POST ``data`` with the CSRF token of ``page`` (fetched first)."""
    token = csrf(client.get(page).text)
    return client.post(path, data={"csrf_token": token, **data}, **kwargs)


def enrol(client, demo: Demo, contact_id: str, email: str, password: str = GOOD_PASSWORD):
    """Log in with the one-time password and set ``password``; return the last response."""
    response = post(client, "/login", {"email": email, "password": demo.passwords[contact_id]})
    assert response.status_code == 302, response.text
    assert response.headers["Location"].endswith("/setup")
    return post(client, "/setup", {"password": password, "confirm": password}, page="/setup")


def session_cookie(client, name: str = "severa_portal") -> str | None:
    cookie = client.get_cookie(name)
    return None if cookie is None else cookie.value
