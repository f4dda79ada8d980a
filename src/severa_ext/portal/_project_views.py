"""The project menu (X11), the project page and the contact actions (X4, X5).

Private helper of :mod:`severa_ext.portal.app`. Every request loads the project from
the host and asks the SDK: the page is :meth:`ExtranetService.view
<severa_ext.extranet.service.ExtranetService.view>` rendered (a section is on the page
only when the view holds it, X5, X7); each form posts to an action of the service,
which re-reads the share and refuses what it no longer grants (X7, X8). A project the
contact cannot open answers 404 whatever the reason, so URLs tell nothing about works
that are not shared with them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from severa_ext.domain import CommentTarget, Project
from severa_ext.errors import AccessDenied, ApprovalRefused, ValidationError
from severa_ext.extranet.access import Action
from severa_ext.extranet.service import ActionResult
from severa_ext.portal import _render
from severa_ext.portal._web import current_session, signed_in_contact, ui_texts
from severa_ext.portal.config import PortalConfig, PortalWiring
from severa_ext.portal.errors import UploadRefused

__all__ = ["projects"]

logger = logging.getLogger(__name__)

projects = Blueprint("projects", __name__)


def _wiring() -> PortalWiring:
    wiring: PortalWiring = g.portal_wiring
    return wiring


def _config() -> PortalConfig:
    config: PortalConfig = g.portal_config
    return config


def _contact() -> str:
    contact_id = signed_in_contact()
    if contact_id is None:
        notice: dict[str, Any] = {"notice": "expired"} if g.get("portal_expired") else {}
        abort(Response(status=303, headers={"Location": url_for("auth.login_form", **notice)}))
    return contact_id


def _menu(contact_id: str) -> list[tuple[str, str]]:
    """The X11 menu: (project id, name) of each live share, from the SDK."""
    loader = _wiring().projects
    items = []
    for share in _wiring().service.projects_for(contact_id):
        project = loader.load(share.project_id)
        if project is not None:
            items.append((project.id, project.name))
    return items


def _project(project_id: str) -> Project:
    project = _wiring().projects.load(project_id)
    if project is None:
        abort(404)
    return project


def _render_page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    language, words = ui_texts()
    html = render_template(
        template,
        t=words,
        lang=language,
        csrf=current_session().csrf_token,
        config=_config(),
        r=_render,
        Action=Action,
        **context,
    )
    return html, status


@projects.get("/")
def home() -> Any:
    """The first shared work, or a page that says there is none."""
    contact_id = _contact()
    menu = _menu(contact_id)
    if menu:
        return redirect(url_for("projects.project_page", project_id=menu[0][0]))
    return _render_page("empty.html", menu=menu, current=None)


@projects.get("/p/<project_id>")
def project_page(project_id: str) -> Any:
    """One shared work: only the sections its share grants now (X5, X7, X11)."""
    contact_id = _contact()
    project = _project(project_id)
    try:
        view = _wiring().service.view(contact_id, project)
    except AccessDenied as exc:
        logger.info("portal: %s", exc.decision.message if exc.decision else exc)
        abort(404)
    done, error = request.args.get("done"), request.args.get("error")
    return _render_page(
        "project.html",
        menu=_menu(contact_id),
        current=project_id,
        view=view,
        statuses=_wiring().projects.statuses(project_id) if view.status else (),
        uploads=_config().uploads,
        done=done if done in _DONE else None,
        error=error if error in _ERRORS else None,
    )


_DONE = {"approved", "commented", "file", "link", "status"}
_ERRORS = {
    "changed",
    "invalid",
    "already",
    "upload_too-large",
    "upload_empty",
    "upload_type",
    "upload_content",
}


def _expected_version() -> int | None:
    try:
        return int(request.form.get("share_version", ""))
    except ValueError:
        return None


def _back(project_id: str, **args: Any) -> Response:
    return redirect(url_for("projects.project_page", project_id=project_id, **args), code=303)


def _act(project_id: str, done: str, run: Callable[[str, Project, int | None], Any]) -> Response:
    """Run one SDK action, save what it returns, and go back to the page (PRG)."""
    contact_id = _contact()
    project = _project(project_id)
    try:
        result = run(contact_id, project, _expected_version())
    except AccessDenied as exc:
        reason = exc.decision.reason if exc.decision is not None else "no-share"
        if reason == "version-changed":
            return _back(project_id, error="changed")
        if reason == "missing-right":
            abort(403)
        abort(404)
    except ApprovalRefused:
        return _back(project_id, error="already")
    except UploadRefused as exc:
        return _back(project_id, error=f"upload_{exc.reason}")
    except ValidationError:
        return _back(project_id, error="invalid")
    if isinstance(result, ActionResult):
        _wiring().projects.save(result.project)
    return _back(project_id, done=done)


@projects.post("/p/<project_id>/approve")
def approve(project_id: str) -> Response:
    """Approve the selected hours (X4: never changes their billing)."""
    hour_ids = request.form.getlist("hour")
    return _act(
        project_id,
        "approved",
        lambda c, p, v: _wiring().service.approve_hours(c, p, hour_ids, expected_version=v),
    )


@projects.post("/p/<project_id>/comment")
def comment(project_id: str) -> Response:
    """Comment on the summary, a phase, a file or a link (X4)."""
    text = request.form.get("text", "")
    kind, target_id = request.form.get("target", ""), request.form.get("target_id") or None
    if "item" in request.form:  # the files-and-links form: "file:ID" or "link:ID"
        kind, _, target_id = request.form["item"].partition(":")
    try:
        target = CommentTarget(kind or "summary")
    except ValueError:
        return _back(project_id, error="invalid")
    return _act(
        project_id,
        "commented",
        lambda c, p, v: _wiring().service.comment(
            c, p, text, target=target, target_id=target_id, expected_version=v
        ),
    )


@projects.post("/p/<project_id>/files")
def add_file(project_id: str) -> Response:
    """Add a file (X4 ``ADD_FILE``): the SDK records it, the host keeps the bytes."""
    upload = request.files.get("file")

    def run(contact_id: str, project: Project, version: int | None) -> Any:
        # Ask first: a contact without the right learns nothing about the limits.
        decision = _wiring().service.authorize(
            contact_id, project.id, Action.ADD_FILE, expected_version=version
        )
        if not decision.allowed:
            raise AccessDenied(decision.message, decision=decision)
        if upload is None or not upload.filename:
            raise ValidationError("no file was sent")
        data = upload.read(_config().uploads.max_bytes + 1)
        name = upload.filename.replace("\\", "/").rsplit("/", 1)[-1]
        media_type = _config().uploads.accept(name, data)
        result = _wiring().service.add_file(
            contact_id,
            project,
            name,
            size=len(data),
            content_type=media_type,
            expected_version=version,
        )
        _wiring().projects.store_file(project.id, result.value.id, data)
        return result

    return _act(project_id, "file", run)


@projects.post("/p/<project_id>/links")
def add_link(project_id: str) -> Response:
    """Add a link (X4 ``ADD_FILE``)."""
    url, title = request.form.get("url", ""), request.form.get("title", "")
    return _act(
        project_id,
        "link",
        lambda c, p, v: _wiring().service.add_link(c, p, url, title=title, expected_version=v),
    )


@projects.post("/p/<project_id>/status")
def change_status(project_id: str) -> Response:
    """Change the work's status (X5 ``CHANGE_STATUS``) to one of the host's statuses."""
    wanted = request.form.get("status", "")
    offered = {s.id: s for s in _wiring().projects.statuses(project_id)}

    def run(contact_id: str, project: Project, version: int | None) -> Any:
        status = offered.get(wanted)
        if status is None:
            raise ValidationError(f"no status {wanted!r} is offered")
        return _wiring().service.change_status(
            contact_id, project, status, expected_version=version
        )

    return _act(project_id, "status", run)


@projects.get("/p/<project_id>/files/<file_id>")
def download(project_id: str, file_id: str) -> Response:
    """A file of the work, when the current view shows it (``VIEW_FILES``)."""
    contact_id = _contact()
    project = _project(project_id)
    try:
        view = _wiring().service.view(contact_id, project)
    except AccessDenied:
        abort(404)
    found = next((f for f in view.files or () if f.id == file_id), None)
    data = _wiring().projects.read_file(project_id, file_id) if found is not None else None
    if found is None or data is None:
        abort(404)
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in found.name)
    return Response(
        data,
        200,
        {
            "Content-Type": found.content_type,
            "Content-Disposition": f'attachment; filename="{safe}"',
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
