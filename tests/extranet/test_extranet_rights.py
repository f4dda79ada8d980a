"""Rights (X4, X5): flags, groups, dependencies, names, and serialization through cattrs."""

from __future__ import annotations

import functools
import json
import operator
from datetime import UTC, datetime, timedelta

import cattrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severa_ext.domain import ProjectStatus
from severa_ext.errors import RightsError, ShareConflict, ValidationError
from severa_ext.extranet import (
    DEPENDENCIES,
    Approval,
    AuditEvent,
    AuditKind,
    MemoryAuditLog,
    MemoryShareStore,
    Right,
    Share,
    ShareStore,
    codec,
    register_rights_hooks,
    rights_from_names,
    rights_to_names,
    validate_rights,
    with_dependencies,
)
from severa_ext.extranet.audit import AuditLog
from support import scaled

R = Right
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
any_rights = st.frozensets(st.sampled_from(list(Right))).map(
    lambda rs: functools.reduce(operator.or_, rs, Right(0))
)


def test_x5_dependencies_are_the_documented_ones():
    assert dict(DEPENDENCIES) == {
        R.VIEW_HOUR_TIMES: R.VIEW_HOURS,
        R.APPROVE_HOURS: R.VIEW_HOURS,
        R.CHANGE_STATUS: R.VIEW_STATUS,
        R.ADD_FILES: R.VIEW_FILES,
    }


@pytest.mark.parametrize(
    ("rights", "missing", "words"),
    [
        (R.VIEW_HOUR_TIMES, ("VIEW_HOURS",), "VIEW_HOUR_TIMES needs VIEW_HOURS"),
        (R.APPROVE_HOURS | R.COMMENT, ("VIEW_HOURS",), "APPROVE_HOURS needs VIEW_HOURS"),
        (R.CHANGE_STATUS, ("VIEW_STATUS",), "CHANGE_STATUS needs VIEW_STATUS"),
        (R.ADD_FILES, ("VIEW_FILES",), "ADD_FILES needs VIEW_FILES"),
        (R.ADD_FILES | R.CHANGE_STATUS, ("VIEW_FILES", "VIEW_STATUS"), "ADD_FILES needs"),
    ],
)
def test_x5_missing_dependency_is_named(rights, missing, words):
    with pytest.raises(RightsError, match=words) as refused:
        validate_rights(rights)
    assert refused.value.missing == missing
    assert refused.value.unknown == ()
    assert isinstance(refused.value, ValueError)


def test_x4_comment_needs_no_other_right():
    assert validate_rights(R.COMMENT) == R.COMMENT


@given(any_rights)
def test_x5_validation_agrees_with_the_dependency_table(rights):
    ok = all(needed in rights for needer, needed in DEPENDENCIES.items() if needer in rights)
    if ok:
        assert validate_rights(rights) == rights
    else:
        with pytest.raises(RightsError):
            validate_rights(rights)
    fixed = with_dependencies(rights)
    assert validate_rights(fixed) == fixed
    assert rights in fixed
    if ok:
        assert fixed == rights


def test_validate_rights_refuses_non_rights():
    with pytest.raises(RightsError, match="Right flag"):
        validate_rights(3)


@given(any_rights.map(with_dependencies))
@settings(max_examples=scaled(100))
def test_names_round_trip_sorted(rights):
    names = rights_to_names(rights)
    assert names == sorted(names)
    assert len(names) == len(set(names))
    assert rights_from_names(names) == rights
    assert rights_from_names(reversed(names)) == rights


def test_group_names_are_accepted_and_expanded():
    assert rights_from_names(["FINANCE"]) == R.VIEW_BILLING | R.VIEW_BILLABLE
    assert rights_to_names(R.FINANCE) == ["VIEW_BILLABLE", "VIEW_BILLING"]
    assert rights_from_names(["OTHER", "PHASES", "FINANCE"]) == ~Right(0) & ~(
        R.APPROVE_HOURS | R.COMMENT | R.ADD_FILES
    )
    assert rights_to_names(Right(0)) == []
    assert rights_from_names([]) == Right(0)


@pytest.mark.parametrize(
    ("names", "unknown"),
    [
        (["VIEW_HOURS", "VIEW_SALARIES"], ("VIEW_SALARIES",)),
        (["view_hours"], ("view_hours",)),
        (["VIEW_HOURS", 7, "nope"], ("7", "nope")),
    ],
)
def test_unknown_names_are_listed(names, unknown):
    with pytest.raises(RightsError, match="unknown right") as refused:
        rights_from_names(names)
    assert refused.value.unknown == unknown
    for name in unknown:
        assert name in str(refused.value)


@pytest.mark.parametrize("bad", ["VIEW_HOURS", b"VIEW_HOURS", 5, None, {"VIEW_HOURS": 1}])
def test_names_must_be_a_list(bad):
    with pytest.raises(RightsError):
        rights_from_names(bad) if not isinstance(bad, dict) else rights_from_names([bad])


def test_inconsistent_names_are_refused():
    with pytest.raises(RightsError) as refused:
        rights_from_names(["VIEW_HOUR_TIMES"])
    assert refused.value.missing == ("VIEW_HOURS",)


def test_hooks_on_a_host_converter():
    conv = cattrs.Converter()
    register_rights_hooks(conv)
    assert conv.unstructure(R.VIEW_TREE | R.COMMENT) == ["COMMENT", "VIEW_TREE"]
    assert conv.structure(["COMMENT", "VIEW_TREE"], Right) == R.VIEW_TREE | R.COMMENT


# --- codec: shares, audit events, approvals ------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC]),
)
ids = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1).filter(str.strip)


