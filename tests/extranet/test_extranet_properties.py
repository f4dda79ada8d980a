"""Property tests of the Extranet's guarantees (X2, X5, X7, X8, X11).

Projects are built with a unique sentinel in every field a share could reveal, each
tagged with the rights that may reveal it. The view of a project under ANY valid rights
must hold no sentinel of an ungranted section (and must hold those of granted ones).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

from severa_ext.clock import FixedClock
from severa_ext.domain import (
    BillableStatus,
    Comment,
    CommentTarget,
    ContactPerson,
    Invoice,
    Phase,
    Project,
    ProjectFile,
    ProjectLink,
    ProjectStatus,
    WorkHour,
)
from severa_ext.errors import AccessDenied, ShareExists, ShareNotFound, ValidationError
from severa_ext.extranet import (
    DEPENDENCIES,
    Action,
    ApprovalStatus,
    ExtranetService,
    MemoryContactDirectory,
    MemoryShareStore,
    ProjectView,
    Right,
    approval_status,
    changed_hours,
    validate_rights,
)
from severa_ext.extranet.access import PHASE_VIEW_RIGHTS, requirement
from support import scaled

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SINGLE_RIGHTS = list(Right)
PHASE_RIGHTS = [r for r in SINGLE_RIGHTS if r & PHASE_VIEW_RIGHTS]


def drop_dependents(rights: Right) -> Right:
    """Remove every right whose dependency is missing (the largest valid subset)."""
    changed = True
    while changed:
        changed = False
        for needer, needed in DEPENDENCIES.items():
            if needer in rights and needed not in rights:
                rights &= ~needer
                changed = True
    return validate_rights(rights)


def combine(rights: frozenset[Right]) -> Right:
    return functools.reduce(operator.or_, rights, Right(0))


def valid_rights() -> st.SearchStrategy[Right]:
    return st.frozensets(st.sampled_from(SINGLE_RIGHTS)).map(combine).map(drop_dependents)


# --- sentinel projects ------------------------------------------------------------------


@attrs.define
class Secret:
    """A value of the project, the rights that may reveal it, and those that must."""

    value: object
    reveal: tuple[Right, ...]  # revealed if ANY of these masks is fully granted
    show: tuple[Right, ...]  # must appear if ANY of these masks is fully granted


def _granted(masks: tuple[Right, ...], rights: Right) -> bool:
    return any(mask in rights for mask in masks)


@attrs.define
class Builder:
    """Makes values that occur nowhere else, and records who may see them."""

    prefix: str
    n: int = 0
    secrets: list[Secret] = attrs.Factory(list)

    def _next(self) -> int:
        self.n += 1
        return self.n

    def text(self, reveal: tuple[Right, ...], show: tuple[Right, ...] | None = None) -> str:
        value = f"<{self.prefix}{self._next():04d}>"
        self.secrets.append(Secret(value, reveal, reveal if show is None else show))
        return value

    def amount(self, reveal: tuple[Right, ...]) -> Decimal:
        value = Decimal(f"{self.prefix_number}{self._next():04d}.37")
        self.secrets.append(Secret(value, reveal, reveal))
        return value

    def day(self, reveal: tuple[Right, ...]) -> date:
        value = date(1990 + self.prefix_number, 1, 1) + timedelta(days=self._next())
        self.secrets.append(Secret(value, reveal, reveal))
        return value

    def clock_time(self, reveal: tuple[Right, ...]) -> time:
        k = self._next() + 1000 * self.prefix_number
        value = time((k // 60) % 24, k % 60, 7)
        self.secrets.append(Secret(value, reveal, reveal))
        return value

    def instant(self, reveal: tuple[Right, ...]) -> datetime:
        value = datetime(2001, 1, 1, tzinfo=UTC) + timedelta(
            seconds=self._next() * 7919 + self.prefix_number * 10**7
        )
        self.secrets.append(Secret(value, reveal, reveal))
        return value

    def size(self, reveal: tuple[Right, ...]) -> int:
        value = 10**9 * self.prefix_number + self._next()
        self.secrets.append(Secret(value, reveal, reveal))
        return value

    @property
    def prefix_number(self) -> int:
        return 1 + ord(self.prefix[0]) - ord("A")


R = Right
PHASE_MASKS = (R.VIEW_GANTT, R.VIEW_TREE, R.VIEW_HOURS, R.VIEW_ESTIMATES)
PHASE_SHOW = (R.VIEW_GANTT, R.VIEW_TREE, R.VIEW_ESTIMATES)


@st.composite
def sentinel_projects(draw: st.DrawFn, prefix: str = "A") -> tuple[Project, list[Secret]]:
    """A project whose every revealable value is unique, with its secrets list."""
    b = Builder(prefix)
    n_phases = draw(st.integers(0, 4))
    phase_ids = [b.text(PHASE_MASKS, PHASE_SHOW) for _ in range(n_phases)]
    phases = []
    for i, pid in enumerate(phase_ids):
        parent = draw(st.one_of(st.none(), st.sampled_from(phase_ids))) if i else None
        phases.append(
            Phase(
                id=pid,
                name=b.text(PHASE_MASKS, PHASE_SHOW),
                parent_phase_id=parent,
                start_date=b.day((R.VIEW_GANTT,)) if draw(st.booleans()) else None,
                deadline=b.day((R.VIEW_GANTT,)) if draw(st.booleans()) else None,
                estimated_hours=b.amount((R.VIEW_ESTIMATES,)) if draw(st.booleans()) else None,
            )
        )
    hours = []
    if phase_ids:
        for _ in range(draw(st.integers(0, 4))):
            timed = draw(st.booleans())
            hours.append(
                WorkHour(
                    id=b.text((R.VIEW_HOURS,)),
                    phase_id=draw(st.sampled_from(phase_ids)),
                    user_name=b.text((R.VIEW_HOURS,)),
                    event_date=b.day((R.VIEW_HOURS,)),
                    quantity=b.amount((R.VIEW_HOURS,)),
                    description=b.text((R.VIEW_HOURS,)),
                    start_time=b.clock_time((R.VIEW_HOUR_TIMES,)) if timed else None,
                    end_time=b.clock_time((R.VIEW_HOUR_TIMES,)) if timed else None,
                    billable_status=draw(st.sampled_from(BillableStatus)),
                    billable_amount=b.amount((R.VIEW_HOURS | R.VIEW_BILLABLE,)),
                )
            )
    invoices = [
        Invoice(
            id=b.text((R.VIEW_BILLING,)),
            number=b.text((R.VIEW_BILLING,)),
            date=b.day((R.VIEW_BILLING,)),
            total=b.amount((R.VIEW_BILLING,)),
            status=b.text((R.VIEW_BILLING,)),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    files = [
        ProjectFile(
            id=b.text((R.VIEW_FILES,)),
            name=b.text((R.VIEW_FILES,)),
            size=b.size((R.VIEW_FILES,)),
            content_type=b.text((R.VIEW_FILES,)),
            added_by=b.text((R.VIEW_FILES,)),
            added_at=b.instant((R.VIEW_FILES,)),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    links = [
        ProjectLink(
            id=b.text((R.VIEW_FILES,)),
            title=b.text((R.VIEW_FILES,)),
            url="https://example.com/" + b.text((R.VIEW_FILES,)),
            added_by=b.text((R.VIEW_FILES,)),
        )
        for _ in range(draw(st.integers(0, 2)))
    ]
    targets: list[tuple[CommentTarget, str | None, tuple[Right, ...]]] = [
        (CommentTarget.SUMMARY, None, (Right(0),))
    ]
    targets += [(CommentTarget.PHASE, p, PHASE_MASKS) for p in phase_ids]
    targets += [(CommentTarget.FILE, f.id, (R.VIEW_FILES,)) for f in files]
    targets += [(CommentTarget.LINK, ln.id, (R.VIEW_FILES,)) for ln in links]
    comments = []
    for _ in range(draw(st.integers(0, 4))):
        target, target_id, masks = draw(st.sampled_from(targets))
        comments.append(
            Comment(
                id=b.text(masks),
                target=target,
                target_id=target_id,
                author=b.text(masks),
                text=b.text(masks),
                created_at=b.instant(masks),
            )
        )
    status = (
        ProjectStatus(id=b.text((R.VIEW_STATUS,)), name=b.text((R.VIEW_STATUS,)))
        if draw(st.booleans())
        else None
    )
    project = Project(
        id=f"project-{prefix}",
        name=f"Project {prefix}",
        customer_id="cust",
        summary=f"Summary of {prefix}",
        status=status,
        phases=phases,
        work_hours=hours,
        invoices=invoices,
        billable_amount=b.amount((R.VIEW_BILLABLE,)) if draw(st.booleans()) else None,
        files=files,
        links=links,
        comments=comments,
    )
    return project, b.secrets


def leaves(value: object) -> Iterator[object]:
    """Every scalar reachable from a view (attrs fields, tuples, sets)."""
    if attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            yield from leaves(getattr(value, field.name))
    elif isinstance(value, tuple | list | frozenset | set):
        for item in value:
            yield from leaves(item)
    else:
        yield value


def assert_no_leak(view: ProjectView, secrets: list[Secret], rights: Right) -> None:
    found = list(leaves(view))
    strings = [v for v in found if isinstance(v, str)]
    text = repr(view)
    for secret in secrets:
        value = secret.value
        if isinstance(value, str):
            present = value in text or any(value in s for s in strings)
        else:
            present = any(type(v) is type(value) and v == value for v in found)
        if not _granted(secret.reveal, rights):
            assert not present, f"{value!r} leaked into a view with rights {rights!r}"
        elif _granted(secret.show, rights):
            assert present, f"{value!r} missing from a view with rights {rights!r}"


def contact(contact_id: str = "k1") -> ContactPerson:
    return ContactPerson(contact_id, "cust", email=f"{contact_id}@example.com")


class CustDirectory(MemoryContactDirectory):
    """The host's directory here: every project is customer cust's, k1 and k2 its contacts."""

    def __init__(self) -> None:
        super().__init__(contacts=[contact("k1"), contact("k2")])

    def project_customer(self, project_id: str) -> str | None:
        return "cust"


def service() -> tuple[ExtranetService, FixedClock]:
    clock = FixedClock(T0)
    return ExtranetService(MemoryShareStore(), directory=CustDirectory(), clock=clock), clock


# --- properties -------------------------------------------------------------------------


@given(sentinel_projects(), valid_rights())
@settings(max_examples=scaled(150))
def test_x5_view_holds_no_value_of_an_ungranted_section(built, rights):
    """X5: for ANY project and ANY valid rights, no ungranted section leaks into the view."""
    project, secrets = built
    svc, _ = service()
    svc.share(project, contact(), rights, actor="admin")
    view = svc.view("k1", project)
    assert_no_leak(view, secrets, rights)
    section_rights = {
        "invoices": R.VIEW_BILLING,
        "billable": R.VIEW_BILLABLE,
        "gantt": R.VIEW_GANTT,
        "tree": R.VIEW_TREE,
        "work_hours": R.VIEW_HOURS,
        "estimates": R.VIEW_ESTIMATES,
        "status": R.VIEW_STATUS,
        "files": R.VIEW_FILES,
        "links": R.VIEW_FILES,
    }
    for name, right in section_rights.items():
        assert (getattr(view, name) is not None) == (right in rights), name
    for entry in view.work_hours or ():
        if R.VIEW_BILLABLE not in rights:
            assert entry.billable_status is None
            assert entry.billable_amount is None
        if R.VIEW_HOUR_TIMES not in rights:
            assert entry.start_time is None
            assert entry.end_time is None


@given(sentinel_projects("A"), sentinel_projects("B"), valid_rights(), valid_rights())
@settings(max_examples=scaled(100))
def test_x11_isolation_a_contact_never_sees_b_through_a(built_a, built_b, rights_a, rights_b):
    """X2/X11: with shares on A and B, nothing of B appears through A, whatever the rights."""
    (project_a, secrets_a), (project_b, secrets_b) = built_a, built_b
    svc, _ = service()
    svc.share(project_a, contact(), rights_a, actor="admin")
    svc.share(project_b, contact(), rights_b, actor="admin")
    view_a = svc.view("k1", project_a)
    assert_no_leak(view_a, secrets_a, rights_a)
    nothing_of_b = [attrs.evolve(s, reveal=(), show=()) for s in secrets_b]
    nothing_of_b.append(Secret(project_b.id, (), ()))
    nothing_of_b.append(Secret(project_b.summary, (), ()))
    nothing_of_b.append(Secret(project_b.name, (), ()))
    assert_no_leak(view_a, nothing_of_b, rights_a)
    assert view_a.rights == rights_a
    assert svc.view("k1", project_b).rights == rights_b
    # B's targets cannot be reached through A either.
    svc.update(project_a.id, "k1", rights_a | R.COMMENT | R.VIEW_FILES | R.VIEW_TREE, actor="a")
    for phase in project_b.phases:
        with pytest.raises(ValidationError):
            svc.comment("k1", project_a, "hi", target=CommentTarget.PHASE, target_id=phase.id)
    for file in project_b.files:
        with pytest.raises(ValidationError):
            svc.comment("k1", project_a, "hi", target=CommentTarget.FILE, target_id=file.id)
    if project_b.work_hours:
        svc.update(project_a.id, "k1", R.VIEW_HOURS | R.APPROVE_HOURS, actor="admin")
        with pytest.raises(ValidationError):
            svc.approve_hours("k1", project_a, [project_b.work_hours[0].id])


def _contact_action(svc: ExtranetService, action: Action, project: Project) -> None:
    """Try ``action`` as the contact with arguments that are valid for ``project``."""
    if action is Action.OPEN or action.name.startswith("VIEW_"):
        svc.view("k1", project)
        decision = svc.authorize("k1", project.id, action)
        if not decision.allowed:
            raise AccessDenied(decision.message, decision=decision)
    elif action is Action.APPROVE_HOURS:
        svc.approve_hours("k1", project, [project.work_hours[0].id])
    elif action is Action.COMMENT_SUMMARY:
        svc.comment("k1", project, "a comment")
    elif action is Action.COMMENT_PHASE:
        svc.comment("k1", project, "c", target=CommentTarget.PHASE, target_id=project.phases[0].id)
    elif action is Action.COMMENT_FILE:
        svc.comment("k1", project, "c", target=CommentTarget.FILE, target_id=project.files[0].id)
    elif action is Action.COMMENT_LINK:
        svc.comment("k1", project, "c", target=CommentTarget.LINK, target_id=project.links[0].id)
    elif action is Action.ADD_FILE:
        svc.add_file("k1", project, "notes.txt", size=3, content_type="text/plain")
    elif action is Action.ADD_LINK:
        svc.add_link("k1", project, "https://example.org/x", title="x")
    else:
        svc.change_status("k1", project, ProjectStatus("s-new", "New"))


def _full_project() -> Project:
    return Project(
        id="full",
        name="Full",
        customer_id="cust",
        phases=[Phase("ph", "Phase")],
        work_hours=[WorkHour("h", "ph", "Ann", date(2026, 1, 1), Decimal(1))],
        files=[ProjectFile("f", "f.pdf")],
        links=[ProjectLink("l", "L", "https://example.com")],
    )


@given(valid_rights(), st.frozensets(st.sampled_from(SINGLE_RIGHTS), min_size=1))
@settings(max_examples=scaled(100))
def test_x7_removing_a_right_refuses_its_actions_and_sections_at_once(before, removed):
    """X7: after update() removes rights, each action that needed them is refused at once."""
    after = drop_dependents(before & ~combine(removed))
    assume(after != before)
    project = _full_project()
    svc, _ = service()
    svc.share(project, contact(), before, actor="admin")
    allowed_before = {a for a in Action if svc.authorize("k1", project.id, a).allowed}
    for action in allowed_before:
        _contact_action(svc, action, project)  # all of them work before the update
    svc.update(project.id, "k1", after, actor="admin")
    view = svc.view("k1", project)
    assert view.rights == after
    lost = before & ~after
    for action in Action:
        decision = svc.authorize("k1", project.id, action)
        need = requirement(action)
        assert decision.allowed == (not need.missing(after)), action
        if action in allowed_before and not decision.allowed:
            assert decision.reason == "missing-right"
            assert decision.missing & (lost | need.any_of)
            with pytest.raises(AccessDenied) as refused:
                _contact_action(svc, action, project)
            assert refused.value.decision.reason == "missing-right"
    for right in lost:
        assert not svc.explain("k1", project.id, right).allowed


@given(sentinel_projects(), valid_rights())
@settings(max_examples=scaled(60))
def test_x8_after_stop_every_action_and_view_is_refused(built, rights):
    """X8: after stop(confirm=True), every action and the view are refused at once."""
    project, _ = built
    svc, _ = service()
    share = svc.share(project, contact(), rights, actor="admin").share
    svc.stop(project.id, "k1", actor="admin", confirm=True)
    for action in Action:
        decision = svc.authorize("k1", project.id, action)
        assert not decision.allowed
        assert decision.reason == "stopped"
    with pytest.raises(AccessDenied) as refused:
        svc.view("k1", project)
    assert refused.value.decision.reason == "stopped"
    with pytest.raises(AccessDenied):
        svc.comment("k1", project, "still here?")
    with pytest.raises(AccessDenied):
        svc.view("k1", project, expected_version=share.version)
    assert svc.projects_for("k1") == ()


# --- a state machine over share / update / stop / authorize / time -------------------------

CONTACTS = ("k1", "k2")
PROJECTS = ("p1", "p2", "p3")


class ShareMachine(RuleBasedStateMachine):
    """The service against a dictionary model: decisions, menu and versions agree."""

    pairs = Bundle("pairs")

    @initialize()
    def setup(self) -> None:
        self.clock = FixedClock(T0)
        self.svc = ExtranetService(MemoryShareStore(), directory=CustDirectory(), clock=self.clock)
        self.model: dict[tuple[str, str], tuple[Right, datetime | None]] = {}
        self.versions: dict[tuple[str, str], int] = {}

    def _project(self, project_id: str) -> Project:
        return Project(id=project_id, name=project_id, customer_id="cust")

    @rule(
        target=pairs,
        project_id=st.sampled_from(PROJECTS),
        contact_id=st.sampled_from(CONTACTS),
        rights=valid_rights(),
        lifetime=st.one_of(st.none(), st.integers(1, 5)),
    )
    def share(self, project_id, contact_id, rights, lifetime):
        key = (project_id, contact_id)
        valid_until = None if lifetime is None else self.clock.now() + timedelta(hours=lifetime)
        if key in self.model:
            with pytest.raises(ShareExists):
                self.svc.share(
                    self._project(project_id), contact(contact_id), rights, actor="admin"
                )
            return key
        share = self.svc.share(
            self._project(project_id),
            contact(contact_id),
            rights,
            actor="admin",
            valid_until=valid_until,
        ).share
        assert share.version > self.versions.get(key, 0)
        self.versions[key] = share.version
        self.model[key] = (rights, valid_until)
        return key

    @rule(pair=pairs, rights=valid_rights())
    def update(self, pair, rights):
        if pair not in self.model:
            with pytest.raises(ShareNotFound):
                self.svc.update(*pair, rights, actor="admin")
            return
        share = self.svc.update(*pair, rights, actor="admin")
        assert share.version == self.versions[pair] + 1
        self.versions[pair] = share.version
        self.model[pair] = (rights, self.model[pair][1])

    @rule(pair=consumes(pairs))
    def stop(self, pair):
        if pair not in self.model:
            with pytest.raises(ShareNotFound):
                self.svc.stop(*pair, actor="admin", confirm=True)
            return
        share = self.svc.stop(*pair, actor="admin", confirm=True)
        assert share.version == self.versions[pair] + 1
        self.versions[pair] = share.version
        del self.model[pair]

    @rule(hours=st.integers(1, 3))
    def advance(self, hours):
        self.clock.advance(timedelta(hours=hours))

    @rule(
        project_id=st.sampled_from(PROJECTS),
        contact_id=st.sampled_from(CONTACTS),
        action=st.sampled_from(Action),
    )
    def authorize(self, project_id, contact_id, action):
        decision = self.svc.authorize(contact_id, project_id, action)
        key = (project_id, contact_id)
        entry = self.model.get(key)
        if entry is None:
            assert decision.reason == ("stopped" if key in self.versions else "no-share")
            return
        rights, valid_until = entry
        if valid_until is not None and self.clock.now() >= valid_until:
            assert decision.reason == "expired"
        else:
            assert decision.allowed == (not requirement(action).missing(rights))
            stale = self.svc.authorize(
                contact_id, project_id, action, expected_version=self.versions[key] - 1
            )
            assert stale.reason == "version-changed"

    @invariant()
    def menu_matches_model(self):
        now = self.clock.now()
        for contact_id in CONTACTS:
            expected = sorted(
                p
                for (p, c), (_, until) in self.model.items()
                if c == contact_id and (until is None or now < until)
            )
            assert [s.project_id for s in self.svc.projects_for(contact_id)] == expected


ShareMachine.TestCase.settings = settings(
    max_examples=scaled(40), stateful_step_count=20, deadline=None
)
test_x7_x8_x11_share_state_machine = ShareMachine.TestCase


# --- approvals: void exactly when an approved entry changed (X4) -------------------------

EDITS = {
    "quantity": st.decimals(0, 100, places=2),
    "description": st.text(max_size=5),
    "event_date": st.dates(date(2026, 1, 1), date(2026, 1, 3)),
    "start_time": st.none() | st.sampled_from([time(8), time(9)]),
    "billable_status": st.sampled_from(BillableStatus),
    "billable_amount": st.none() | st.decimals(0, 10, places=1),
}
APPROVED_FIELDS = {"quantity", "description", "event_date", "start_time"}


@given(
    n_hours=st.integers(1, 5),
    data=st.data(),
)
@settings(max_examples=scaled(100))
def test_x4_approval_is_void_exactly_when_an_approved_entry_changed(n_hours, data):
    hours = [
        WorkHour(f"h{i}", "ph", "Ann", date(2026, 1, 1), Decimal(i + 1)) for i in range(n_hours)
    ]
    project = Project(id="p", name="P", customer_id="cust", work_hours=hours)
    svc, _ = service()
    svc.share(project, contact(), R.VIEW_HOURS | R.APPROVE_HOURS, actor="admin")
    chosen = data.draw(st.sets(st.sampled_from([h.id for h in hours]), min_size=1))
    result = svc.approve_hours("k1", project, chosen)
    approval = result.value
    edited = list(result.project.work_hours)
    changed = set()
    for index in data.draw(st.sets(st.integers(0, n_hours - 1))):
        field = data.draw(st.sampled_from(sorted(EDITS)))
        value = data.draw(EDITS[field])
        before = edited[index]
        edited[index] = attrs.evolve(before, **{field: value})
        if field in APPROVED_FIELDS and getattr(before, field) != value:
            changed.add(before.id)
    removed = data.draw(st.sets(st.sampled_from([h.id for h in hours])))
    now = attrs.evolve(result.project, work_hours=[h for h in edited if h.id not in removed])
    expected_void = (changed | removed) & set(chosen)
    assert set(changed_hours(approval, now)) == expected_void
    assert (approval_status(approval, now) is ApprovalStatus.VOID) == bool(expected_void)
