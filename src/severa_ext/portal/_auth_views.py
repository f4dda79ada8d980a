"""Login, authenticator set-up and logout (NIST SP 800-63B-4 for emailed codes).

Private helper of :mod:`severa_ext.portal.app`. The first login takes the address and
the invitation's one-time password, checked by the SDK
(:meth:`~severa_ext.extranet.invites.Inviter.login`: single use, lockout, one generic
error); it only enrols: the session may do nothing but set a password. Later logins
take the password. Each step gets a new session id. Both forms are rate limited per
address and per client address.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from severa_ext.domain import normalize_email
from severa_ext.errors import EmailAddressError, LoginFailed
from severa_ext.portal._web import current_session, now, replace_session, ui_texts
from severa_ext.portal.config import PortalConfig, PortalWiring
from severa_ext.portal.credentials import Credential
from severa_ext.portal.errors import WeakPassword
from severa_ext.portal.sessions import SessionStage

__all__ = ["auth"]

logger = logging.getLogger(__name__)

auth = Blueprint("auth", __name__)


def _wiring() -> PortalWiring:
    wiring: PortalWiring = g.portal_wiring
    return wiring


def _config() -> PortalConfig:
    config: PortalConfig = g.portal_config
    return config


def _page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    language, words = ui_texts()
    session = current_session()
    html = render_template(
        template,
        t=words,
        lang=language,
        csrf=session.csrf_token,
        config=_config(),
        **context,
    )
    return html, status


def _address(typed: str) -> str | None:
    try:
        return normalize_email(typed)
    except EmailAddressError:
        return None


def _limited(address: str | None) -> float | None:
    at = now()
    limiter = _wiring().limiter
    waits = [limiter.hit(f"ip:{request.remote_addr}", at)]
    if address is not None:
        waits.append(limiter.hit(f"address:{address}", at))
    found = [w for w in waits if w is not None]
    return max(found) if found else None


def _password_login(address: str | None, secret: str) -> Credential | None:
    wiring = _wiring()
    credential = wiring.credentials.by_email(address) if address else None
    if credential is None:
        wiring.hasher.dummy_verify()
        return None
    if not wiring.hasher.verify(credential.password_hash, secret):
        return None
    card = wiring.service.directory.contact(credential.contact_id)
    if card is None or _address(card.email or "") != credential.email:
        logger.info("password login refused: contact %s has another address", credential.contact_id)
        return None
    return credential


@auth.get("/login")
def login_form() -> Any:
    """The login page."""
    session = g.get("portal_session")
    if session is not None and session.stage is SessionStage.SIGNED_IN:
        return redirect(url_for("projects.home"))
    notice = "expired" if g.get("portal_expired") else request.args.get("notice")
    return _page("login.html", notice=notice if notice in {"expired", "logged_out"} else None)


@auth.post("/login")
def login() -> Any:
    """Check the address and the password (or the one-time password)."""
    typed = request.form.get("email", "")[:320]
    secret = request.form.get("password", "")[:1024]
    address = _address(typed)
    wait = _limited(address)
    if wait is not None:
        page, _ = _page("login.html", error="too_many", email=typed)
        return Response(page, 429, {"Retry-After": str(int(wait))}, content_type="text/html")
    session = current_session()
    credential = _password_login(address, secret)
    if credential is not None:
        replace_session(
            session,
            stage=SessionStage.SIGNED_IN,
            contact_id=credential.contact_id,
            email=credential.email,
        )
        return redirect(url_for("projects.home"))
    try:
        record = _wiring().inviter.login(typed, secret, now=now())
    except LoginFailed as exc:
        logger.info("portal login refused (%s)", exc.reason)
        return _page("login.html", 401, error="login_failed", email=typed)
    replace_session(
        session, stage=SessionStage.ENROLLING, contact_id=record.contact_id, email=record.email
    )
    return redirect(url_for("auth.setup_form"))


def _enrolling() -> Any:
    session = g.get("portal_session")
    if session is None or session.stage is not SessionStage.ENROLLING:
        return None
    return session


@auth.get("/setup")
def setup_form() -> Any:
    """Choose the password (only right after the one-time password was accepted)."""
    if _enrolling() is None:
        return redirect(url_for("auth.login_form"))
    return _page("setup.html", policy=_config().password_policy)


@auth.post("/setup")
def setup() -> Any:
    """Store the new password and sign the contact in under a new session id."""
    session = _enrolling()
    if session is None:
        return redirect(url_for("auth.login_form"))
    policy = _config().password_policy
    new, again = request.form.get("password", ""), request.form.get("confirm", "")
    if new != again:
        return _page("setup.html", 400, policy=policy, error="mismatch")
    email = session.email or ""
    context = (email, email.split("@", 1)[0], _config().product_name)
    try:
        secret = policy.check(new, context=context)
    except WeakPassword as exc:
        return _page("setup.html", 400, policy=policy, error=f"weak_{exc.reason}")
    wiring = _wiring()
    wiring.credentials.put(
        Credential(
            contact_id=session.contact_id,
            email=email,
            password_hash=wiring.hasher.hash(secret),
            set_at=now(),
        )
    )
    replace_session(session, stage=SessionStage.SIGNED_IN)
    return redirect(url_for("projects.home"))


@auth.post("/logout")
def logout() -> Any:
    """End the session."""
    replace_session(None)
    return redirect(url_for("auth.login_form", notice="logged_out"))
