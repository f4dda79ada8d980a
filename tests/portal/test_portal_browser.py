"""The portal in a real browser: headless Chromium through Selenium (X4, X5, X7-X11).

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
def browser(request):
    holder = _Swappable()
    with chromium() as driver, live_server(holder) as base:
        yield driver, base, holder


@pytest.fixture(scope="module")
def shots(request) -> Path:
    folder = request.config.rootpath / "test-output" / "portal"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def portal(browser):
    driver, base, holder = browser
    demo = make_demo(login_url=base + "/")
    holder.app = create_app(demo.wiring, demo.config)
    driver.get(base + "/login")
    driver.delete_all_cookies()
    driver.set_window_size(1280, 900)
    yield driver, base, demo
    demo.close()


def _by_id(driver, element_id):
    return driver.find_elements("id", element_id)


def _submit(driver, form_id=None):
    """Submit a form and wait for the next page (a click does not wait for it)."""
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.wait import WebDriverWait

    page = driver.find_element("tag name", "html")
    scope = driver.find_element("id", form_id) if form_id else driver
    scope.find_element("css selector", "button[type=submit]").click()
    WebDriverWait(driver, 10).until(staleness_of(page))


def _click(driver, element):
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.wait import WebDriverWait

    page = driver.find_element("tag name", "html")
    element.click()
    WebDriverWait(driver, 10).until(staleness_of(page))


def _log_in(driver, base, email, secret):
    driver.get(base + "/login")
    driver.find_element("id", "email").send_keys(email)
    driver.find_element("id", "password").send_keys(secret)
    _submit(driver)


def _enrol(driver, base, demo, contact_id="k-anna", email=ANNA, password=GOOD_PASSWORD):
    _log_in(driver, base, email, demo.passwords[contact_id])
    assert driver.current_url.endswith("/setup")
    driver.find_element("id", "new-password").send_keys(password)
    driver.find_element("id", "confirm").send_keys(password)
    _submit(driver)


def test_enrol_with_the_one_time_password_then_log_in_with_the_password(portal, shots):
    """X9 and NIST SP 800-63B-4: the emailed code enrols, the password authenticates."""
    driver, base, demo = portal
    driver.get(base + "/login?lang=en")
    driver.save_screenshot(str(shots / "login.png"))
    from selenium.webdriver.common.keys import Keys

    driver.find_element("tag name", "body").send_keys(Keys.TAB)
    assert driver.switch_to.active_element.get_attribute("class") == "skip"  # keyboard first
    _log_in(driver, base, ANNA, demo.passwords["k-anna"])
    assert driver.current_url.endswith("/setup")
    driver.find_element("id", "new-password").send_keys("Password1234567!")
    driver.find_element("id", "confirm").send_keys("Password1234567!")
    _submit(driver)
    assert "too common" in driver.find_element("id", "setup-error").text  # she chose English
    driver.save_screenshot(str(shots / "setup.png"))
    driver.find_element("id", "new-password").send_keys(GOOD_PASSWORD)
    driver.find_element("id", "confirm").send_keys(GOOD_PASSWORD)
    _submit(driver)
    assert driver.find_element("tag name", "h1").text == "Support 2026"
    _submit(driver, "logout")
    assert driver.current_url.split("?")[0].endswith("/login")
    _log_in(driver, base, ANNA, demo.passwords["k-anna"])  # used: refused
    assert _by_id(driver, "login-error")
    _log_in(driver, base, ANNA, GOOD_PASSWORD)
    assert driver.find_element("tag name", "h1").text == "Support 2026"


def test_the_menu_moves_between_works_each_with_its_own_rights_x11(portal, shots):
    driver, base, demo = portal
    _enrol(driver, base, demo)
    links = driver.find_elements("css selector", "nav.menu a")
    assert [a.text for a in links] == ["Support 2026", "Website renewal"]
    assert _by_id(driver, "section-hours")
    assert not _by_id(driver, "section-finance")  # Support grants hours and comments only
    _click(driver, links[1])
    assert driver.find_element("tag name", "h1").text == "Website renewal"
    current = driver.find_element("css selector", "nav.menu a[aria-current=page]")
    assert current.text == "Website renewal"
    for section in ("section-finance", "section-gantt", "section-tree", "section-status"):
        assert _by_id(driver, section), section
    driver.save_screenshot(str(shots / "project.png"))
    driver.set_window_size(390, 844)
    driver.refresh()
    driver.save_screenshot(str(shots / "project-phone.png"))
    menu = driver.find_element("css selector", "nav.menu").location["y"]
    main = driver.find_element("id", "main").location["y"]
    assert menu < main  # on a phone the menu sits above the work
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - window.innerWidth"
    )
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
    driver, base, demo = portal
    _enrol(driver, base, demo)
    service = demo.wiring.service
    for rights in _MATRIX:
        service.update("p-web", "k-anna", rights, actor="admin")  # X7: no re-login
        driver.get(f"{base}/p/p-web")
        for section, granted in _SECTIONS.items():
            shown = bool(_by_id(driver, section))
            assert shown == granted(rights), f"{section} with {rights!r}"
        text = driver.find_element("id", "main").text
        assert ("2026-0042" in text) == (Right.VIEW_BILLING in rights)
        assert ("09:00" in text) == (Right.VIEW_HOUR_TIMES in rights)


def test_a_stopped_share_is_gone_on_the_next_load_x8(portal):
    driver, base, demo = portal
    _enrol(driver, base, demo)
    assert driver.find_element("tag name", "h1").text == "Support 2026"
    demo.wiring.service.stop("p-support", "k-anna", actor="admin", confirm=True)
    driver.refresh()
    assert driver.find_element("tag name", "h1").text == "Tämä työ ei ole saatavillasi."
    driver.get(base + "/")
    assert driver.find_element("tag name", "h1").text == "Website renewal"
    assert [a.text for a in driver.find_elements("css selector", "nav.menu a")] == [
        "Website renewal"
    ]


def test_approve_comment_and_upload_x4(portal, shots, tmp_path):
    driver, base, demo = portal
    _enrol(driver, base, demo)
    driver.get(base + "/p/p-web")
    note = driver.find_element("id", "approve-note").text
    assert "ei vaikuta laskutukseen" in note
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element("id", "hour-h1")
    box.send_keys(Keys.SPACE)  # by keyboard
    assert box.is_selected()
    _submit(driver, "approve-form")
    assert driver.find_element("id", "done").text == "Tunnit on hyväksytty."
    assert not _by_id(driver, "hour-h1")  # approved: no box any more
    hour = demo.wiring.projects.load("p-web").work_hours[0]
    assert hour.customer_approval_id is not None
    assert hour.billable_amount is not None  # billing untouched (X4)

    driver.find_element("id", "summary-comment-text").send_keys("Hyvältä näyttää!")
    _submit(driver, "summary-comment")
    assert "Hyvältä näyttää!" in driver.find_element("id", "section-summary").text

    spec = tmp_path / "meeting-notes.pdf"
    spec.write_bytes(b"%PDF-1.4\n% notes\n")
    driver.find_element("id", "file").send_keys(str(spec))
    _submit(driver, "upload-form")
    assert driver.find_element("id", "done").text == "Tiedosto lisättiin."
    assert "meeting-notes.pdf" in driver.find_element("id", "file-list").text
    driver.save_screenshot(str(shots / "project-after-actions.png"))
