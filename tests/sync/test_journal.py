"""The journal's redaction (S6): secrets go, error codes stay.

Support reads the journal to continue with the mail provider, so the codes that name
a problem (``invalid_client``, ``AADSTS`` numbers, Graph and EWS response codes) must
survive, while tokens, passwords and client secrets never do.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from severa_ext.sync.journal import redact

CODES = [
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "AADSTS7000215",
    "AADSTS50126",
    "InvalidAuthenticationToken",
    "Authorization_RequestDenied",
    "MailboxNotEnabledForRESTAPI",
    "ErrorAccessDenied",
    "ErrorImpersonateUserDenied",
    "ErrorServerBusy",
    "ErrorNonExistentMailbox",
    "syncStateNotFound",
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid '
            'client secret provided."}',
            '{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid '
            'client secret provided."}',
        ),
        (
            "InvalidAuthenticationToken: Access token has expired.",
            "InvalidAuthenticationToken: Access token has expired.",
        ),
        ("Basic authentication is disabled", "Basic authentication is disabled"),
        ("NTLM negotiation failed", "NTLM negotiation failed"),
        ("password: AADSTS50126 invalid", "password: AADSTS50126 invalid"),
        ("token=invalid_grant", "token=invalid_grant"),
        ("EWS GetItem: ErrorAccessDenied: denied", "EWS GetItem: ErrorAccessDenied: denied"),
    ],
)
def test_error_codes_and_plain_words_stay(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("401: Bearer eyJhbGciOi.abc.def failed", "eyJhbGciOi"),
        ("Authorization: Bearer opaque-token-value", "opaque-token-value"),
        ("Authorization: NTLM TlRMTVNTUAABAAAAB4IIog==", "TlRMTVNTUAABAAAAB4IIog"),
        ("client_secret=Zx8~Qv_secret&grant_type=client_credentials", "Zx8~Qv_secret"),
        ('{"access_token": "abc.def.ghi", "token_type": "Bearer"}', "abc.def.ghi"),
        ("refresh_token=0.AXoA-r3fR", "0.AXoA-r3fR"),
        ("login failed: password=hunter2", "hunter2"),
        ("https://svc:Pa55w0rd@mail.contoso.com/EWS/Exchange.asmx", "Pa55w0rd"),
        ("Basic c3ZjOlBhNTV3MHJk", "c3ZjOlBhNTV3MHJk"),
        ("id eyJ0eXAiOiJKV1QiLCJhbGci.eyJzdWIiOiIxMjM0NTY3.sig", "eyJ0eXAiOiJKV1QiLCJhbGci"),
    ],
)
def test_secrets_go(text, secret):
    cleared = redact(text)
    assert secret not in cleared
    assert "[REDACTED" in cleared


@given(
    code=st.sampled_from(CODES),
    secret=st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~",
        min_size=8,
        max_size=40,
    ).filter(lambda s: any(c.isdigit() for c in s) and not s.startswith(("AADSTS", "Error"))),
    template=st.sampled_from(
        [
            "{code}: token refused (access_token={secret})",
            "{code} Authorization: Bearer {secret}",
            '{{"error": "{code}", "client_secret": "{secret}"}}',
            "{code}: password={secret}; retry later",
            "{code} while calling https://svc:{secret}@mail.example/EWS",
        ]
    ),
)
def test_codes_stay_while_secrets_go(code, secret, template):
    cleared = redact(template.format(code=code, secret=secret))
    assert code in cleared
    assert secret not in cleared
