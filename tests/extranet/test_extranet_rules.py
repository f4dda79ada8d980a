"""Example tests, one or more per Extranet rule (X2-X5, X7, X8, X11) and per extra."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import attrs
import pytest

from severa_ext.clock import FixedClock
from severa_ext.domain import (
    BillableStatus,
    Comment,
    CommentTarget,
    ContactPerson,
    Customer,
    Invoice,
    Phase,
    Project,
    ProjectFile,
    ProjectLink,
    ProjectStatus,
    WorkHour,
)
from severa_ext.errors import (
    AccessDenied,
    ConfirmationRequired,
    RightsError,
    ShareConflict,
    ShareExists,
    ShareNotFound,
    ShareRefused,
    ValidationError,
)
from severa_ext.extranet import (
    UNCHANGED,
    Action,
    ApprovalStatus,
    AuditKind,
    ExtranetService,
    MemoryAuditLog,
    MemoryContactDirectory,
    MemoryShareStore,
    Right,
    ShareResult,
    approval_status,
    changed_hours,
)
from severa_ext.extranet.approvals import hour_fingerprint

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
R = Right


def make_project(project_id: str = "p1", customer_id: str = "c1") -> Project:
    return Project(
        id=project_id,
        name="Website renewal",
        customer_id=customer_id,
        summary="New site",
        status=ProjectStatus("s1", "In progress"),
        phases=[
            Phase("ph1", "Design", start_date=date(2026, 1, 5), deadline=date(2026, 2, 1)),
            Phase("ph2", "Build", parent_phase_id="ph1", estimated_hours=Decimal(40)),
        ],
        work_hours=[
            WorkHour(
                "h1",
                "ph1",
                "Ann",
                date(2026, 1, 6),
                Decimal("2.5"),
                description="Wireframes",
                start_time=time(9),
                end_time=time(11, 30),
                billable_amount=Decimal(250),
            ),
            WorkHour("h2", "ph2", "Bob", date(2026, 1, 7), Decimal(4)),
        ],
        invoices=[Invoice("i1", "1001", date(2026, 2, 1), Decimal(1200))],
        billable_amount=Decimal(1450),
        files=[ProjectFile("f1", "brief.pdf")],
        links=[ProjectLink("l1", "Staging", "https://staging.example.com")],
        comments=[
            Comment("c-s", CommentTarget.SUMMARY, None, "u1", "Kick-off done", T0),
            Comment("c-p", CommentTarget.PHASE, "ph1", "u1", "Design review", T0),
            Comment("c-f", CommentTarget.FILE, "f1", "u1", "See page 2", T0),
        ],
    )


def anna(**changes: object) -> ContactPerson:
    return attrs.evolve(ContactPerson("k1", "c1", "Anna", "Asiakas", "anna@example.com"), **changes)


def cards() -> MemoryContactDirectory:
    """The host's directory: Anna and Bert are contacts of c1, which owns p1-p4."""
    return MemoryContactDirectory(
        contacts=[anna(), ContactPerson("k2", "c1", email="bert@example.com")],
        projects=[make_project(p) for p in ("p1", "p2", "p3", "p4")],
    )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def audit() -> MemoryAuditLog:
    return MemoryAuditLog()


@pytest.fixture
def svc(clock: FixedClock, audit: MemoryAuditLog) -> ExtranetService:
    counter = iter(range(1, 10_000))
    return ExtranetService(
        MemoryShareStore(),
        directory=cards(),
        clock=clock,
        audit=audit,
        ids=lambda: f"id{next(counter)}",
    )


# --- X2: one share per (work, contact) pair -----------------------------------------------


def test_x2_rights_are_per_project_and_per_contact(svc):
    p1, p2 = make_project("p1"), make_project("p2")
    bert = ContactPerson("k2", "c1", email="bert@example.com")
    svc.share(p1, anna(), R.VIEW_HOURS, actor="u1")
    svc.share(p2, anna(), R.VIEW_STATUS, actor="u1")
    svc.share(p1, bert, R.VIEW_FILES, actor="u1")
    assert svc.view("k1", p1).work_hours is not None
    assert svc.view("k1", p1).status is None
    assert svc.view("k1", p2).status is not None
    assert svc.view("k1", p2).work_hours is None
    assert svc.view("k2", p1).files is not None
    assert svc.view("k2", p1).work_hours is None
    with pytest.raises(AccessDenied) as denied:
        svc.view("k2", p2)
    assert denied.value.decision.reason == "no-share"


def test_x2_deny_by_default_without_a_share(svc):
    decision = svc.authorize("k1", "p1", Action.OPEN)
    assert (decision.allowed, decision.reason, decision.share) == (False, "no-share", None)
    assert svc.projects_for("k1") == ()