@st.composite
def shares(draw):
    created = draw(instants)
    return Share(
        project_id=draw(ids),
        contact_id=draw(ids),
        rights=draw(any_rights.map(with_dependencies)),
        created_at=created,
        updated_at=created + timedelta(seconds=draw(st.integers(0, 10**6))),
        version=draw(st.integers(1, 10**6)),
        valid_until=draw(st.none() | instants),
        stopped_at=draw(st.none() | instants),
        created_by=draw(st.text()),
    )


@given(shares())
@settings(max_examples=scaled(100))
def test_share_round_trips_through_json(share):
    data = json.loads(json.dumps(codec.unstructure(share)))
    assert data["rights"] == rights_to_names(share.rights)
    assert codec.structure(data, Share) == share


@given(
    st.builds(
        AuditEvent,
        actor=ids,
        at=instants,
        project_id=st.none() | ids,
        contact_id=ids,
        kind=st.sampled_from(AuditKind) | ids,
        before_rights=st.none() | any_rights.map(with_dependencies),
        after_rights=st.none() | any_rights.map(with_dependencies),
        share_version=st.none() | st.integers(1, 100),
        detail=st.text(),
    )
)
@settings(max_examples=scaled(60))
def test_audit_event_round_trips_through_json(event):
    data = json.loads(json.dumps(codec.unstructure(event)))
    assert type(data["kind"]) is str
    assert codec.structure(data, AuditEvent) == event


def test_approval_round_trips_through_json():
    approval = Approval(
        id="a1",
        project_id="p1",
        contact_id="k1",
        approved_at=T0,
        hour_ids=["h2", "h1"],
        fingerprints=["f1", "f2"],
        fingerprint="ff",
        share_version=3,
    )
    data = json.loads(json.dumps(codec.unstructure(approval)))
    assert data["hour_ids"] == ["h1", "h2"]
    assert codec.structure(data, Approval) == approval


def _share_data(**changes):
    share = Share("p1", "k1", R.VIEW_HOURS, T0, T0)
    data = codec.unstructure(share)
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"rights": ["VIEW_SALARIES"]}, RightsError, "VIEW_SALARIES"),
        ({"rights": ["ADD_FILES"]}, RightsError, "VIEW_FILES"),
        ({"created_at": "2026-03-02T08:00:00"}, ValidationError, "no UTC offset"),
        ({"created_at": "yesterday"}, ValidationError, "ISO 8601"),
        ({"created_at": 5}, ValidationError, "ISO 8601"),
        ({"version": 0}, ValidationError, "positive"),
        ({"project_id": " "}, ValidationError, "non-blank"),
        ({"extra": 1}, ValidationError, "Share"),
    ],
)
def test_bad_share_data_is_a_clear_error(changes, error, match):
    with pytest.raises(error, match=match):
        codec.structure(_share_data(**changes), Share)


def test_missing_field_is_a_validation_error():
    data = _share_data()
    del data["contact_id"]
    with pytest.raises(ValidationError, match="Share"):
        codec.structure(data, Share)
    with pytest.raises(ValidationError):
        codec.structure("not a dict", Share)


# --- stores ----------------------------------------------------------------------------------


def test_memory_stores_follow_their_protocols():
    store = MemoryShareStore()
    assert isinstance(store, ShareStore)
    assert isinstance(MemoryAuditLog(), AuditLog)
    a = Share("p1", "k2", R.VIEW_HOURS, T0, T0)
    b = Share("p1", "k1", R.VIEW_HOURS, T0, T0)
    c = Share("p0", "k1", R.VIEW_HOURS, T0, T0)
    for share in (a, b, c):
        store.save(share, expected_version=None)
    assert store.get("p1", "k2") == a
    assert store.get("p1", "k3") is None
    assert store.for_project("p1") == (b, a)
    assert store.for_contact("k1") == (c, b)
    store.save(a2 := Share("p1", "k2", R.VIEW_STATUS, T0, T0, version=2), expected_version=1)
    assert store.get("p1", "k2") == a2
    assert len(store) == 3
    assert "3 shares" in repr(store)
    with pytest.raises(ValidationError):
        store.save(ProjectStatus("s", "S"), expected_version=None)


@pytest.mark.parametrize(("stored", "expected"), [(None, 1), (1, None), (2, 1)])
def test_memory_store_refuses_a_stale_write(stored, expected):
    """Optimistic locking: a write based on an outdated read changes nothing."""
    held = () if stored is None else (Share("p1", "k1", R.VIEW_HOURS, T0, T0, version=stored),)
    store = MemoryShareStore(held)
    before = store.get("p1", "k1")
    following = 1 if expected is None else expected + 1
    with pytest.raises(ShareConflict) as conflict:
        store.save(
            Share("p1", "k1", R.VIEW_TREE, T0, T0, version=following), expected_version=expected
        )
    assert (conflict.value.expected_version, conflict.value.actual_version) == (expected, stored)
    assert store.get("p1", "k1") == before


def test_share_validates_itself():
    with pytest.raises(RightsError):
        Share("p1", "k1", R.ADD_FILES, T0, T0)
    with pytest.raises(ValidationError, match="timezone-aware"):
        Share("p1", "k1", R.VIEW_FILES, datetime(2026, 1, 1), T0)
    with pytest.raises(ValidationError, match="positive"):
        Share("p1", "k1", R.VIEW_FILES, T0, T0, version=True)
    share = Share("p1", "k1", R.VIEW_FILES, T0, T0, valid_until=T0 + timedelta(hours=1))
    assert share.active(T0)
    assert not share.active(T0 + timedelta(hours=1))
    assert share.expired(T0 + timedelta(hours=1))
