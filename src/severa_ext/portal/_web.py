"""Request plumbing of the portal: the session cookie, CSRF, language, security headers.

Private helper of :mod:`severa_ext.portal.app`. Everything here is about the HTTP
conversation; nothing decides what a contact may see (the SDK does, per request).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
from flask import Flask, abort, g, request
from werkzeug.wrappers import Response

from severa_ext.portal.config import PortalConfig, PortalWiring
from severa_ext.portal.i18n import TEXTS, language_of, texts
from severa_ext.portal.sessions import (
    PortalSession,
    SessionStage,
    new_session,
    rotated,
    session_expired,
)

__all__ = [
    "current_session",
    "install",
    "now",
    "replace_session",
    "signed_in_contact",
    "ui_texts",
]

_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:{img}; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def _wiring() -> PortalWiring:
    wiring: PortalWiring = g.portal_wiring
    return wiring


def _config() -> PortalConfig:
    config: PortalConfig = g.portal_config
    return config


def now() -> datetime:
    """The current time, from the SDK service's clock."""
    return _wiring().service.clock.now()


def current_session() -> PortalSession:
    """This request's session; a new anonymous one (cookie set on the response) if none."""
    session: PortalSession | None = g.get("portal_session")
    if session is None:
        session = new_session(now(), language=g.get("portal_lang_choice"))
        _wiring().sessions.put(session)
        g.portal_session = session
        g.portal_set_cookie = True
    return session


def replace_session(session: PortalSession | None, **changes: Any) -> PortalSession | None:
    """Rotate the session (new id and CSRF token) with ``changes``, or end it (``None``)."""
    old: PortalSession | None = g.get("portal_session")
    if old is not None:
        _wiring().sessions.delete(old.id)
    if session is None:
        g.portal_session = None
        g.portal_clear_cookie = True
        return None
    fresh = rotated(session, now(), **changes)
    _wiring().sessions.put(fresh)
    g.portal_session = fresh
    g.portal_set_cookie = True
    return fresh


def signed_in_contact() -> str | None:
    """The signed-in contact's id, or ``None``."""
    session: PortalSession | None = g.get("portal_session")
    if session is None or session.stage is not SessionStage.SIGNED_IN:
        return None
    return session.contact_id


def ui_texts() -> tuple[str, Mapping[str, str]]:
    """The language of this request and its words."""
    session: PortalSession | None = g.get("portal_session")
    choice = g.get("portal_lang_choice") or (session.language if session else None)
    if not choice and session is not None and session.contact_id is not None:
        card = _wiring().service.directory.contact(session.contact_id)
        choice = card.language if card is not None else None
    if not choice:
        choice = request.accept_languages.best_match(sorted(TEXTS))
    language = language_of(choice, _config().default_language)
    return language, texts(language)


def _load_session(wiring: PortalWiring, config: PortalConfig) -> None:
    cookie = request.cookies.get(config.cookie_name)
    session = wiring.sessions.get(cookie) if cookie else None
    g.portal_expired = False
    if session is not None:
        at = now()
        if session_expired(session, at, idle=config.idle_timeout, absolute=config.absolute_timeout):
            wiring.sessions.delete(session.id)
            g.portal_expired = session.stage is not SessionStage.ANONYMOUS
            g.portal_clear_cookie = True
            session = None
        else:
            session = attrs.evolve(session, last_seen=at)
            wiring.sessions.put(session)
    lang = request.args.get("lang")
    if lang in TEXTS:
        g.portal_lang_choice = lang
        if session is not None:
            session = attrs.evolve(session, language=lang)
            wiring.sessions.put(session)
    g.portal_session = session


def _check_csrf() -> None:
    if request.method != "POST":
        return
    session: PortalSession | None = g.get("portal_session")
    sent = request.form.get("csrf_token", "")
    if session is None or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        abort(400, description="csrf")


def _headers(response: Response, config: PortalConfig) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", _CSP.format(img=""))
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    if not request.path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"
    if config.hsts and request.is_secure:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return response


def _cookie(response: Response, config: PortalConfig) -> Response:
    path = request.script_root or "/"
    session: PortalSession | None = g.get("portal_session")
    if g.get("portal_set_cookie") and session is not None:
        response.set_cookie(
            config.cookie_name,
            session.id,
            path=path,
            secure=config.secure_cookies,
            httponly=True,
            samesite=config.same_site,
        )
    elif g.get("portal_clear_cookie"):
        response.delete_cookie(
            config.cookie_name,
            path=path,
            secure=config.secure_cookies,
            httponly=True,
            samesite=config.same_site,
        )
    return response


def install(app: Flask, wiring: PortalWiring, config: PortalConfig) -> None:
    """Hook the plumbing into ``app``."""

    @app.before_request
    def _before() -> None:
        g.portal_wiring = wiring
        g.portal_config = config
        if request.path.startswith("/static/"):
            g.portal_session = None
            return
        _load_session(wiring, config)
        _check_csrf()

    @app.after_request
    def _after(response: Response) -> Response:
        return _headers(_cookie(response, config), config)