def test_x2_a_pair_is_shared_once_then_updated(svc):
    svc.share(make_project(), anna(), R.VIEW_HOURS, actor="u1")
    with pytest.raises(ShareExists, match="update"):
        svc.share(make_project(), anna(), R.VIEW_STATUS, actor="u1")


def test_share_returns_a_share_result_without_invite(svc, clock):
    result = svc.share(make_project(), anna(), R.VIEW_HOURS, actor="u1")
    assert isinstance(result, ShareResult)
    assert result.invite is None
    share = result.share
    assert (share.project_id, share.contact_id, share.rights, share.version) == (
        "p1",
        "k1",
        R.VIEW_HOURS,
        1,
    )
    assert share.created_at == share.updated_at == clock.now()
    assert share.created_by == "u1"
    assert result.event.kind == AuditKind.SHARE


# --- X3: only the customer's contacts with a valid email ----------------------------------


@pytest.mark.parametrize(
    ("person", "reason"),
    [
        (ContactPerson("k9", "other-customer", email="x@example.com"), "not-customer-contact"),
        (ContactPerson("k1", "c1", email=None), "missing-email"),
        (ContactPerson("k1", "c1", email="   "), "missing-email"),
        (ContactPerson("k1", "c1", email="not-an-address"), "invalid-email"),
        (ContactPerson("k1", "c1", email="anna@@example.com"), "invalid-email"),
        (ContactPerson("k1", "c1", email="anna@example"), "invalid-email"),
    ],
)
def test_x3_share_refused_with_a_reason(svc, audit, person, reason):
    with pytest.raises(ShareRefused) as refused:
        svc.share(make_project(), person, R.VIEW_HOURS, actor="u1")
    assert refused.value.reason == reason
    assert isinstance(refused.value, PermissionError)
    assert svc.get_share("p1", person.id) is None
    assert len(audit) == 0


def test_x3_contact_must_be_listed_on_the_customer_card(svc):
    card = Customer("c1", "Asiakas Oy", contact_ids={"someone-else"})
    with pytest.raises(ShareRefused) as refused:
        svc.share(make_project(), anna(), R.VIEW_HOURS, actor="u1", customer=card)
    assert refused.value.reason == "not-customer-contact"
    listed = Customer("c1", "Asiakas Oy", contact_ids={"k1"})
    assert svc.share(make_project(), anna(), R.VIEW_HOURS, actor="u1", customer=listed)


def test_x3_customer_card_of_another_customer_is_a_validation_error(svc):
    with pytest.raises(ValidationError, match="not the customer"):
        svc.share(make_project(), anna(), R.VIEW_HOURS, actor="u1", customer=Customer("c2", "X"))


def test_x3_check_contact_returns_the_normalized_address(svc):
    """Issue 12: the share dialog and the invitation normalise addresses one way."""
    assert svc.check_contact(make_project(), anna(email="Anna@EXAMPLE.com")) == "anna@example.com"


# --- X4: approval, commenting, add file -----------------------------------------------------


def test_x4_approval_never_touches_billing(svc, clock):
    project = make_project()
    svc.share(project, anna(), R.VIEW_HOURS | R.APPROVE_HOURS, actor="u1")
    clock.advance(timedelta(hours=1))
    result = svc.approve_hours("k1", project, ["h2", "h1", "h1"])
    approval = result.value
    assert approval.hour_ids == ("h1", "h2")
    assert approval.approved_at == clock.now()
    assert approval.contact_id == "k1"
    assert approval.share_version == 1
    for before, after in zip(project.work_hours, result.project.work_hours, strict=True):
        assert after.customer_approval_id == approval.id
        assert (after.billable_status, after.billable_amount) == (
            before.billable_status,
            before.billable_amount,
        )
    assert result.event.kind == AuditKind.APPROVE
    assert approval_status(approval, result.project) is ApprovalStatus.VALID
    # Billing the hours later does not void the customer's approval (X4).
    billed = attrs.evolve(
        result.project,
        work_hours=[
            attrs.evolve(h, billable_status=BillableStatus.BILLED)
            for h in result.project.work_hours
        ],
    )
    assert approval_status(approval, billed) is ApprovalStatus.VALID
    assert svc.view("k1", result.project).work_hours[0].customer_approved


def test_x4_approval_is_voided_by_a_later_edit(svc):
    project = make_project()
    svc.share(project, anna(), R.VIEW_HOURS | R.APPROVE_HOURS, actor="u1")
    approval = svc.approve_hours("k1", project, ["h1", "h2"]).value
    edited = attrs.evolve(
        project,
        work_hours=[
            attrs.evolve(project.work_hours[0], quantity=Decimal(3)),
            project.work_hours[1],
        ],
    )
    assert approval_status(approval, edited) is ApprovalStatus.VOID
    assert changed_hours(approval, edited) == ("h1",)
    removed = attrs.evolve(project, work_hours=[project.work_hours[0]])
    assert changed_hours(approval, removed) == ("h2",)
    same_number = attrs.evolve(
        project,
        work_hours=[
            attrs.evolve(project.work_hours[0], quantity=Decimal("2.50")),
            project.work_hours[1],
        ],
    )
    assert approval_status(approval, same_number) is ApprovalStatus.VALID
    with pytest.raises(ValidationError, match="not 'p2'"):
        approval_status(approval, make_project("p2"))


