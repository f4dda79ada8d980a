"""The portal in a real browser: headless Chromium through Playwright (X4, X5, X7-X11).

One browser and one live server for the module; each test serves a fresh demo portal
(the server's application is swapped) and starts with no cookies. Screenshots of the
main pages go to ``test-output/portal/`` (a CI artifact).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.browser_support import chromium, live_server
from portal.portal_support import ANNA, GOOD_PASSWORD, make_demo
from severa_ext.extranet.rights import NO_RIGHTS, Right
from severa_ext.portal.app import create_app

pytestmark = pytest.mark.slow


class _Swappable:
    """A WSGI app whose target each test replaces."""

    def __init__(self) -> None:
        self.app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def browser():
    holder = _Swappable()
    with chromium() as page, live_server(holder) as base:
        yield page, base, holder


@pytest.fixture(scope="module")
def shots(request) -> Path:
    folder = request.config.rootpath / "test-output" / "portal"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def portal(browser):
    page, base, holder = browser
    demo = make_demo(login_url=base + "/")
    holder.app = create_app(demo.wiring, demo.config)
    page.context.clear_cookies()
    page.set_viewport_size({"width": 1280, "height": 900})
    yield page, base, demo
    demo.close()


def _shown(page, element_id: str) -> bool:
    return page.locator(f"[id='{element_id}']").count() > 0


def _text(page, selector: str) -> str:
    return page.locator(selector).first.inner_text()


def _submit(page, form_id: str | None = None):
    """Submit a form with its button and wait for the next page."""
    scope = f"#{form_id} " if form_id else "form "
    with page.expect_navigation():
        page.locator(f"{scope}button[type=submit]").first.click()


def _log_in(page, base, email, secret):
    page.goto(base + "/login")
    page.fill("#email", email)
    page.fill("#password", secret)
    _submit(page)


def _enrol(page, base, demo, contact_id="k-anna", email=ANNA, password=GOOD_PASSWORD):
    _log_in(page, base, email, demo.passwords[contact_id])
    assert page.url.endswith("/setup")
    page.fill("#new-password", password)
    page.fill("#confirm", password)
    _submit(page)


def test_enrol_with_the_one_time_password_then_log_in_with_the_password(portal, shots):
    """X9 and NIST SP 800-63B-4: the emailed code enrols, the password authenticates."""
    page, base, demo = portal
    page.goto(base + "/login?lang=en")
    page.screenshot(path=str(shots / "login.png"))
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip"  # keyboard
    _log_in(page, base, ANNA, demo.passwords["k-anna"])
    assert page.url.endswith("/setup")
    page.fill("#new-password", "Password1234567!")
    page.fill("#confirm", "Password1234567!")
    _submit(page)
    assert "too common" in _text(page, "#setup-error")  # she chose English
    page.screenshot(path=str(shots / "setup.png"))
    page.fill("#new-password", GOOD_PASSWORD)
    page.fill("#confirm", GOOD_PASSWORD)
    _submit(page)
    assert _text(page, "h1") == "Support 2026"
    _submit(page, "logout")
    assert page.url.split("?")[0].endswith("/login")
    _log_in(page, base, ANNA, demo.passwords["k-anna"])  # used: refused
    assert _shown(page, "login-error")
    _log_in(page, base, ANNA, GOOD_PASSWORD)
    assert _text(page, "h1") == "Support 2026"


def test_the_menu_moves_between_works_each_with_its_own_rights_x11(portal, shots):
    page, base, demo = portal
    _enrol(page, base, demo)
    links = page.locator("nav.menu a")
    assert links.all_inner_texts() == ["Support 2026", "Website renewal"]
    assert _shown(page, "section-hours")
    assert not _shown(page, "section-finance")  # Support grants hours and comments only
    with page.expect_navigation():
        links.nth(1).click()
    assert _text(page, "h1") == "Website renewal"
    assert _text(page, "nav.menu a[aria-current=page]") == "Website renewal"
    for section in ("section-finance", "section-gantt", "section-tree", "section-status"):
        assert _shown(page, section), section
    page.screenshot(path=str(shots / "project.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.screenshot(path=str(shots / "project-phone.png"))
    menu = page.locator("nav.menu").bounding_box()
    main = page.locator("#main").bounding_box()
    assert menu is not None
    assert main is not None
    assert menu["y"] < main["y"]  # on a phone the menu sits above the work
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0


_SECTIONS = {
    "section-finance": lambda r: bool(r & Right.FINANCE),
    "section-invoices": lambda r: Right.VIEW_BILLING in r,
    "section-billable": lambda r: Right.VIEW_BILLABLE in r,
    "section-phases": lambda r: bool(
        r & (Right.VIEW_GANTT | Right.VIEW_TREE | Right.VIEW_HOURS | Right.VIEW_ESTIMATES)
    ),
    "section-gantt": lambda r: Right.VIEW_GANTT in r,
    "section-tree": lambda r: Right.VIEW_TREE in r,
    "section-hours": lambda r: Right.VIEW_HOURS in r,
    "col-times": lambda r: Right.VIEW_HOUR_TIMES in r,
    "approve-form": lambda r: Right.APPROVE_HOURS in r,
    "section-estimates": lambda r: Right.VIEW_ESTIMATES in r,
    "section-other": lambda r: bool(r & (Right.VIEW_STATUS | Right.VIEW_FILES)),
    "section-status": lambda r: Right.VIEW_STATUS in r,
    "status-form": lambda r: Right.CHANGE_STATUS in r,
    "section-files": lambda r: Right.VIEW_FILES in r,
    "upload-form": lambda r: Right.ADD_FILE in r,
    "link-form": lambda r: Right.ADD_FILE in r,
    "summary-comment": lambda r: Right.COMMENT in r,
    "item-comment": lambda r: Right.COMMENT in r and Right.VIEW_FILES in r,
    "phase-comment": lambda r: Right.COMMENT in r and bool(r & Right.PHASES),
}

_MATRIX = (
    NO_RIGHTS,
    Right.VIEW_BILLING,
    Right.VIEW_BILLABLE | Right.VIEW_HOURS,
    Right.VIEW_GANTT | Right.COMMENT,
    Right.VIEW_TREE,
    Right.VIEW_HOURS,
    Right.VIEW_HOURS | Right.VIEW_HOUR_TIMES | Right.APPROVE_HOURS,
    Right.VIEW_ESTIMATES,
    Right.VIEW_STATUS,
    Right.VIEW_STATUS | Right.CHANGE_STATUS,
    Right.VIEW_FILES,
    Right.VIEW_FILES | Right.ADD_FILE | Right.COMMENT,
    Right.FINANCE | Right.PHASES | Right.OTHER | Right.COMMENT | Right.APPROVE_HOURS,
)


def test_each_section_shows_exactly_when_granted_and_changes_on_next_load_x5_x7(portal):
    page, base, demo = portal
    _enrol(page, base, demo)
    service = demo.wiring.service
    for rights in _MATRIX:
        service.update("p-web", "k-anna", rights, actor="admin")  # X7: no re-login
        page.goto(f"{base}/p/p-web")
        for section, granted in _SECTIONS.items():
            assert _shown(page, section) == granted(rights), f"{section} with {rights!r}"
        text = _text(page, "#main")
        assert ("2026-0042" in text) == (Right.VIEW_BILLING in rights)
        assert ("09:00" in text) == (Right.VIEW_HOUR_TIMES in rights)


def test_a_stopped_share_is_gone_on_the_next_load_x8(portal):
    page, base, demo = portal
    _enrol(page, base, demo)
    assert _text(page, "h1") == "Support 2026"
    demo.wiring.service.stop("p-support", "k-anna", actor="admin", confirm=True)
    page.reload()
    assert _text(page, "h1") == "Tämä työ ei ole saatavillasi."
    page.goto(base + "/")
    assert _text(page, "h1") == "Website renewal"
    assert page.locator("nav.menu a").all_inner_texts() == ["Website renewal"]


def test_approve_comment_and_upload_x4(portal, shots, tmp_path):
    page, base, demo = portal
    _enrol(page, base, demo)
    page.goto(base + "/p/p-web")
    assert "ei vaikuta laskutukseen" in _text(page, "#approve-note")
    page.focus("#hour-h1")
    page.keyboard.press("Space")  # by keyboard
    assert page.is_checked("#hour-h1")
    _submit(page, "approve-form")
    assert _text(page, "#done") == "Tunnit on hyväksytty."
    assert not _shown(page, "hour-h1")  # approved: no box any more
    hour = demo.wiring.projects.load("p-web").work_hours[0]
    assert hour.customer_approval_id is not None
    assert hour.billable_amount is not None  # billing untouched (X4)

    page.fill("#summary-comment-text", "Hyvältä näyttää!")
    _submit(page, "summary-comment")
    assert "Hyvältä näyttää!" in _text(page, "#section-summary")

    notes = tmp_path / "meeting-notes.pdf"
    notes.write_bytes(b"%PDF-1.4\n% notes\n")
    page.set_input_files("#file", str(notes))
    _submit(page, "upload-form")
    assert _text(page, "#done") == "Tiedosto lisättiin."
    assert "meeting-notes.pdf" in _text(page, "#file-list")
    page.screenshot(path=str(shots / "project-after-actions.png"), full_page=True)
