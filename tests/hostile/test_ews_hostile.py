"""EwsBackend against a hostile server (issue 12): nothing a server sends is trusted.

Redirects never carry the credentials elsewhere, ``SyncFolderItems`` rounds end,
bodies are capped after decompression, slow bodies hit the total deadline, HTML pages
and wrong content types are clear errors, and secrets a server echoes never reach an
exception. Every test is bounded in requests and in time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hostile.server import (
    HostileServer,
    Reply,
    endless,
    gzip_bomb,
    html_login,
    huge,
    json_reply,
    slow,
    within,
    xml_reply,
)
from severa_ext.backends._http import HttpLimits
from severa_ext.backends.ews import EwsBackend, basic_auth
from severa_ext.errors import (
    AuthError,
    BackendUnavailable,
    ConfigError,
    MalformedResponse,
    Throttled,
)
from severa_ext.sync.items import Window

pytestmark = pytest.mark.slow

ALICE = "alice@contoso.com"
PASSWORD = "Pa55-w0rd-SECRET"
PATH = "/EWS/Exchange.asmx"
NOW = datetime(2026, 5, 4, 9, tzinfo=UTC)
WINDOW = Window(NOW - timedelta(days=30), NOW + timedelta(days=90))
LIMITS = HttpLimits(max_body_bytes=2**20, deadline=2.0, max_pages=20)

_ENVELOPE = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>{}</s:Body>'
    "</s:Envelope>"
)
_NS = (
    'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
    'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"'
)


def sync_page(state: str, *, changes: int, last: bool = False) -> Reply:
    """A ``SyncFolderItems`` answer written from the EWS schema, by hand."""
    created = "".join(
        f'<t:Create><t:CalendarItem><t:ItemId Id="{state}-{n}" ChangeKey="ck"/>'
        "</t:CalendarItem></t:Create>"
        for n in range(changes)
    )
    message = (
        f"<m:SyncFolderItemsResponse {_NS}><m:ResponseMessages>"
        '<m:SyncFolderItemsResponseMessage ResponseClass="Success">'
        f"<m:ResponseCode>NoError</m:ResponseCode><m:SyncState>{state}</m:SyncState>"
        f"<m:IncludesLastItemInRange>{str(last).lower()}</m:IncludesLastItemInRange>"
        f"<m:Changes>{created}</m:Changes>"
        "</m:SyncFolderItemsResponseMessage></m:ResponseMessages></m:SyncFolderItemsResponse>"
    )
    return xml_reply(_ENVELOPE.format(message))


def soap_fault(code: str, text: str, *, back_off: str | None = None) -> Reply:
    values = (
        f'<t:Value Name="BackOffMilliseconds">{back_off}</t:Value>' if back_off is not None else ""
    )
    fault = (
        f"<s:Fault><faultcode>s:Client</faultcode><faultstring>{text}</faultstring>"
        f'<detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/'
        f'2006/errors">{code}</e:ResponseCode><e:Message xmlns:e="http://schemas.microsoft.'
        f'com/exchange/services/2006/errors">{text}</e:Message>'
        f'<t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
        f"{values}</t:MessageXml></detail></s:Fault>"
    )
    return xml_reply(_ENVELOPE.format(fault), status=500)


def ews(server: HostileServer, **options) -> EwsBackend:
    options.setdefault("limits", LIMITS)
    return EwsBackend(
        server.url + PATH,
        ALICE,
        auth=basic_auth("svc", PASSWORD),
        allow_loopback_http=True,
        timeout=1.0,
        **options,
    )


# --- plain http -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://mail.contoso.com/EWS/Exchange.asmx", False),
        ("http://mail.contoso.com/EWS/Exchange.asmx", True),  # the option is loopback only
        ("http://127.0.0.1:8080/EWS/Exchange.asmx", False),  # loopback needs the option
        ("http://[::1]:8080/EWS/Exchange.asmx", False),
    ],
)
def test_basic_credentials_over_plain_http_are_refused_naming_the_url(url, allow):
    with pytest.raises(ConfigError, match="plain http") as info:
        EwsBackend(url, ALICE, auth=basic_auth("svc", PASSWORD), allow_loopback_http=allow)
    assert url.split("/EWS")[0] in str(info.value)
    assert PASSWORD not in str(info.value)


def test_bearer_tokens_over_plain_http_are_refused():
    class Tokens:
        def token(self):
            return "t"

        def invalidate(self):
            pass

    with pytest.raises(ConfigError, match="plain http"):
        EwsBackend("http://mail.contoso.com/EWS/Exchange.asmx", ALICE, token_provider=Tokens())


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "localhost"])
def test_a_loopback_test_server_is_allowed_with_the_option(host):
    EwsBackend(
        f"http://{host}:8080/EWS/Exchange.asmx",
        ALICE,
        auth=basic_auth("svc", PASSWORD),
        allow_loopback_http=True,
    ).close()


# --- redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_with_the_credentials(hostile, evil, status):
    hostile.route(PATH, Reply(status=status, headers=(("Location", evil.url + PATH),)))
    with ews(hostile) as backend, pytest.raises(BackendUnavailable, match="redirect") as info:
        backend.changes(None, WINDOW)
    assert info.value.code == str(status)
    assert len(hostile.requests) == 1


# --- endless rounds -------------------------------------------------------------------------


def test_a_sync_state_that_changes_without_changes_is_a_loop(hostile):
    def idle(request, server):
        return sync_page(f"state-{len(server.requests)}", changes=0)

    hostile.route(PATH, idle)
    done_in_time = within(3)
    with ews(hostile) as backend, pytest.raises(MalformedResponse, match="loop") as info:
        backend.changes(None, WINDOW)
    assert info.value.code == "paging-loop"
    assert len(hostile.requests) == 4
    assert done_in_time()


def test_a_sync_state_that_comes_back_is_a_loop(hostile):
    def ping_pong(request, server):
        return sync_page(f"state-{len(server.requests) % 2}", changes=1)

    hostile.route(PATH, ping_pong)
    with ews(hostile) as backend, pytest.raises(MalformedResponse, match="loop"):
        backend.changes(None, WINDOW)
    assert len(hostile.requests) == 3


def test_endless_pages_with_changes_stop_at_the_page_cap(hostile):
    def busy(request, server):
        return sync_page(f"state-{len(server.requests)}", changes=1)

    hostile.route(PATH, busy)
    done_in_time = within(10)
    with ews(hostile) as backend, pytest.raises(MalformedResponse, match="20 pages") as info:
        backend.changes(None, WINDOW)
    assert info.value.code == "too-many-pages"
    assert len(hostile.requests) == 20
    assert done_in_time()


# --- bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        huge(30 * 2**20, content_type="text/xml"),
        gzip_bomb(100 * 2**20, content_type="text/xml"),
        endless(content_type="text/xml"),
    ],
    ids=["huge", "gzip-bomb", "endless"],
)
def test_oversized_answers_are_cut_at_the_cap(hostile, reply):
    hostile.route(PATH, reply)
    done_in_time = within(5)
    with ews(hostile) as backend, pytest.raises(MalformedResponse, match="larger than") as info:
        backend.changes(None, WINDOW)
    assert info.value.code == "too-large"
    assert done_in_time()


def test_a_slow_body_hits_the_total_deadline(hostile):
    hostile.route(PATH, slow(b"<x/>" * 50, byte_delay=0.1, content_type="text/xml"))
    done_in_time = within(4)
    with ews(hostile) as backend, pytest.raises(BackendUnavailable, match="within 2 s"):
        backend.changes(None, WINDOW)
    assert done_in_time()


@pytest.mark.parametrize(
    "reply",
    [
        html_login(),
        Reply(chunks=(b"<html><body>Sign in</body></html>",), content_type="text/xml"),
        json_reply({"value": []}),
        Reply(chunks=(b'<?xml version="1.0"?><feed/>',), content_type="text/xml"),
    ],
    ids=["html-login", "html-as-xml", "json", "not-soap"],
)
def test_answers_that_are_not_soap_are_malformed(hostile, reply):
    hostile.route(PATH, reply)
    with ews(hostile) as backend, pytest.raises(MalformedResponse):
        backend.changes(None, WINDOW)


def test_an_entity_bomb_is_refused(hostile):
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&lol2;'
        "</s:Body></s:Envelope>"
    )
    hostile.route(PATH, xml_reply(bomb))
    with ews(hostile) as backend, pytest.raises(MalformedResponse, match="unsafe XML"):
        backend.changes(None, WINDOW)


# --- what a server says back ----------------------------------------------------------------


def test_secrets_a_server_echoes_never_reach_the_exception(hostile):
    echo = f"Access denied for svc password={PASSWORD}; Authorization: Basic c3ZjOlBhNTU"
    hostile.route(PATH, soap_fault("ErrorAccessDenied", echo))
    with ews(hostile) as backend, pytest.raises(AuthError) as info:
        backend.changes(None, WINDOW)
    assert PASSWORD not in str(info.value)
    assert "c3ZjOlBhNTU" not in str(info.value)
    assert info.value.code == "ErrorAccessDenied"
    assert "ErrorAccessDenied" in str(info.value)


@pytest.mark.parametrize(
    ("back_off", "expected"), [("2500", 2.5), ("soon", 1.0), ("99999999999", 3600.0)]
)
def test_server_busy_is_throttled_once_with_a_bounded_back_off(hostile, back_off, expected):
    hostile.route(PATH, soap_fault("ErrorServerBusy", "busy", back_off=back_off))
    with ews(hostile) as backend, pytest.raises(Throttled) as info:
        backend.changes(None, WINDOW)
    assert info.value.retry_after == expected
    assert len(hostile.requests) == 1  # reported, never waited for or retried here


def test_http_503_with_a_garbage_retry_after_is_throttled_with_the_default(hostile):
    hostile.route(
        PATH,
        Reply(status=503, chunks=(b"busy",), content_type="text/plain",
              headers=(("Retry-After", "later"),)),
    )  # fmt: skip
    with ews(hostile) as backend, pytest.raises(Throttled) as info:
        backend.changes(None, WINDOW)
    assert info.value.retry_after == 1.0
