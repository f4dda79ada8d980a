"""The one email rule set (X3, X9; COMMON contract 6): ``severa_ext.domain.normalize_email``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from severa_ext.domain import normalize_email
from severa_ext.errors import EmailAddressError, ValidationError


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("anna@example.com", "anna@example.com"),
        (" Anna.Virtanen@Example.COM\t", "anna.virtanen@example.com"),
        ("a@Bücher.de", "a@xn--bcher-kva.de"),
        ("first+tag@sub.example.fi", "first+tag@sub.example.fi"),
    ],
)
def test_valid_addresses_get_one_normal_form(written, normal):
    assert normalize_email(written) == normal


@pytest.mark.parametrize("missing", [None, "", "   ", 42, b"a@example.com"])
def test_a_missing_address_says_missing(missing):
    with pytest.raises(EmailAddressError) as caught:
        normalize_email(missing)
    assert caught.value.reason == "missing"
    assert isinstance(caught.value, ValidationError)


@pytest.mark.parametrize(
    "invalid",
    [
        "not-an-address",
        "a@b",
        "Anna <anna@example.com>",
        '"quoted"@example.com',
        "ä@example.fi",
        "anna@[127.0.0.1]",
        "a@example.com\r\nBcc: x@example.com",
        "x" * 250 + "@example.com",
    ],
)
def test_invalid_addresses_are_refused_with_a_reason(invalid):
    with pytest.raises(EmailAddressError) as caught:
        normalize_email(invalid)
    assert caught.value.reason not in ("", "missing")


@given(st.text(max_size=80))
def test_any_text_either_normalises_idempotently_or_raises_our_error(text):
    try:
        normal = normalize_email(text)
    except EmailAddressError:
        return
    assert normalize_email(normal) == normal
    assert normal == normal.strip().lower()
    assert normal.isascii()
