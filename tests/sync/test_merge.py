"""Which fields each side keeps (severa_ext.sync.merge.KeptFields)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from severa_ext.sync.content import MERGE_FIELDS
from severa_ext.sync.merge import ALL_KEPT, KeptFields

_FIELDS = st.sets(st.sampled_from(MERGE_FIELDS)).map(
    lambda kept: tuple(f for f in MERGE_FIELDS if f in kept)
)


@given(_FIELDS, _FIELDS)
def test_missing_on_is_what_the_other_side_keeps_and_this_one_does_not(a, b):
    kept = KeptFields(a, b)
    assert kept.missing_on("a") == tuple(f for f in b if f not in a)
    assert kept.missing_on("b") == tuple(f for f in a if f not in b)
    assert kept.both == tuple(f for f in a if f in b)


def test_kept_fields_compare_by_what_each_side_keeps():
    """The precomputed fields are not part of the value."""
    assert KeptFields() == ALL_KEPT
    assert hash(KeptFields()) == hash(ALL_KEPT)
    assert ALL_KEPT.missing_on("a") == ALL_KEPT.missing_on("b") == ()
    assert "missing" not in repr(ALL_KEPT)