@pytest.mark.parametrize(
    "field",
    [
        ("phase_id", "ph2"),
        ("user_name", "Eve"),
        ("event_date", date(2026, 1, 9)),
        ("description", "changed"),
        ("start_time", time(8)),
        ("end_time", None),
    ],
)
def test_x4_fingerprint_covers_every_approved_field(field):
    hour = make_project().work_hours[0]
    assert hour_fingerprint(attrs.evolve(hour, **{field[0]: field[1]})) != hour_fingerprint(hour)
    assert hour_fingerprint(attrs.evolve(hour, customer_approval_id="a")) == hour_fingerprint(hour)


def test_x4_approval_refuses_unknown_or_no_hours(svc):
    project = make_project()
    svc.share(project, anna(), R.VIEW_HOURS | R.APPROVE_HOURS, actor="u1")
    with pytest.raises(ValidationError, match="'nope'"):
        svc.approve_hours("k1", project, ["h1", "nope"])
    with pytest.raises(ValidationError, match="at least one"):
        svc.approve_hours("k1", project, [])
    with pytest.raises(ValidationError, match="collection"):
        svc.approve_hours("k1", project, "h1")


def test_x4_approval_needs_the_right(svc):
    project = make_project()
    svc.share(project, anna(), R.VIEW_HOURS, actor="u1")
    with pytest.raises(AccessDenied) as denied:
        svc.approve_hours("k1", project, ["h1"])
    assert denied.value.decision.missing == R.APPROVE_HOURS


def test_x4_comment_on_summary_phase_file_and_link(svc, clock):
    project = make_project()
    rights = R.COMMENT | R.VIEW_TREE | R.VIEW_FILES
    svc.share(project, anna(), rights, actor="u1")
    for target, target_id in [
        (CommentTarget.SUMMARY, None),
        (CommentTarget.PHASE, "ph2"),
        (CommentTarget.FILE, "f1"),
        (CommentTarget.LINK, "l1"),
    ]:
        result = svc.comment("k1", project, "  Looks good  ", target=target, target_id=target_id)
        comment = result.value
        assert (comment.target, comment.target_id, comment.author, comment.text) == (
            target,
            target_id,
            "k1",
            "Looks good",
        )
        assert comment.created_at == clock.now()
        assert result.project.comments[-1] == comment
        assert comment in svc.view("k1", result.project).comments
        assert result.event.kind == AuditKind.COMMENT
        assert "Looks good" not in result.event.detail


def test_x4_comment_only_on_what_the_contact_can_see(svc):
    project = make_project()
    svc.share(project, anna(), R.COMMENT, actor="u1")
    svc.comment("k1", project, "summary is always visible")
    for target, target_id, missing in [
        (CommentTarget.PHASE, "ph1", R.VIEW_GANTT | R.VIEW_TREE | R.VIEW_HOURS | R.VIEW_ESTIMATES),
        (CommentTarget.FILE, "f1", R.VIEW_FILES),
        (CommentTarget.LINK, "l1", R.VIEW_FILES),
    ]:
        with pytest.raises(AccessDenied) as denied:
            svc.comment("k1", project, "hidden", target=target, target_id=target_id)
        assert denied.value.decision.missing == missing
    # Comments on hidden targets are not shown either.
    assert [c.id for c in svc.view("k1", project).comments] == ["c-s"]


def test_x4_comment_validation(svc):
    project = make_project()
    svc.share(project, anna(), R.COMMENT | R.VIEW_GANTT, actor="u1")
    with pytest.raises(ValidationError, match="non-blank"):
        svc.comment("k1", project, "   ")
    with pytest.raises(ValidationError, match="limit"):
        svc.comment("k1", project, "x" * 10_001)
    with pytest.raises(ValidationError, match="no phase 'zz'"):
        svc.comment("k1", project, "hi", target=CommentTarget.PHASE, target_id="zz")
    with pytest.raises(ValidationError, match="summary takes no target_id"):
        svc.comment("k1", project, "hi", target_id="ph1")


def test_x4_comment_needs_the_comment_right(svc):
    project = make_project()
    svc.share(project, anna(), R.VIEW_FILES, actor="u1")
    with pytest.raises(AccessDenied) as denied:
        svc.comment("k1", project, "hi")
    assert denied.value.decision.missing == R.COMMENT


