"""The portal's pure parts: the password policy, sessions, rate limits, uploads, words."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from severa_ext.errors import ConfigError, SeveraExtError, ValidationError
from severa_ext.extranet.views import GanttBar
from severa_ext.portal import _render
from severa_ext.portal.config import PortalConfig
from severa_ext.portal.errors import UploadRefused, WeakPassword
from severa_ext.portal.i18n import TEXTS, language_of
from severa_ext.portal.passwords import PasswordHasher, PasswordPolicy
from severa_ext.portal.ratelimit import MemoryRateLimiter
from severa_ext.portal.sessions import (
    MemorySessionStore,
    SessionStage,
    new_session,
    rotated,
    session_expired,
)
from severa_ext.portal.uploads import UploadPolicy

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# --- passwords: NIST SP 800-63B-4 section 3.1.1 ---------------------------------------


def test_single_factor_passwords_need_15_characters_and_accept_at_least_64():
    policy = PasswordPolicy()
    with pytest.raises(WeakPassword) as short:
        policy.check("fourteen chars")
    assert short.value.reason == "too-short"
    assert policy.check("fifteen chars!!") == "fifteen chars!!"
    long_one = "correct pony staple " * 6  # 120 characters, spaces allowed
    assert policy.check(long_one) == long_one
    with pytest.raises(WeakPassword) as too_long:
        policy.check("x7" * 65)
    assert too_long.value.reason == "too-long"


def test_the_policy_cannot_be_weakened_below_the_standard():
    with pytest.raises(ValidationError):
        PasswordPolicy(min_length=8)
    with pytest.raises(ValidationError):
        PasswordPolicy(max_length=32)


def test_unicode_is_normalised_before_counting_and_hashing():
    policy = PasswordPolicy()
    composed = policy.check("e\u0301te\u0301 a\u0300 la plage 42")
    assert composed == "\u00e9t\u00e9 \u00e0 la plage 42"


@pytest.mark.parametrize(
    "password",
    [
        "Password1234567!",
        "p@ssw0rd 2026 password",
        "qwertyqwertyqwerty",
        "salasana12345678",
        "lösenord-lösenord",
        "iloveyou iloveyou",
        "123456789012345",
        "abcabcabcabcabcabc",
    ],
)
def test_commonly_chosen_passwords_are_refused(password):
    with pytest.raises(WeakPassword):
        PasswordPolicy().check(password)


def test_the_address_and_product_name_are_refused_as_context():
    with pytest.raises(WeakPassword) as refused:
        PasswordPolicy().check(
            "Anna.Asiakas rules 2026", context=("anna.asiakas@example.com", "anna.asiakas")
        )
    assert refused.value.reason == "context"


def test_a_host_blocklist_is_consulted():
    class Breached:
        def contains(self, password: str) -> bool:
            return password == "tangerine violin 1984"

    policy = PasswordPolicy(blocklist=Breached())
    with pytest.raises(WeakPassword) as refused:
        policy.check("tangerine violin 1984")
    assert refused.value.reason == "common"
    assert policy.check("tangerine violin 1985")


def test_weak_password_is_one_of_ours():
    assert issubclass(WeakPassword, SeveraExtError)
    assert issubclass(UploadRefused, ValidationError)


def test_passwords_are_hashed_with_argon2id_and_verified():
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    stored = hasher.hash("purple tractor sings")
    assert stored.startswith("$argon2id$")
    assert "purple" not in stored
    assert hasher.verify(stored, "purple tractor sings")
    assert not hasher.verify(stored, "purple tractor sing")
    assert not hasher.verify("not a hash", "x")  # never raises
    assert PasswordHasher(time_cost=2, memory_cost=8, parallelism=1).needs_rehash(stored)


# --- sessions -------------------------------------------------------------------------


def test_sessions_hide_their_id_and_token():
    session = new_session(T0)
    assert session.id not in repr(session)
    assert session.csrf_token not in repr(session)
    assert session.stage is SessionStage.ANONYMOUS


def test_rotation_changes_id_and_token_and_restarts_the_clock():
    session = new_session(T0)
    later = T0 + timedelta(minutes=5)
    fresh = rotated(session, later, stage=SessionStage.SIGNED_IN, contact_id="k1")
    assert fresh.id != session.id
    assert fresh.csrf_token != session.csrf_token
    assert fresh.created_at == later
    assert fresh.contact_id == "k1"


@given(idle=st.integers(0, 3000), age=st.integers(0, 50_000))
def test_a_session_expires_exactly_at_either_timeout(idle, age):
    session = new_session(T0 - timedelta(seconds=age))
    session = rotated(session, T0 - timedelta(seconds=age))
    seen = T0 - timedelta(seconds=min(idle, age))
    import attrs

    session = attrs.evolve(session, last_seen=seen)
    expired = session_expired(
        session, T0, idle=timedelta(seconds=1800), absolute=timedelta(seconds=43_200)
    )
    assert expired == (min(idle, age) >= 1800 or age >= 43_200)


def test_the_memory_store_keys_by_a_digest_of_the_id():
    store = MemorySessionStore()
    session = new_session(T0)
    store.put(session)
    assert store.get(session.id) == session
    assert session.id not in repr(store._sessions)
    store.delete(session.id)
    assert store.get(session.id) is None


# --- rate limits --------------------------------------------------------------------------


def test_the_rate_limit_is_a_sliding_window():
    limiter = MemoryRateLimiter(limit=3, window=timedelta(minutes=10))
    assert [limiter.hit("a", T0 + timedelta(minutes=m)) for m in (0, 1, 2)] == [None] * 3
    wait = limiter.hit("a", T0 + timedelta(minutes=3))
    assert wait == pytest.approx(7 * 60)
    assert limiter.hit("b", T0) is None  # per key
    assert limiter.hit("a", T0 + timedelta(minutes=10)) is None  # the first hit left


# --- uploads ------------------------------------------------------------------------------


def test_uploads_take_our_media_type_and_check_signatures():
    policy = UploadPolicy(max_bytes=100)
    assert policy.accept("Report.PDF", b"%PDF-1.4") == "application/pdf"
    assert policy.accept("notes.txt", b"anything") == "text/plain"
    for name, data, reason in (
        ("a.pdf", b"x" * 101, "too-large"),
        ("a.pdf", b"", "empty"),
        ("a.exe", b"MZ", "type"),
        ("a.png", b"GIF89a", "content"),
        ("a.docx", b"%PDF-", "content"),
    ):
        with pytest.raises(UploadRefused) as refused:
            policy.accept(name, data)
        assert refused.value.reason == reason


# --- configuration and words ----------------------------------------------------------------


def test_config_is_checked():
    with pytest.raises(ConfigError):
        PortalConfig(accent_colour="red; } body { display: none")
    with pytest.raises(ConfigError):
        PortalConfig(cookie_name="bad name")
    with pytest.raises(ConfigError):
        PortalConfig(idle_timeout=timedelta(0))
    with pytest.raises(ConfigError):
        PortalConfig(same_site="None")


def test_every_language_has_every_word():
    keys = set(TEXTS["en"])
    for language in ("fi", "sv"):
        assert set(TEXTS[language]) == keys
    assert language_of("fi-FI") == "fi"
    assert language_of("sv_SE") == "sv"
    assert language_of("de") == "en"
    assert language_of(None, "fi") == "fi"


def test_dates_and_amounts_in_each_language():
    day = date(2026, 3, 2)
    assert _render.day(day, "fi") == "2.3.2026"
    assert _render.day(day, "sv") == "2026-03-02"
    assert _render.day(day, "en") == "2 Mar 2026"
    assert _render.amount(Decimal("1520"), "EUR", "fi") == "1\u00a0520,00 EUR"
    assert _render.amount(Decimal("1520"), "EUR", "en") == "1,520.00 EUR"


def test_gantt_bars_stay_inside_the_chart():
    bars = (
        GanttBar("a", "A", date(2026, 1, 1), date(2026, 1, 11)),
        GanttBar("b", "B", date(2026, 1, 6), date(2026, 1, 21)),
        GanttBar("c", "C", None, None),
    )
    rows = _render.gantt_rows(bars)
    assert (rows[0].x, rows[0].width) == (0.0, 50.0)
    assert (rows[1].x, rows[1].width) == (25.0, 75.0)
    assert rows[2].x is None
