"""The planner as the pure function it is (severa_ext.sync.planner, sync.match).

* A table test over every cell: side A state x side B state (unchanged, edited,
  deleted) x read-only side (none, A, B) x S8 (the activity is a project task or not).
  The expected plans are written out by hand, from DESIGN.md's decision table.
* A hypothesis property against a plain dict model: random calendars on both sides,
  plan, apply the plan to the dicts, plan again: the second plan is empty, and every
  linked pair holds the same content.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severa_ext.sync.content import Content
from severa_ext.sync.items import CalendarItem, Window
from severa_ext.sync.links import Link, Parked
from severa_ext.sync.match import Observed
from severa_ext.sync.planner import (
    Create,
    Delete,
    LinkExisting,
    Park,
    SetLink,
    Unlink,
    Update,
    plan_sync,
)
from severa_ext.sync.policy import SyncPolicy
from support import scaled

NOW = datetime(2026, 5, 4, 8, tzinfo=UTC)
WINDOW = Window(NOW - timedelta(days=30), NOW + timedelta(days=365))
POLICY = SyncPolicy(outgoing_types={"meeting"}, default_type="other", personal_type="personal")
BASE = CalendarItem(
    "Review", NOW + timedelta(days=1), NOW + timedelta(days=1, hours=1), location="Room 1"
)

U, E, D = "unchanged", "edited", "deleted"

# (A, B) -> the plan, as (record kind, side) pairs, when both sides are writable.
TABLE = {
    (U, U): [],
    (E, U): [("Update", "b"), ("SetLink", None)],
    (U, E): [("Update", "a"), ("SetLink", None)],
    (E, E): [("Update", "a"), ("Update", "b"), ("SetLink", None)],  # merged, no conflict
    (D, U): [("Delete", "b"), ("Unlink", None)],
    (U, D): [("Delete", "a"), ("Unlink", None)],
    (D, E): [("Create", "a"), ("SetLink", None)],  # edit beats delete
    (E, D): [("Create", "b"), ("SetLink", None)],
    (D, D): [("Unlink", None)],
}


def _expected(a: str, b: str, read_only: str | None, project_task: bool) -> list[tuple]:
    if (a, b) == (E, D) and project_task:
        return [("Unlink", None)]  # S8: a project task never goes to the calendar
    plan = TABLE[(a, b)]
    if read_only is None:
        return plan
    out = []
    for kind, side in plan:
        if side == read_only:
            out.append(("Skipped", side))
        elif kind == "Unlink" and any(k == "Delete" and s == read_only for k, s in plan):
            continue  # a skipped delete keeps the link: not a delete, not a loss
        elif kind == "SetLink" and any(k == "Create" and s == read_only for k, s in plan):
            out.append(("Unlink", None))  # a skipped re-create drops the link
        else:
            out.append((kind, side))
    return out


def _observed(side: str, state: str, item: CalendarItem) -> Observed:
    item_id = f"{side.upper()}1"
    if state == D:
        return Observed(deleted=frozenset({item_id}))
    if state == U:
        return Observed(changed=(item.evolve(id=item_id, etag="1"),))
    return Observed(changed=(item.evolve(id=item_id, etag="2"),))


@pytest.mark.parametrize(
    ("a", "b", "read_only", "project_task"),
    list(itertools.product([U, E, D], [U, E, D], [None, "a", "b"], [False, True])),
)
def test_every_cell_of_the_decision_table(a, b, read_only, project_task):
    activity = BASE.evolve(activity_type="meeting", project_task=project_task)
    link = Link("k", a_id="A1", b_id="B1", a_etag="1", b_etag="1", base=activity)
    plan = plan_sync(
        [link],
        _observed("a", a, activity.evolve(title="Review (A)")),
        _observed("b", b, BASE.evolve(location="Room 2")),
        POLICY,
        WINDOW,
        read_only=frozenset({read_only} if read_only else ()),
    )
    got = [(type(r).__name__, getattr(r, "side", None)) for r in plan.records]
    assert got == _expected(a, b, read_only, project_task)
    for record in plan.records:
        if isinstance(record, Update | Create) and record.side == "a":
            assert record.item.activity_type == "meeting"  # a linked entry keeps its type
            assert record.item.location == "Room 2"
        if isinstance(record, Update | Create) and record.side == "b":
            assert record.item.title == "Review (A)"
            assert record.item.activity_type is None
        if isinstance(record, Create):
            assert record.intent.side == record.side  # the intent is stored first
            assert record.intent.sync_key == "k"


def test_a_new_item_on_one_side_is_the_same_cell_as_edit_beats_delete():
    """Content on one side, nothing on the other: a Create with its intent, whatever
    led there (S9 gives a new calendar entry the default or the personal type)."""
    private = BASE.evolve(id="B7", etag="1", private=True)
    plan = plan_sync([], Observed(), Observed(changed=(private,)), POLICY, WINDOW)
    create, final = plan.records
    assert isinstance(create, Create)
    assert isinstance(final, SetLink)
    assert (create.side, create.item.activity_type, create.source_id) == ("a", "personal", "B7")
    assert create.intent.base == final.link.base
    assert final.link.b_id == "B7"


# -- the dict model ----------------------------------------------------------------------

_titles = st.sampled_from(["Planning", "Retro", "Dentist"])
_days = st.integers(min_value=0, max_value=2)


@st.composite
def _calendar(draw, side: str):
    items = {}
    for n in range(draw(st.integers(min_value=0, max_value=4))):
        start = NOW + timedelta(days=draw(_days), hours=1)
        item = CalendarItem(
            draw(_titles),
            start,
            start + timedelta(hours=1),
            body=draw(st.sampled_from(["", "notes"])),
            private=draw(st.booleans()),
            activity_type=draw(st.sampled_from(["meeting", "other", None]))
            if side == "a"
            else None,
            project_task=draw(st.booleans()) if side == "a" else False,
            id=f"{side}{n}",
            etag="1",
        )
        items[item.id] = item
    return items


class _Model:
    """Two calendars and a state as plain dicts; applies a plan the simple way."""

    def __init__(self, a: dict, b: dict) -> None:
        self.sides = {"a": dict(a), "b": dict(b)}
        self.state: dict[str, object] = {}
        self.ids = itertools.count(100)

    def observe(self, side: str) -> Observed:
        """A full listing: every item, and the ids the state knows that are gone."""
        items = self.sides[side]
        known = {entry.id_on(side) for entry in self.state.values()} - {None}
        return Observed(tuple(items.values()), frozenset(known - set(items)))

    def plan(self):
        return plan_sync(self.state.values(), self.observe("a"), self.observe("b"), POLICY, WINDOW)

    def apply(self, plan) -> None:
        written: dict[tuple[str, str], CalendarItem] = {}
        for record in plan.records:
            if isinstance(record, Create):
                new_id = f"{record.side}{next(self.ids)}"
                item = record.item.evolve(id=new_id, etag="1", sync_key=record.sync_key)
                self.sides[record.side][new_id] = written[(record.sync_key, record.side)] = item
            elif isinstance(record, Update):
                old = self.sides[record.side][record.item_id]
                item = record.item.evolve(id=old.id, etag=str(int(old.etag) + 1))
                self.sides[record.side][old.id] = written[(record.sync_key, record.side)] = item
            elif isinstance(record, Delete):
                del self.sides[record.side][record.item_id]
            elif isinstance(record, SetLink):
                link = record.link
                for side in ("a", "b"):
                    item = written.get((link.sync_key, side))
                    if item is not None:
                        link = link.with_item(side, item.id, item.etag)
                self.state[link.sync_key] = link
            elif isinstance(record, Unlink):
                self.state.pop(record.sync_key, None)
            elif isinstance(record, Park):
                self.state[record.sync_key] = Parked(record.side, record.item_id, "1", record.item)


@settings(max_examples=scaled(150))
@given(
    a=_calendar("a"),
    b=_calendar("b"),
    edits=st.lists(
        st.tuples(st.sampled_from("ab"), st.integers(0, 9), st.sampled_from(["edit", "delete"])),
        max_size=4,
    ),
)
def test_apply_the_plan_then_plan_again_is_empty(a, b, edits):
    model = _Model(a, b)
    model.apply(model.plan())
    assert len(model.plan()) == 0
    for side, index, what in edits:  # users edit and delete; one more round converges
        items = sorted(model.sides[side])
        if not items:
            continue
        item_id = items[index % len(items)]
        if what == "delete":
            del model.sides[side][item_id]
        else:
            old = model.sides[side][item_id]
            model.sides[side][item_id] = old.evolve(body=old.body + " edited", etag="9")
    model.apply(model.plan())
    assert len(model.plan()) == 0
    for entry in model.state.values():
        if isinstance(entry, Link):
            one, two = model.sides["a"].get(entry.a_id), model.sides["b"].get(entry.b_id)
            assert one is not None, entry
            assert two is not None, entry
            assert Content.of(one) == Content.of(two)  # converged
    assert not any(isinstance(r, LinkExisting) for r in model.plan().records)