def test_x4_add_file_and_link(svc, clock):
    project = make_project()
    svc.share(project, anna(), R.ADD_FILE | R.VIEW_FILES, actor="u1")
    added = svc.add_file("k1", project, "spec.pdf", size=1234, content_type="application/pdf")
    assert (added.value.name, added.value.size, added.value.added_by) == ("spec.pdf", 1234, "k1")
    assert added.value.added_at == clock.now()
    assert added.project.files[-1] == added.value
    assert added.event.kind == AuditKind.ADD_FILE
    link = svc.add_link("k1", added.project, "https://docs.example.com/a?b=1")
    assert link.value.title == link.value.url == "https://docs.example.com/a?b=1"
    assert link.project.files == added.project.files
    assert link.event.kind == AuditKind.ADD_LINK
    assert svc.view("k1", link.project).links[-1] == link.value


@pytest.mark.parametrize(
    "name", ["", "   ", "../etc/passwd", "a/b", "a\\b", "bad\nname", ".", "x" * 256]
)
def test_x4_add_file_refuses_bad_names(svc, name):
    project = make_project()
    svc.share(project, anna(), R.ADD_FILE | R.VIEW_FILES, actor="u1")
    with pytest.raises(ValidationError):
        svc.add_file("k1", project, name)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://example.com/x",
        "/relative/path",
        "https://",
        "https://exa mple.com",
        "https://example.com/\r\nX: y",
        "http://[::1",
    ],
)
def test_x4_add_link_refuses_bad_urls(svc, url):
    project = make_project()
    svc.share(project, anna(), R.ADD_FILE | R.VIEW_FILES, actor="u1")
    with pytest.raises(ValidationError):
        svc.add_link("k1", project, url)


def test_x4_add_file_checks_size_and_content_type(svc):
    project = make_project()
    svc.share(project, anna(), R.ADD_FILE | R.VIEW_FILES, actor="u1")
    with pytest.raises(ValidationError, match="size"):
        svc.add_file("k1", project, "a.txt", size=-1)
    with pytest.raises(ValidationError, match="type/subtype"):
        svc.add_file("k1", project, "a.txt", content_type="text")


def test_x4_add_file_needs_the_right(svc):
    project = make_project()
    svc.share(project, anna(), R.VIEW_FILES | R.COMMENT, actor="u1")
    with pytest.raises(AccessDenied) as denied:
        svc.add_file("k1", project, "a.txt")
    assert denied.value.decision.missing == R.ADD_FILE
    with pytest.raises(AccessDenied):
        svc.add_link("k1", project, "https://example.com")


# --- X5: the three view groups -----------------------------------------------------------


def test_x5_groups_are_the_seed_groups():
    assert list(R.FINANCE) == [R.VIEW_BILLING, R.VIEW_BILLABLE]
    assert list(R.PHASES) == [
        R.VIEW_GANTT,
        R.VIEW_TREE,
        R.VIEW_HOURS,
        R.VIEW_HOUR_TIMES,
        R.VIEW_ESTIMATES,
    ]
    assert list(R.OTHER) == [R.VIEW_STATUS, R.CHANGE_STATUS, R.VIEW_FILES]
    assert len(list(Right)) == 13


def test_x5_finance_sections(svc):
    project = make_project()
    svc.share(project, anna(), R.FINANCE | R.VIEW_HOURS, actor="u1")
    view = svc.view("k1", project)
    assert view.invoices == project.invoices
    assert (view.billable.amount, view.billable.currency) == (Decimal(1450), "EUR")
    assert view.work_hours[0].billable_amount == Decimal(250)
    assert view.work_hours[0].billable_status is BillableStatus.BILLABLE


def test_x5_hours_without_times_or_money(svc):
    project = make_project()
    svc.share(project, anna(), R.VIEW_HOURS, actor="u1")
    entry = svc.view("k1", project).work_hours[0]
    assert (entry.id, entry.phase_name, entry.quantity, entry.description) == (
        "h1",
        "Design",
        Decimal("2.5"),
        "Wireframes",
    )
    assert (entry.start_time, entry.end_time) == (None, None)
    assert (entry.billable_status, entry.billable_amount) == (None, None)
    svc.update("p1", "k1", R.VIEW_HOURS | R.VIEW_HOUR_TIMES, actor="u1")
    entry = svc.view("k1", project).work_hours[0]
    assert (entry.start_time, entry.end_time) == (time(9), time(11, 30))


