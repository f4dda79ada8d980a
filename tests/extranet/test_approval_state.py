"""X4 (issue 18): the contact sees an approval's real state, and approves only once.

After an approved hour entry is edited, ``approval_status`` says void; the contact's
``view()`` must say so too (not "approved"), and the voided entry may be approved
again, while re-approving an entry whose approval still holds is refused with a reason.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severa_ext.clock import FixedClock
from severa_ext.domain import ContactPerson, Project, WorkHour
from severa_ext.errors import ApprovalRefused, ExtranetError
from severa_ext.extranet import (
    ApprovalStatus,
    ExtranetService,
    MemoryContactDirectory,
    MemoryShareStore,
    Right,
    approval_status,
)
from severa_ext.extranet.approvals import hour_fingerprint
from support import scaled

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
RIGHTS = Right.VIEW_HOURS | Right.APPROVE_HOURS


def project(n_hours: int = 2) -> Project:
    hours = [
        WorkHour(f"h{i}", "ph", "Ann", date(2026, 1, 1), Decimal(i + 1)) for i in range(n_hours)
    ]
    return Project(id="p1", name="P", customer_id="c1", work_hours=hours)


def service() -> ExtranetService:
    anna = ContactPerson("k1", "c1", email="anna@example.com")
    directory = MemoryContactDirectory(contacts=[anna], projects=[project()])
    svc = ExtranetService(MemoryShareStore(), clock=FixedClock(T0), directory=directory)
    svc.share(project(), anna, RIGHTS, actor="u1")
    return svc


def edit(p: Project, hour_id: str, **changes: object) -> Project:
    return attrs.evolve(
        p, work_hours=[attrs.evolve(h, **changes) if h.id == hour_id else h for h in p.work_hours]
    )


def test_an_approval_records_its_fingerprint_on_each_entry():
    svc = service()
    approved = svc.approve_hours("k1", project(), ["h0"]).project
    entry = approved.work_hours[0]
    assert entry.customer_approval_fingerprint == hour_fingerprint(entry)
    assert approved.work_hours[1].customer_approval_fingerprint is None


def test_the_view_shows_a_voided_approval_as_void():
    svc = service()
    result = svc.approve_hours("k1", project(), ["h0", "h1"])
    hours = svc.view("k1", result.project).work_hours
    assert [(h.approval, h.customer_approved) for h in hours] == [
        (ApprovalStatus.VALID, True),
        (ApprovalStatus.VALID, True),
    ]
    edited = edit(result.project, "h0", quantity=Decimal(7))
    assert approval_status(result.value, edited) is ApprovalStatus.VOID
    hours = svc.view("k1", edited).work_hours
    assert [(h.approval, h.customer_approved) for h in hours] == [
        (ApprovalStatus.VOID, False),
        (ApprovalStatus.VALID, True),
    ]
    assert svc.view("k1", project()).work_hours[0].approval is None  # never approved


def test_an_approval_marker_without_a_fingerprint_is_not_shown_as_approved():
    svc = service()
    marked = edit(project(), "h0", customer_approval_id="a-old")
    (entry, _) = svc.view("k1", marked).work_hours
    assert (entry.approval, entry.customer_approved) == (ApprovalStatus.VOID, False)


def test_re_approving_a_valid_approval_is_refused_with_a_reason():
    svc = service()
    approved = svc.approve_hours("k1", project(), ["h0"]).project
    with pytest.raises(ApprovalRefused) as refused:
        svc.approve_hours("k1", approved, ["h1", "h0"])
    assert isinstance(refused.value, ExtranetError)
    assert refused.value.reason == "already-approved"
    assert refused.value.hour_ids == ("h0",)
    assert "h0" in str(refused.value)
    events = [e.kind for e in svc.audit.events()]
    assert events.count("approve") == 1  # the refused call wrote nothing


def test_a_voided_approval_may_be_approved_again():
    svc = service()
    first = svc.approve_hours("k1", project(), ["h0"])
    edited = edit(first.project, "h0", description="corrected")
    second = svc.approve_hours("k1", edited, ["h0"])
    assert second.value.id != first.value.id
    entry = second.project.work_hours[0]
    assert entry.customer_approval_id == second.value.id
    assert svc.view("k1", second.project).work_hours[0].approval is ApprovalStatus.VALID


@given(
    approve=st.sets(st.sampled_from(["h0", "h1", "h2"]), min_size=1),
    edits=st.sets(st.sampled_from(["h0", "h1", "h2"])),
    again=st.sets(st.sampled_from(["h0", "h1", "h2"]), min_size=1),
)
@settings(max_examples=scaled(60))
def test_the_view_and_re_approval_agree_with_approval_status(approve, edits, again):
    svc = service()
    first = svc.approve_hours("k1", project(3), approve)
    now = first.project
    for hour_id in edits:
        now = edit(now, hour_id, quantity=Decimal(99))
    valid = {h for h in approve if h not in edits}
    seen = {h.id: h.approval for h in svc.view("k1", now).work_hours}
    assert {h for h, state in seen.items() if state is ApprovalStatus.VALID} == valid
    assert {h for h, state in seen.items() if state is ApprovalStatus.VOID} == approve & edits
    if again & valid:
        with pytest.raises(ApprovalRefused) as refused:
            svc.approve_hours("k1", now, again)
        assert set(refused.value.hour_ids) == again & valid
    else:
        result = svc.approve_hours("k1", now, again)
        states = {h.id: h.approval for h in svc.view("k1", result.project).work_hours}
        assert all(states[h] is ApprovalStatus.VALID for h in again)
