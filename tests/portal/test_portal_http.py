"""The portal over HTTP (Flask's test client): login, sessions, CSRF, isolation (X7-X11)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.portal_support import (
    ANNA,
    BERT,
    GOOD_PASSWORD,
    START,
    csrf,
    enrol,
    post,
    session_cookie,
)
from severa_ext.extranet.rights import Right


def _signed_in(client, demo, contact_id="k-anna", email=ANNA):
    response = enrol(client, demo, contact_id, email)
    assert response.status_code == 302
    return client


def test_login_page_sets_a_secure_httponly_samesite_cookie(client):
    response = client.get("/login")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/" in cookie


def test_security_headers_on_every_page(client):
    response = client.get("/login")
    headers = response.headers
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("path", ["/login", "/setup", "/logout", "/p/p-web/comment"])
def test_a_post_without_the_csrf_token_is_refused(client, path):
    client.get("/login")
    response = client.post(path, data={"email": ANNA, "password": "x", "text": "hi"})
    assert response.status_code == 400


def test_a_post_with_another_sessions_csrf_token_is_refused(app, demo):
    with app.test_client() as first, app.test_client() as second:
        token = csrf(first.get("/login").text)
        second.get("/login")
        response = second.post("/login", data={"csrf_token": token, "email": ANNA, "password": "x"})
        assert response.status_code == 400


def test_the_session_id_changes_at_each_login_step_session_fixation(client, demo):
    client.get("/login")
    planted = session_cookie(client)
    response = post(client, "/login", {"email": ANNA, "password": demo.passwords["k-anna"]})
    assert response.status_code == 302
    enrolling = session_cookie(client)
    assert enrolling != planted
    post(client, "/setup", {"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD}, page="/setup")
    signed_in = session_cookie(client)
    assert signed_in not in {planted, enrolling}
    assert client.get("/p/p-web").status_code == 200
    # The planted (pre-login) id and the enrolment id are worth nothing now.
    for old in (planted, enrolling):
        client.set_cookie("severa_portal", old)
        assert client.get("/p/p-web").status_code == 303


def test_the_one_time_password_only_enrols(client, demo):
    """800-63B-4: the emailed code binds an authenticator; it is no authenticator itself."""
    response = post(client, "/login", {"email": ANNA, "password": demo.passwords["k-anna"]})
    assert response.headers["Location"].endswith("/setup")
    assert client.get("/p/p-web").status_code == 303  # enrolling sees no work
    assert client.get("/").status_code == 303


def test_the_one_time_password_works_once_then_the_password(client, demo):
    _signed_in(client, demo)
    post(client, "/logout", {}, page="/p/p-web")
    again = post(client, "/login", {"email": ANNA, "password": demo.passwords["k-anna"]})
    assert again.status_code == 401
    assert "Sähköpostiosoite tai salasana ei kelpaa" in again.text or "not valid" in again.text
    response = post(
        client, "/login", {"email": " Anna@Asiakas.example.com ", "password": GOOD_PASSWORD}
    )
    assert response.status_code == 302
    assert client.get("/p/p-web").status_code == 200


def test_the_invitation_locks_after_five_wrong_tries_the_sdks_lockout(client, demo):
    for _ in range(5):
        wrong = post(client, "/login", {"email": ANNA, "password": "AAAA-AAAA-AAAA-A"})
        assert wrong.status_code == 401
    right = post(client, "/login", {"email": ANNA, "password": demo.passwords["k-anna"]})
    assert right.status_code == 401


def test_login_is_rate_limited_per_client(client, demo):
    codes = [
        post(client, "/login", {"email": f"x{n}@example.com", "password": "nope"}).status_code
        for n in range(11)
    ]
    assert codes[:10] == [401] * 10
    assert codes[10] == 429


@pytest.mark.parametrize(
    ("password", "words"),
    [
        ("short pass", "liian lyhyt"),
        ("Password1234567!", "liian yleinen"),
        ("qwertyuiopasdfgh", "peräkkäisiä"),
        ("anna@asiakas.example.com!", "osoitettasi"),
        ("aaaaaaaaaaaaaaaaaaaa", "liian yleinen"),
    ],
)
def test_a_weak_password_is_refused_with_the_reason(client, demo, password, words):
    post(client, "/login", {"email": ANNA, "password": demo.passwords["k-anna"]})
    response = post(client, "/setup", {"password": password, "confirm": password}, page="/setup")
    assert response.status_code == 400
    assert words in response.text


def test_the_two_passwords_must_match(client, demo):
    post(client, "/login", {"email": ANNA, "password": demo.passwords["k-anna"]})
    response = post(
        client, "/setup", {"password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD + "x"}, page="/setup"
    )
    assert response.status_code == 400


def test_an_idle_session_ends(client, demo):
    _signed_in(client, demo)
    demo.wiring.service.clock.advance(timedelta(minutes=29))
    assert client.get("/p/p-web").status_code == 200
    demo.wiring.service.clock.advance(timedelta(minutes=30))
    response = client.get("/p/p-web")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/login?notice=expired")
    assert "Your session ended" in client.get(response.headers["Location"]).text


def test_a_session_ends_after_the_absolute_timeout_even_when_busy(client, demo):
    _signed_in(client, demo)
    for _ in range(12 * 4):
        demo.wiring.service.clock.advance(timedelta(minutes=15))
        if client.get("/p/p-web").status_code != 200:
            break
    else:
        pytest.fail("the session outlived its absolute timeout")
    assert demo.wiring.service.clock.now() - START == timedelta(hours=12)


def test_logout_ends_the_session(client, demo):
    _signed_in(client, demo)
    cookie = session_cookie(client)
    response = post(client, "/logout", {}, page="/p/p-web")
    assert response.status_code == 302
    client.set_cookie("severa_portal", cookie)
    assert client.get("/p/p-web").status_code == 303


def test_a_rights_change_shows_on_the_next_request_x7(client, demo):
    _signed_in(client, demo)
    assert 'id="section-invoices"' in client.get("/p/p-web").text
    demo.wiring.service.update("p-web", "k-anna", Right.VIEW_HOURS, actor="admin")
    page = client.get("/p/p-web").text
    assert 'id="section-invoices"' not in page
    assert "2026-0042" not in page  # the invoice number is gone with its section
    assert 'id="section-hours"' in page


def test_a_stopped_share_is_unreachable_at_once_x8(client, demo):
    _signed_in(client, demo)
    assert client.get("/p/p-support").status_code == 200
    demo.wiring.service.stop("p-support", "k-anna", actor="admin", confirm=True)
    assert client.get("/p/p-support").status_code == 404
    assert "Support 2026" not in client.get("/p/p-web").text  # gone from the menu (X11)


def test_a_form_from_before_a_rights_change_is_refused_as_changed(client, demo):
    _signed_in(client, demo)
    token = csrf(client.get("/p/p-web").text)
    demo.wiring.service.update("p-web", "k-anna", Right.COMMENT | Right.VIEW_FILES, actor="a")
    response = client.post(
        "/p/p-web/comment",
        data={"csrf_token": token, "share_version": "1", "target": "summary", "text": "Hi"},
    )
    assert response.headers["Location"].endswith("error=changed")
    assert not demo.wiring.projects.load("p-web").comments


def test_approval_records_and_never_touches_billing_x4(client, demo):
    _signed_in(client, demo)
    before = {h.id: h for h in demo.wiring.projects.load("p-web").work_hours}
    page = client.get("/p/p-web").text
    assert "ei vaikuta laskutukseen" in page  # the X4 note, in Anna's language
    response = client.post(
        "/p/p-web/approve",
        data={"csrf_token": csrf(page), "share_version": "1", "hour": ["h1", "h2"]},
    )
    assert response.headers["Location"].endswith("done=approved")
    after = {h.id: h for h in demo.wiring.projects.load("p-web").work_hours}
    for hour_id in ("h1", "h2"):
        assert after[hour_id].customer_approval_id is not None
        assert after[hour_id].billable_status == before[hour_id].billable_status
        assert after[hour_id].billable_amount == before[hour_id].billable_amount
    assert after["h3"].customer_approval_id is None


def test_a_contact_without_approval_right_cannot_approve_by_posting(client, demo):
    _signed_in(client, demo)
    token = csrf(client.get("/p/p-support").text)
    response = client.post(
        "/p/p-support/approve", data={"csrf_token": token, "share_version": "1", "hour": "sh1"}
    )
    assert response.status_code == 403
    assert demo.wiring.projects.load("p-support").work_hours[0].customer_approval_id is None


def test_comments_on_summary_phase_and_file(client, demo):
    _signed_in(client, demo)
    token = csrf(client.get("/p/p-web").text)
    for data in (
        {"target": "summary", "text": "Looks good"},
        {"target": "phase", "target_id": "ph2", "text": "Build on time?"},
        {"item": "file:f1", "text": "Spec read"},
        {"item": "link:l1", "text": "Staging is down"},
    ):
        response = client.post(
            "/p/p-web/comment", data={"csrf_token": token, "share_version": "1", **data}
        )
        assert response.headers["Location"].endswith("done=commented"), data
    page = client.get("/p/p-web").text
    for text in ("Looks good", "Build on time?", "Spec read", "Staging is down"):
        assert text in page


# --- isolation: a contact with A and B never reaches B's data through A's URLs -----------


def test_unshared_and_unknown_works_answer_404_alike(client, demo):
    _signed_in(client, demo, "k-bert", BERT)
    shared = client.get("/p/p-web")
    assert shared.status_code == 200
    for path in ("/p/p-support", "/p/p-internal", "/p/no-such-work"):
        response = client.get(path)
        assert response.status_code == 404
        assert "Support 2026" not in response.text
        assert "99999" not in response.text


def test_another_works_ids_through_this_works_urls_are_refused(client, demo):
    _signed_in(client, demo)  # Anna: p-web (all rights) and p-support (hours, comments)
    token = csrf(client.get("/p/p-support").text)
    # p-web's file through p-support's URL
    assert client.get("/p/p-support/files/f1").status_code == 404
    # p-web's hour, phase and file ids posted to p-support
    for path, data in (
        ("/p/p-support/comment", {"target": "phase", "target_id": "ph1", "text": "x"}),
        ("/p/p-support/comment", {"item": "file:f1", "text": "x"}),
    ):
        response = client.post(path, data={"csrf_token": token, "share_version": "1", **data})
        assert response.status_code in {302, 303, 403}
        assert "done=" not in response.headers.get("Location", "")
    support = demo.wiring.projects.load("p-support")
    assert not support.comments
    # the unshared work through any route
    for path in ("/p/p-internal", "/p/p-internal/files/f1"):
        assert client.get(path).status_code == 404
    response = client.post(
        "/p/p-internal/comment",
        data={"csrf_token": token, "share_version": "1", "target": "summary", "text": "x"},
    )
    assert response.status_code == 404
    assert not demo.wiring.projects.load("p-internal").comments


def test_no_page_of_a_shows_bs_data(client, demo):
    _signed_in(client, demo, "k-bert", BERT)
    page = client.get("/p/p-web").text
    for secret in ("Password reset help", "Olli Tuki", "Internal budget", "99999"):
        assert secret not in page


# --- uploads ------------------------------------------------------------------------------


def _upload(client, name: str, data: bytes, project: str = "p-web"):
    import io

    token = csrf(client.get(f"/p/{project}").text)
    return client.post(
        f"/p/{project}/files",
        data={"csrf_token": token, "share_version": "1", "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_an_accepted_upload_is_recorded_and_downloadable(client, demo):
    _signed_in(client, demo)
    response = _upload(client, "minutes.pdf", b"%PDF-1.7 minutes")
    assert response.headers["Location"].endswith("done=file")
    added = [f for f in demo.wiring.projects.load("p-web").files if f.name == "minutes.pdf"]
    assert added
    assert added[0].content_type == "application/pdf"
    assert added[0].added_by == "k-anna"
    download = client.get(f"/p/p-web/files/{added[0].id}")
    assert download.data == b"%PDF-1.7 minutes"
    assert download.headers["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("tool.exe", b"MZ\x90\x00", "upload_type"),
        ("noext", b"hello", "upload_type"),
        ("fake.pdf", b"MZ\x90\x00 not a pdf", "upload_content"),
        ("empty.txt", b"", "upload_empty"),
    ],
)
def test_uploads_of_refused_types_or_contents_store_nothing(client, demo, name, data, reason):
    _signed_in(client, demo)
    response = _upload(client, name, data)
    assert response.headers["Location"].endswith(f"error={reason}")
    assert len(demo.wiring.projects.load("p-web").files) == 1


def test_an_upload_over_the_limit_is_refused(demo):
    import attrs

    from severa_ext.portal.app import create_app
    from severa_ext.portal.uploads import UploadPolicy

    app = create_app(demo.wiring, attrs.evolve(demo.config, uploads=UploadPolicy(max_bytes=1000)))
    with app.test_client() as client:
        _signed_in(client, demo)
        near = _upload(client, "big.txt", b"x" * 1001)
        assert near.headers["Location"].endswith("error=upload_too-large")
        far = _upload(client, "huge.txt", b"x" * 200_000)
        assert far.status_code == 413
    assert len(demo.wiring.projects.load("p-web").files) == 1


def test_a_contact_without_add_file_cannot_upload(client, demo):
    _signed_in(client, demo)
    response = _upload(client, "x.pdf", b"%PDF-1.4", project="p-support")
    assert response.status_code == 403


# --- mounting ----------------------------------------------------------------------------


def test_mounted_under_a_prefix_links_and_cookie_follow_it(demo):
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.test import Client

    from severa_ext.portal.app import create_app

    def host(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"host"]

    mounted = DispatcherMiddleware(host, {"/extranet": create_app(demo.wiring, demo.config)})
    client = Client(mounted)
    response = client.get("/extranet/login")
    assert response.status_code == 200
    assert 'action="/extranet/login"' in response.text
    assert "/extranet/static/portal.css" in response.text
    assert "Path=/extranet" in response.headers["Set-Cookie"]
    assert client.get("/").text == "host"


def test_a_password_stops_working_when_the_card_holds_another_address_x3(client, demo):
    import attrs

    _signed_in(client, demo)
    post(client, "/logout", {}, page="/p/p-web")
    card = demo.directory.contact("k-anna")
    demo.directory.put_contact(attrs.evolve(card, email="anna@elsewhere.example.com"))
    response = post(client, "/login", {"email": ANNA, "password": GOOD_PASSWORD})
    assert response.status_code == 401


def test_status_change_and_link_x4_x5(client, demo):
    _signed_in(client, demo)
    token = csrf(client.get("/p/p-web").text)
    response = client.post(
        "/p/p-web/status", data={"csrf_token": token, "share_version": "1", "status": "s-review"}
    )
    assert response.headers["Location"].endswith("done=status")
    assert demo.wiring.projects.load("p-web").status.id == "s-review"
    refused = client.post(
        "/p/p-web/status", data={"csrf_token": token, "share_version": "1", "status": "s-hacked"}
    )
    assert refused.headers["Location"].endswith("error=invalid")
    for url, outcome in (
        ("https://docs.example.com/a", "done=link"),
        ("javascript:x", "error=invalid"),
    ):
        response = client.post(
            "/p/p-web/links",
            data={"csrf_token": token, "share_version": "1", "url": url, "title": "Docs"},
        )
        assert response.headers["Location"].endswith(outcome)
    assert [link.url for link in demo.wiring.projects.load("p-web").links][-1] == (
        "https://docs.example.com/a"
    )