def test_x5_phase_sections(svc):
    project = make_project()
    svc.share(project, anna(), R.VIEW_GANTT | R.VIEW_TREE | R.VIEW_ESTIMATES, actor="u1")
    view = svc.view("k1", project)
    assert [(b.phase_id, b.start_date, b.deadline) for b in view.gantt] == [
        ("ph1", date(2026, 1, 5), date(2026, 2, 1)),
        ("ph2", None, None),
    ]
    assert len(view.tree) == 1
    assert view.tree[0].phase_id == "ph1"
    assert [c.phase_id for c in view.tree[0].children] == ["ph2"]
    assert [(e.phase_id, e.estimated_hours) for e in view.estimates] == [
        ("ph1", None),
        ("ph2", Decimal(40)),
    ]
    assert view.work_hours is None
    assert [c.id for c in view.comments] == ["c-s", "c-p"]


def test_x5_tree_survives_parent_cycles_and_unknown_parents(svc):
    project = attrs.evolve(
        make_project(),
        phases=[
            Phase("a", "A", parent_phase_id="b"),
            Phase("b", "B", parent_phase_id="a"),
            Phase("c", "C", parent_phase_id="missing"),
            Phase("d", "D", parent_phase_id="d"),
        ],
        work_hours=[],
    )
    svc.share(project, anna(), R.VIEW_TREE, actor="u1")
    tree = svc.view("k1", project).tree

    def ids(nodes):
        for node in nodes:
            yield node.phase_id
            yield from ids(node.children)

    assert sorted(ids(tree)) == ["a", "b", "c", "d"]


def test_x5_other_sections_and_status_change(svc, audit):
    project = make_project()
    svc.share(project, anna(), R.VIEW_STATUS | R.VIEW_FILES, actor="u1")
    view = svc.view("k1", project)
    assert view.status.current == project.status
    assert not view.status.can_change
    assert (view.files, view.links) == (project.files, project.links)
    with pytest.raises(AccessDenied) as denied:
        svc.change_status("k1", project, ProjectStatus("s2", "Done", is_closed=True))
    assert denied.value.decision.missing == R.CHANGE_STATUS
    svc.update("p1", "k1", R.OTHER, actor="u1")
    assert svc.view("k1", project).status.can_change
    done = ProjectStatus("s2", "Done", is_closed=True)
    result = svc.change_status("k1", project, done)
    assert result.value == done
    assert result.project.status == done
    assert result.event.detail == "status s1 -> s2"
    with pytest.raises(ValidationError, match="ProjectStatus"):
        svc.change_status("k1", project, "Done")


def test_x5_nothing_granted_shows_only_the_basics(svc):
    project = make_project()
    svc.share(project, anna(), Right(0), actor="u1")
    view = svc.view("k1", project)
    assert (view.name, view.summary, view.share_version) == ("Website renewal", "New site", 1)
    assert view.actions == frozenset({Action.OPEN})
    sections = (view.invoices, view.billable, view.gantt, view.tree, view.work_hours)
    sections += (view.estimates, view.status, view.files, view.links)
    assert sections == (None,) * 9


def test_x5_dependent_rights_are_refused_naming_the_missing_right(svc):
    for rights, missing in [
        (R.VIEW_HOUR_TIMES, "VIEW_HOURS"),
        (R.APPROVE_HOURS, "VIEW_HOURS"),
        (R.CHANGE_STATUS, "VIEW_STATUS"),
        (R.ADD_FILE, "VIEW_FILES"),
    ]:
        with pytest.raises(RightsError, match=missing) as refused:
            svc.share(make_project(), anna(), rights, actor="u1")
        assert refused.value.missing == (missing,)
    assert svc.get_share("p1", "k1") is None


# --- X7: changes take effect immediately ----------------------------------------------------


def test_x7_update_takes_effect_on_the_next_call(svc, audit):
    project = make_project()
    svc.share(project, anna(), R.VIEW_HOURS | R.VIEW_FILES, actor="u1")
    assert svc.view("k1", project).files is not None
    share = svc.update("p1", "k1", R.VIEW_HOURS, actor="u2")
    assert share.version == 2
    assert svc.view("k1", project).files is None
    decision = svc.authorize("k1", "p1", Action.VIEW_FILES)
    assert (decision.allowed, decision.reason, decision.missing) == (
        False,
        "missing-right",
        R.VIEW_FILES,
    )
    event = audit.for_project("p1")[-1]
    assert (event.kind, event.actor, event.before_rights, event.after_rights) == (
        AuditKind.UPDATE,
        "u2",
        R.VIEW_HOURS | R.VIEW_FILES,
        R.VIEW_HOURS,
    )


def test_x7_sessions_recheck_the_version(svc):
    project = make_project()
    svc.share(project, anna(), R.VIEW_HOURS, actor="u1")
    session_version = svc.view("k1", project).share_version
    assert svc.authorize("k1", "p1", Action.OPEN, expected_version=session_version).allowed
    svc.update("p1", "k1", R.VIEW_HOURS | R.VIEW_STATUS, actor="u1")
    stale = svc.authorize("k1", "p1", Action.OPEN, expected_version=session_version)
    assert (stale.allowed, stale.reason) == (False, "version-changed")
    with pytest.raises(AccessDenied):
        svc.view("k1", project, expected_version=session_version)
    assert svc.view("k1", project, expected_version=session_version + 1).status is not None


