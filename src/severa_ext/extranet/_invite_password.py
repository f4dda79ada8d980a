"""One-time password alphabet, generation, grouping and candidate normalisation.

The alphabet has no look-alike characters (no ``0``/``O``, no ``1``/``l``/``I``) and
only upper-case letters, so a verifier that folds case can never confuse two symbols:
``l`` folds to ``L``, which is not in the alphabet either.
"""

from __future__ import annotations

import math
import secrets
import unicodedata

__all__ = [
    "ALPHABET",
    "GROUP",
    "MAX_CANDIDATE_CHARS",
    "bits_per_symbol",
    "canonical",
    "generate",
    "group",
    "length_for_bits",
]

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""31 symbols: digits 2-9 and A-Z without I, L and O."""

GROUP = 4
"""Symbols per group when read aloud or printed (``XXXX-XXXX-XXXX-X``)."""

MAX_CANDIDATE_CHARS = 256
"""Longer candidates are wrong by definition (and are never normalised in full)."""

_SEPARATORS = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u00ad")


def bits_per_symbol() -> float:
    """Entropy of one symbol drawn uniformly from :data:`ALPHABET`, in bits."""
    return math.log2(len(ALPHABET))


def length_for_bits(bits: int) -> int:
    """The fewest symbols that carry at least ``bits`` bits of entropy."""
    length = math.ceil(bits / bits_per_symbol())
    while length * bits_per_symbol() < bits:  # guard against float rounding
        length += 1
    return length


def generate(length: int) -> str:
    """Draw ``length`` symbols uniformly with :mod:`secrets` (no grouping)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def group(symbols: str) -> str:
    """Split a canonical password into dash-separated groups for reading aloud."""
    return "-".join(symbols[i : i + GROUP] for i in range(0, len(symbols), GROUP))


def canonical(candidate: str) -> str | None:
    """Fold what a person typed into the canonical form, or ``None`` if it cannot match.

    Compatibility forms (full-width letters) are folded by NFKC, case is ignored, and
    spaces, dashes and other separators are dropped. A result with a symbol outside
    the alphabet, or an over-long input, gives ``None``.
    """
    if len(candidate) > MAX_CANDIDATE_CHARS:
        return None
    folded = unicodedata.normalize("NFKC", candidate).upper()
    kept = "".join(ch for ch in folded if not ch.isspace() and ch not in _SEPARATORS)
    if not kept or any(ch not in ALPHABET for ch in kept):
        return None
    return kept
