"""KDF bounds (issue 12): no accepted cost makes ``derive`` fail, none is absurd.

A ``ScryptKdf`` that constructs always derives: parameters OpenSSL would refuse (``n``
too large for ``r``, more memory than ``hashlib.scrypt`` may be given) and costs far
beyond the default (a tampered record asking a minute of CPU per verify) are refused
when the KDF is built, so when an issuer is configured and when a stored record is
loaded, with a ``ValidationError`` naming the parameter.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from extranet.invite_fixtures import BRANDING, CHEAP, Pair
from severa_ext.domain import ContactPerson
from severa_ext.errors import ValidationError
from severa_ext.extranet.invites import (
    DEFAULT_KDF,
    MAX_KDF_MEMORY,
    MAX_KDF_WORK,
    InviteIssuer,
    ScryptKdf,
    record_from_dict,
    record_to_dict,
)

T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"n": 2**17, "r": 1}, "ScryptKdf.n"),  # OpenSSL: n must be < 2**(16 r)
        ({"n": 2**16, "r": 1}, "ScryptKdf.n"),
        ({"n": 2**20, "r": 32, "p": 16}, "memory"),  # 4 GiB: beyond hashlib's maxmem
        ({"n": 2**20, "r": 8, "p": 1}, "memory"),  # 1 GiB per verify
        ({"n": 2**16, "r": 8, "p": 16}, "work"),  # 32 times the default work per verify
        ({"n": 2**14, "r": 32, "p": 16}, "work"),
    ],
)
def test_costs_that_would_fail_or_take_minutes_are_refused(params, named):
    with pytest.raises(ValidationError, match=named):
        ScryptKdf(**params)


def test_the_default_and_the_rfc_vector_costs_are_accepted():
    assert DEFAULT_KDF.memory_bytes <= MAX_KDF_MEMORY
    assert DEFAULT_KDF.work <= MAX_KDF_WORK
    ScryptKdf(n=1024, r=8, p=16, dklen=64)  # RFC 7914's test vector


def test_the_bounds_leave_room_above_the_default():
    assert 8 * DEFAULT_KDF.work <= MAX_KDF_WORK
    assert 4 * DEFAULT_KDF.memory_bytes <= MAX_KDF_MEMORY
    assert MAX_KDF_MEMORY < 2**31 - 1  # what hashlib.scrypt's maxmem takes at most


@given(
    log_n=st.integers(1, 20),
    r=st.integers(1, 32),
    p=st.integers(1, 16),
    dklen=st.integers(16, 64),
)
def test_every_kdf_that_constructs_can_derive(log_n, r, p, dklen):
    """Issue 12: no parameters pass validation and then fail inside ``derive``."""
    try:
        kdf = ScryptKdf(n=2**log_n, r=r, p=p, dklen=dklen)
    except ValidationError:
        return
    assert kdf.work <= MAX_KDF_WORK
    assert kdf.memory_bytes <= MAX_KDF_MEMORY
    assert kdf.n < 2 ** (16 * kdf.r)
    if kdf.work <= 2**14:  # cheap enough to run here; the rest is covered by the bounds
        assert len(kdf.derive(b"secret", b"0123456789abcdef")) == dklen
    else:  # hashlib accepts the arguments derive would give it (checked without running)
        assert kdf.maxmem <= 2**31 - 1


def test_an_issuer_cannot_be_configured_with_a_cost_outside_the_bounds():
    with pytest.raises(ValidationError, match="ScryptKdf"):
        InviteIssuer(BRANDING, kdf=ScryptKdf(n=2**17, r=1))


def test_a_tampered_record_with_an_absurd_cost_is_refused_when_loaded():
    contact = ContactPerson("c1", "cust", email="anna@example.com")
    record = InviteIssuer(BRANDING, kdf=CHEAP).issue(Pair("p1", "c1"), contact, now=T0).record
    data = record_to_dict(record)
    for kdf in ({"n": 2**20, "r": 32, "p": 16}, {"n": 2**17, "r": 1, "p": 1}):
        tampered = {**data, "kdf": {**data["kdf"], **kdf}}
        with pytest.raises(ValidationError, match="invalid stored invite record") as caught:
            record_from_dict(tampered)
        assert "ScryptKdf" in str(caught.value)


def test_derive_gives_hashlib_exactly_its_memory_bound():
    kdf = ScryptKdf(n=2**10, r=8, p=2)
    expected = hashlib.scrypt(b"pw", salt=b"s" * 16, n=2**10, r=8, p=2, dklen=32)
    assert kdf.derive(b"pw", b"s" * 16) == expected
    assert kdf.maxmem >= kdf.memory_bytes