def test_x7_update_of_unknown_share(svc):
    with pytest.raises(ShareNotFound):
        svc.update("p1", "k1", R.VIEW_HOURS, actor="u1")


def test_x7_bad_update_changes_nothing(svc, audit):
    svc.share(make_project(), anna(), R.VIEW_HOURS, actor="u1")
    with pytest.raises(RightsError):
        svc.update("p1", "k1", R.CHANGE_STATUS, actor="u1")
    assert svc.get_share("p1", "k1").version == 1
    assert len(audit) == 1


# --- X8: stopping, after an explicit confirmation -----------------------------------------


def test_x8_stop_needs_confirmation(svc, audit):
    svc.share(make_project(), anna(), R.VIEW_HOURS, actor="u1")
    for confirm in (False, "yes", 1):
        with pytest.raises(ConfirmationRequired, match="confirm=True"):
            svc.stop("p1", "k1", actor="u1", confirm=confirm)
    assert svc.authorize("k1", "p1", Action.OPEN).allowed
    assert len(audit) == 1


def test_x8_stop_takes_effect_at_once_and_can_be_reshared(svc, audit, clock):
    project = make_project()
    svc.share(project, anna(), R.VIEW_HOURS, actor="u1")
    stopped = svc.stop("p1", "k1", actor="u2", confirm=True)
    assert (stopped.stopped_at, stopped.version) == (clock.now(), 2)
    assert svc.authorize("k1", "p1", Action.OPEN).reason == "stopped"
    assert svc.projects_for("k1") == ()
    assert svc.shares_of("p1") == ()
    with pytest.raises(ShareNotFound):
        svc.stop("p1", "k1", actor="u2", confirm=True)
    with pytest.raises(ShareNotFound):
        svc.update("p1", "k1", R.VIEW_HOURS, actor="u2")
    again = svc.share(project, anna(), R.VIEW_STATUS, actor="u1").share
    assert again.version == 3  # versions only grow: an old session cannot match
    assert again.stopped_at is None
    assert svc.view("k1", project).status is not None
    kinds = [e.kind for e in audit.for_contact("k1")]
    assert kinds == [AuditKind.SHARE, AuditKind.STOP, AuditKind.SHARE]
    assert audit.for_contact("k1")[1].after_rights is None


# --- X11: the menu of shared works ----------------------------------------------------------


def test_x11_menu_lists_only_live_unexpired_shares(svc, clock):
    for project_id in ("p3", "p1", "p2", "p4"):
        svc.share(
            make_project(project_id),
            anna(),
            R.VIEW_HOURS,
            actor="u1",
            valid_until=clock.now() + timedelta(days=1) if project_id == "p4" else None,
        )
    svc.stop("p2", "k1", actor="u1", confirm=True)
    assert [s.project_id for s in svc.projects_for("k1")] == ["p1", "p3", "p4"]
    clock.advance(timedelta(days=1))
    assert [s.project_id for s in svc.projects_for("k1")] == ["p1", "p3"]
    assert svc.projects_for("someone-else") == ()


def test_x11_each_project_shows_its_own_share(svc):
    p1, p2 = make_project("p1"), make_project("p2")
    svc.share(p1, anna(), R.VIEW_BILLING, actor="u1")
    svc.share(p2, anna(), R.VIEW_TREE, actor="u1")
    assert svc.view("k1", p1).invoices is not None
    assert svc.view("k1", p1).tree is None
    assert svc.view("k1", p2).invoices is None
    assert svc.view("k1", p2).tree is not None


# --- valid_until ----------------------------------------------------------------------------


def test_valid_until_expires_every_check(svc, clock):
    project = make_project()
    until = clock.now() + timedelta(hours=2)
    svc.share(project, anna(), R.VIEW_HOURS | R.COMMENT, actor="u1", valid_until=until)
    assert svc.authorize("k1", "p1", Action.COMMENT_SUMMARY).allowed
    clock.advance(timedelta(hours=2))
    for action in Action:
        assert svc.authorize("k1", "p1", action).reason == "expired"
    assert svc.explain("k1", "p1", R.VIEW_HOURS).reason == "expired"
    with pytest.raises(AccessDenied):
        svc.comment("k1", project, "late")
    with pytest.raises(ShareExists):
        svc.share(project, anna(), R.VIEW_HOURS, actor="u1")
    renewed = svc.update(
        "p1", "k1", R.VIEW_HOURS, actor="u1", valid_until=clock.now() + timedelta(days=1)
    )
    assert svc.authorize("k1", "p1", Action.OPEN).allowed
    kept = svc.update("p1", "k1", R.VIEW_HOURS, actor="u1", valid_until=UNCHANGED)
    assert kept.valid_until == renewed.valid_until
    assert svc.update("p1", "k1", R.VIEW_HOURS, actor="u1", valid_until=None).valid_until is None


