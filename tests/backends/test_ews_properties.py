"""Property: a replica kept from ``changes()`` always equals the user's calendar (S3, S11).

Whatever a user does in Outlook between syncs (singles in and out of the window,
series, moved and deleted occurrences, invalidated sync states), applying the full
listing and then each delta — items replace, ``removed`` drop, a ``full`` listing
replaces everything — reproduces exactly what the calendar shows in the window. This
runs over real HTTP with small pages so that ``SyncFolderItems`` and ``CalendarView``
paging are exercised.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severa_ext.backends.ews import EwsBackend
from severa_ext.sync.items import CalendarItem, Window, content_equal
from severa_ext.testing.ews_server import FakeEwsServer
from support import scaled

pytestmark = pytest.mark.slow

ALICE = "alice@contoso.com"
WINDOW = Window(datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC))

# Day offsets from 1 May: 0..30 are inside the window, 40.. outside.
DAYS = st.one_of(st.integers(0, 30), st.integers(40, 45))
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), DAYS),
        st.tuples(st.just("series"), st.integers(1, 4)),
        st.tuples(st.just("edit"), st.integers(0, 99)),
        st.tuples(st.just("move"), DAYS),
        st.tuples(st.just("delete"), st.integers(0, 99)),
        st.tuples(st.just("sync"), st.just(0)),
        st.tuples(st.just("invalidate"), st.just(0)),
    ),
    max_size=25,
)


def at(day: int, title: str = "Entry") -> CalendarItem:
    start = datetime(2026, 5, 1, 9, tzinfo=UTC) + timedelta(days=day)
    return CalendarItem(title, start, start + timedelta(hours=1))


@settings(max_examples=scaled(20))
@given(STEPS)
def test_replica_from_changes_equals_the_calendar(steps):
    with FakeEwsServer() as server:
        server.add_mailbox(ALICE)
        backend = EwsBackend(
            server.url, ALICE, allow_loopback_http=True, auth=server.auth(), page_size=2
        )
        replica: dict[str, CalendarItem] = {}
        cursor = None

        def sync() -> None:
            nonlocal cursor
            change = backend.changes(cursor, WINDOW)
            if change.full:
                replica.clear()
            for item in change.items:
                replica[item.id] = item
            for removed in change.removed:
                replica.pop(removed, None)
            cursor = change.cursor

        sync()
        for number, (step, value) in enumerate(steps):
            visible = server.calendar_items(ALICE)
            target = visible[value % len(visible)] if visible else None
            if step == "create":
                server.create_item(ALICE, at(value, f"Single {number}"))
            elif step == "series":
                server.create_series(ALICE, at(number % 28, f"Series {number}"), count=value)
            elif step == "edit" and target is not None:
                server.update_item(ALICE, target.id, target.evolve(title=f"Edit {number}"))
            elif step == "move" and target is not None:
                moved = at(value)
                server.update_item(
                    ALICE, target.id, target.evolve(start=moved.start, end=moved.end)
                )
            elif step == "delete" and target is not None:
                server.delete_item(ALICE, target.id)
            elif step == "sync":
                sync()
            elif step == "invalidate":
                server.invalidate_sync_states(ALICE)
        sync()
        backend.close()
        expected = {item.id: item for item in server.calendar_items(ALICE, WINDOW)}
    assert set(replica) == set(expected)
    for item_id, item in expected.items():
        assert content_equal(replica[item_id], item), (replica[item_id], item)
        assert replica[item_id].etag == item.etag
