"""Memorised secrets as NIST SP 800-63B-4 (section 3.1.1) asks, hashed with Argon2id.

:class:`PasswordPolicy` checks a new password: at least 15 characters when the password
is the only factor (the portal's case), up to at least 64 (default 128), every printing
character and space allowed, Unicode normalised (NFKC) before counting and hashing, no
composition rules, no forced expiry. It refuses what attackers try first: a password
whose letters are a commonly chosen base (``common-passwords.txt`` beside this module,
digits and punctuation stripped: ``Password1234567!`` is ``password``), a run of one
character or keyboard row, the contact's own address or the product's name, and
anything a host's :class:`Blocklist` (a breached-password corpus) knows.

:class:`PasswordHasher` stores what the policy accepted as an Argon2id hash (the PHC
string carries its parameters, so a host can raise the cost later, see
:meth:`PasswordHasher.needs_rehash`).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from importlib.resources import files
from typing import Protocol, runtime_checkable

import attrs

from severa_ext.errors import ValidationError
from severa_ext.portal.errors import WeakPassword

__all__ = ["Blocklist", "PasswordHasher", "PasswordPolicy", "normalize_secret"]

_KEYBOARD = ("qwertyuiopasdfghjklzxcvbnm", "abcdefghijklmnopqrstuvwxyz", "01234567890")
_NOT_LETTER = re.compile(r"[\W\d_]+", re.UNICODE)


def normalize_secret(value: str) -> str:
    """NFKC-normalise a typed secret (800-63B-4: before length checks and hashing)."""
    return unicodedata.normalize("NFKC", value)


@runtime_checkable
class Blocklist(Protocol):
    """A host's list of breached or forbidden passwords (e.g. a k-anonymity range API)."""

    def contains(self, password: str) -> bool:
        """Whether ``password`` (NFKC-normalised) is known to be breached or forbidden."""
        ...


@cache
def _common_bases() -> frozenset[str]:
    text = files("severa_ext.portal").joinpath("common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


_LEET = {"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "5": "s", "$": "s", "7": "t"}
_LOOK_ALIKE = re.compile(r"(?<=[^\W\d_])[@4013!5$7]|[@4013!5$7](?=[^\W\d_])")


def _cores(lowered: str) -> set[str]:
    """The letters of a password, as typed and with look-alikes next to letters read as
    letters (``p@ssw0rd``)."""
    read = _LOOK_ALIKE.sub(lambda m: _LEET[m.group()], lowered)
    return {_NOT_LETTER.sub("", lowered), _NOT_LETTER.sub("", read)}


def _short_repeat(core: str) -> bool:
    return any(
        len(core) % size == 0 and core[:size] * (len(core) // size) == core
        for size in range(1, min(3, len(core) // 2) + 1)
    )


def _made_of_bases(core: str, bases: frozenset[str]) -> bool:
    """Whether ``core`` is one or more common bases run together (``passwordpassword``)."""
    longest = max(map(len, bases))
    reach = [True] + [False] * len(core)
    for end in range(1, len(core) + 1):
        reach[end] = any(
            reach[start] and core[start:end] in bases for start in range(max(0, end - longest), end)
        )
    return reach[-1]


def _sequential(text: str) -> bool:
    squeezed = text.lower().replace(" ", "")
    return any(squeezed in row or squeezed in row[::-1] for row in _KEYBOARD)


@attrs.frozen(kw_only=True)
class PasswordPolicy:
    """The rules for a new password (single-factor: 800-63B-4 asks for 15 characters).

    Attributes:
        min_length: at least 15 (single-factor), in characters after NFKC.
        max_length: at least 64 (the portal accepts at least that much).
        blocklist: the host's breached-password corpus, checked after the built-in list.
    """

    min_length: int = attrs.field(default=15)
    max_length: int = attrs.field(default=128)
    blocklist: Blocklist | None = None

    def __attrs_post_init__(self) -> None:
        if self.min_length < 15:
            raise ValidationError(
                f"PasswordPolicy.min_length must be at least 15 for a single-factor password "
                f"(NIST SP 800-63B-4), got {self.min_length}"
            )
        if self.max_length < max(64, self.min_length):
            raise ValidationError(
                f"PasswordPolicy.max_length must be at least 64, got {self.max_length}"
            )

    def check(self, password: str, *, context: tuple[str, ...] = ()) -> str:
        """Return the normalised password, or refuse it.

        Args:
            password: the new password as typed.
            context: words it must not contain (the address, its local part, the
                product name), compared without case.

        Returns:
            The NFKC-normalised password, to hash.

        Raises:
            WeakPassword: ``reason`` says which rule refused it.
        """
        if not isinstance(password, str):
            raise WeakPassword("the password must be text", reason="too-short")
        secret = normalize_secret(password)
        if len(secret) < self.min_length:
            raise WeakPassword(
                f"the password has {len(secret)} characters; at least {self.min_length} are needed",
                reason="too-short",
            )
        if len(secret) > self.max_length:
            raise WeakPassword(
                f"the password has {len(secret)} characters; at most {self.max_length} "
                "are accepted",
                reason="too-long",
            )
        self._check_guessable(secret, context)
        return secret

    def _check_guessable(self, secret: str, context: tuple[str, ...]) -> None:
        lowered = secret.lower()
        cores = _cores(lowered)
        bases = _common_bases()
        if any(not c or _short_repeat(c) or _made_of_bases(c, bases) for c in cores):
            raise WeakPassword("the password is a commonly chosen one", reason="common")
        core = _NOT_LETTER.sub("", lowered)
        if _sequential(secret) or len(set(lowered)) < 4:
            raise WeakPassword("the password is a run of repeated characters", reason="repetitive")
        for given in context:
            word = normalize_secret(given).lower().strip()
            if len(word) >= 3 and (word in lowered or (core and core in word)):
                raise WeakPassword(
                    "the password holds your address or the service's name", reason="context"
                )
        if self.blocklist is not None and self.blocklist.contains(secret):
            raise WeakPassword("the password is known from a data breach", reason="common")


class PasswordHasher:
    """Argon2id hashes of accepted passwords (``argon2-cffi``, the ``portal`` extra).

    Args:
        time_cost: Argon2 iterations (default 3, argon2-cffi's RFC 9106 low-memory profile).
        memory_cost: KiB of memory per hash (default 65536 = 64 MiB).
        parallelism: lanes (default 4).
    """

    def __init__(self, *, time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 4):
        from argon2 import PasswordHasher as _Argon2

        self._hasher = _Argon2(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )
        self._dummy_hash = self._hasher.hash("dummy password for constant work")

    def __repr__(self) -> str:
        h = self._hasher
        return f"PasswordHasher(time_cost={h.time_cost}, memory_cost={h.memory_cost})"

    def hash(self, secret: str) -> str:
        """The PHC string of ``secret`` (already normalised by the policy)."""
        return self._hasher.hash(secret)

    def verify(self, stored: str, candidate: str) -> bool:
        """Whether ``candidate`` (normalised here) matches the stored hash; never raises."""
        from argon2.exceptions import Argon2Error

        try:
            return self._hasher.verify(stored, normalize_secret(candidate))
        except (Argon2Error, ValueError, TypeError):
            return False

    def dummy_verify(self) -> None:
        """Spend the time of one verification (an unknown address costs what a known does)."""
        self.verify(self._dummy_hash, "x")

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made with other parameters than this hasher's."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except (ValueError, TypeError):
            return True