@pytest.mark.parametrize(
    "bad",
    [T0, T0 - timedelta(seconds=1), datetime(2030, 1, 1), "2030-01-01T00:00:00+00:00"],
)
def test_valid_until_must_be_aware_and_in_the_future(svc, bad):
    with pytest.raises(ValidationError, match="valid_until"):
        svc.share(make_project(), anna(), R.VIEW_HOURS, actor="u1", valid_until=bad)
    assert svc.get_share("p1", "k1") is None


# --- explain --------------------------------------------------------------------------------


def test_explain_names_the_granting_share_or_the_missing_right(svc):
    svc.share(make_project(), anna(), R.VIEW_BILLING | R.VIEW_HOURS, actor="u1")
    granted = svc.explain("k1", "p1", R.VIEW_HOURS)
    assert granted.allowed
    assert granted.share.key == ("p1", "k1")
    assert "version 1" in granted.message
    refused = svc.explain("k1", "p1", R.FINANCE)
    assert (refused.allowed, refused.reason, refused.missing) == (
        False,
        "missing-right",
        R.VIEW_BILLABLE,
    )
    assert "VIEW_BILLABLE" in refused.message
    assert svc.explain("k1", "p9", R.VIEW_HOURS).reason == "no-share"


# --- audit trail ----------------------------------------------------------------------------


def test_audit_trail_per_project_and_per_contact(svc, audit, clock):
    p1, p2 = make_project("p1"), make_project("p2")
    rights = R.VIEW_HOURS | R.APPROVE_HOURS | R.COMMENT | R.VIEW_FILES | R.ADD_FILE | R.OTHER
    svc.share(p1, anna(), rights, actor="admin")
    svc.share(p2, anna(), R.VIEW_HOURS, actor="admin")
    clock.advance(timedelta(minutes=5))
    svc.approve_hours("k1", p1, ["h1"])
    svc.comment("k1", p1, "secret words")
    svc.add_file("k1", p1, "a.txt")
    svc.add_link("k1", p1, "https://example.com")
    svc.change_status("k1", p1, ProjectStatus("s2", "Done"))
    svc.update("p1", "k1", R.VIEW_HOURS, actor="admin")
    svc.stop("p1", "k1", actor="admin", confirm=True)
    kinds = [e.kind for e in audit.for_project("p1")]
    assert kinds == [
        AuditKind.SHARE,
        AuditKind.APPROVE,
        AuditKind.COMMENT,
        AuditKind.ADD_FILE,
        AuditKind.ADD_LINK,
        AuditKind.CHANGE_STATUS,
        AuditKind.UPDATE,
        AuditKind.STOP,
    ]
    assert [e.kind for e in audit.for_project("p2")] == [AuditKind.SHARE]
    assert len(audit.for_contact("k1")) == 9
    assert audit.for_contact("k2") == ()
    actions = audit.for_project("p1")[1:6]
    assert {e.actor for e in actions} == {"k1"}
    assert {e.at for e in actions} == {T0 + timedelta(minutes=5)}
    assert all(e.before_rights == e.after_rights == rights for e in actions)
    assert all("secret words" not in repr(e) for e in audit.events())


def test_refused_actions_are_not_audited(svc, audit):
    project = make_project()
    svc.share(project, anna(), R.VIEW_HOURS, actor="u1")
    with pytest.raises(AccessDenied):
        svc.comment("k1", project, "x")
    assert len(audit) == 1


def test_contact_changed_is_an_audited_hook(svc, audit):
    svc.share(make_project("p1"), anna(), R.VIEW_HOURS, actor="u1")
    svc.share(make_project("p2"), anna(), R.VIEW_HOURS, actor="u1")
    svc.stop("p2", "k1", actor="u1", confirm=True)
    events = svc.contact_changed(anna(email="new@example.com"), actor="u1")
    assert [(e.kind, e.project_id) for e in events] == [(AuditKind.CONTACT_CHANGED, "p1")]
    assert "new@example.com" not in repr(events)
    assert audit.for_contact("k1")[-1] == events[0]
    assert svc.authorize("k1", "p1", Action.OPEN).allowed
    assert svc.contact_changed(ContactPerson("k7", "c1"), actor="u1") == ()


def test_actor_is_required(svc):
    with pytest.raises(ValidationError, match="actor"):
        svc.share(make_project(), anna(), R.VIEW_HOURS, actor=" ")


