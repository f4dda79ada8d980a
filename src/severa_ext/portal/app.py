"""The portal as a WSGI application: :func:`create_app`.

A Flask application that a host mounts under its own URL (any WSGI server, or
``werkzeug.middleware.dispatcher.DispatcherMiddleware`` beside the host's own app):
links, the static files and the cookie path follow the mount point (``SCRIPT_NAME``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, render_template
from werkzeug.exceptions import HTTPException

from severa_ext.portal._auth_views import auth
from severa_ext.portal._project_views import projects
from severa_ext.portal._web import current_session, install, signed_in_contact, ui_texts
from severa_ext.portal.config import PortalConfig, PortalWiring

__all__ = ["create_app"]

_ERROR_WORDS = {
    400: "error_csrf",
    403: "forbidden",
    404: "not_found",
    413: "error_upload_too-large",
}


def create_app(wiring: PortalWiring, config: PortalConfig | None = None) -> Flask:
    """Build the portal over the host's wiring.

    Args:
        wiring: the host's service, inviter, project loader and stores.
        config: branding, cookies, timeouts and limits (default: a
            :class:`~severa_ext.portal.config.PortalConfig`).

    Returns:
        The WSGI application (a :class:`flask.Flask`).
    """
    given: object = wiring
    if not isinstance(given, PortalWiring):
        from severa_ext.errors import ConfigError

        raise ConfigError(f"create_app needs a PortalWiring, got {type(given).__name__}")
    config = PortalConfig() if config is None else config
    app = Flask(__name__)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.config["MAX_CONTENT_LENGTH"] = config.uploads.max_bytes + 64 * 1024
    app.config["MAX_FORM_MEMORY_SIZE"] = 200_000
    install(app, wiring, config)
    app.register_blueprint(auth)
    app.register_blueprint(projects)

    @app.get("/brand.css")
    def brand() -> Response:
        css = f":root {{ --accent: {config.accent_colour}; }}\n"
        return Response(css, 200, {"Content-Type": "text/css; charset=utf-8"})

    @app.errorhandler(HTTPException)
    def error_page(exc: HTTPException) -> Any:
        if exc.response is not None:
            return exc.response
        code = exc.code or 500
        language, words = ui_texts()
        html = render_template(
            "error.html",
            t=words,
            lang=language,
            csrf=current_session().csrf_token,
            config=config,
            message=words.get(_ERROR_WORDS.get(code, ""), exc.name),
            signed_in=signed_in_contact() is not None,
        )
        return html, code

    return app