def test_service_refuses_a_naive_clock():
    svc = ExtranetService(MemoryShareStore(), directory=cards(), clock=FixedClock(T0))
    svc.clock = type("Naive", (), {"now": lambda self: datetime(2026, 1, 1)})()
    with pytest.raises(ValidationError, match="naive"):
        svc.authorize("k1", "p1", Action.OPEN)


# --- concurrency and bad input -------------------------------------------------------------


def test_concurrent_shares_of_one_pair_make_exactly_one(svc):
    """Two admins sharing the same pair at once: one share, the other gets an error."""
    project = make_project()
    outcomes: list[object] = []
    barrier = threading.Barrier(8)

    def attempt(rights):
        barrier.wait()
        try:
            outcomes.append(svc.share(project, anna(), rights, actor="u1").share)
        except (ShareExists, ShareConflict) as exc:
            outcomes.append(exc)

    threads = [
        threading.Thread(target=attempt, args=(r,))
        for r in [R.VIEW_HOURS, R.VIEW_TREE, R.VIEW_FILES, R.VIEW_STATUS] * 2
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    made = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(made) == 1
    assert svc.get_share("p1", "k1") == made[0]
    assert len(svc.audit.for_project("p1")) == 1


class RacingStore(MemoryShareStore):
    """A store where another writer updates the pair right after every read."""

    def __init__(self):
        super().__init__()
        self.race = False

    def get(self, project_id, contact_id):
        found = super().get(project_id, contact_id)
        if self.race and found is not None:
            self.race = False
            bumped = attrs.evolve(found, rights=R.VIEW_STATUS, version=found.version + 1)
            super().save(bumped, expected_version=found.version)
        return found


def test_a_lost_update_is_refused_not_overwritten(clock, audit):
    store = RacingStore()
    svc = ExtranetService(store, directory=cards(), clock=clock, audit=audit)
    svc.share(make_project(), anna(), R.VIEW_HOURS, actor="u1")
    store.race = True
    with pytest.raises(ShareConflict) as conflict:
        svc.update("p1", "k1", R.VIEW_TREE, actor="u2")
    assert (conflict.value.expected_version, conflict.value.actual_version) == (1, 2)
    assert store.get("p1", "k1").rights == R.VIEW_STATUS  # the other writer's change stands
    assert [e.kind for e in audit.events()] == [AuditKind.SHARE]
    store.race = True
    with pytest.raises(ShareConflict):
        svc.stop("p1", "k1", actor="u2", confirm=True)
    assert not store.get("p1", "k1").stopped


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.view("k1", {"id": "p1"}),
        lambda s: s.share("p1", anna(), R.VIEW_HOURS, actor="u1"),
        lambda s: s.share(make_project(), {"id": "k1"}, R.VIEW_HOURS, actor="u1"),
        lambda s: s.share(make_project(), anna(), R.VIEW_HOURS, actor="u1", customer="c1"),
        lambda s: s.share(make_project(), anna(), 5, actor="u1"),
        lambda s: s.authorize("k1", "p1", "fly"),
        lambda s: s.comment("k1", make_project(), "x", target="nowhere"),
        lambda s: s.contact_changed("k1", actor="u1"),
        lambda s: s.approve_hours("k1", "p1", ["h1"]),
    ],
)
def test_bad_arguments_are_validation_errors(svc, call):
    svc.share(make_project(), anna(), R.VIEW_HOURS | R.COMMENT, actor="u1")
    with pytest.raises(ValidationError):
        call(svc)


# --- purity ---------------------------------------------------------------------------------

FORBIDDEN = {"requests", "msal", "sqlite3", "socket", "http.client", "urllib3", "ssl"}


def test_import_extranet_pulls_in_no_io_and_reads_no_clock():
    """STYLE 1: the Extranet core imports no network/database module and reads no clock."""
    code = textwrap.dedent(
        """
        import datetime, json, sys, time

        calls = []
        def spy(name, real):
            def wrapper(*args, **kwargs):
                calls.append(name)
                return real(*args, **kwargs)
            return wrapper
        for name in ("time", "time_ns", "monotonic", "perf_counter", "localtime", "gmtime"):
            setattr(time, name, spy(name, getattr(time, name)))

        class SpyDatetime(datetime.datetime):
            @classmethod
            def now(cls, tz=None):
                calls.append("datetime.now")
                return super().now(tz)
            @classmethod
            def utcnow(cls):
                calls.append("datetime.utcnow")
                return super().utcnow()
        datetime.datetime = SpyDatetime

        import severa_ext.extranet
        import severa_ext.extranet.codec
        import severa_ext.extranet.service  # the package loads its names lazily
        print(json.dumps({"modules": sorted(sys.modules), "calls": calls}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    report = json.loads(out)
    assert not (set(report["modules"]) & FORBIDDEN), sorted(set(report["modules"]) & FORBIDDEN)
    assert "severa_ext.extranet.service" in report["modules"]
    assert report["calls"] == []
