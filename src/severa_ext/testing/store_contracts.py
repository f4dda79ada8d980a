"""Contract tests for the Extranet and activation stores: subclass one per implementation.

Each class pins every rule the services rely on; subclass it in a ``Test*`` class and
override the ``store`` fixture (a fresh, empty store). Where the store can be opened
from another process (a database), also override ``reopen`` to return a picklable,
argument-free callable that opens the same store again: the contract then races real
processes against each other, not only threads::

    class TestMyAuditLog(AuditLogContract):
        @pytest.fixture
        def store(self, engine):
            return MyAuditLog(engine)

        @pytest.fixture
        def reopen(self, database_url):
            return functools.partial(open_sql, MyAuditLog, database_url)

The classes: :class:`AuditLogContract` (append and the journal queries, oldest
first), :class:`ActivationStoreContract` (on, replace, off).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from severa_ext.extranet.audit import AuditEvent, AuditKind, AuditLog
from severa_ext.extranet.rights import Right
from severa_ext.sync.activation import Activation, ActivationStore, ServerKind
from severa_ext.testing._store_racing import (
    NOW,
    PROCESSES,
    append_in_process,
    audit_event,
    open_sql,
    race,
    run_in_processes,
)

__all__ = [
    "ActivationStoreContract",
    "AuditLogContract",
    "open_sql",
]

T = TypeVar("T")

_HELSINKI = ZoneInfo("Europe/Helsinki")
_THREADS = 8

_TIMES = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
_STORE_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
"""Hypothesis runs against one store per test: each example writes under fresh ids."""


def _fresh_namespace() -> str:
    """A prefix no earlier example used (not drawn: shrinking would repeat draws)."""
    return f"n{uuid.uuid4().hex[:12]}-"


# --- the audit log -----------------------------------------------------------------


_ids = st.text("abcdefghij", min_size=1, max_size=3)
_rights = st.sampled_from(
    [None, Right(0), Right.VIEW_STATUS, Right.VIEW_HOURS | Right.VIEW_HOUR_TIMES, Right.FINANCE]
)


class AuditLogContract:
    """Contract tests for an :class:`~severa_ext.extranet.audit.AuditLog`.

    Rules: every field of an event reads back equal (times as the same instant, to
    the microsecond); ``for_project`` and ``for_contact`` return exactly the events
    of that project / contact, oldest first (append order, whatever their ``at``);
    an event without a project is found by its contact only; appends from many
    threads and processes are all kept.
    """

    @pytest.fixture
    def store(self) -> AuditLog:
        """A fresh, empty audit log: override this fixture."""
        raise NotImplementedError(f"{type(self).__name__} must override the store fixture")

    @pytest.fixture
    def reopen(self) -> Callable[[], AuditLog] | None:
        """A picklable callable opening the same log anew; ``None``: one process only."""
        return None

    def test_empty(self, store: AuditLog) -> None:
        assert list(store.for_project("p1")) == []
        assert list(store.for_contact("c1")) == []

    def test_round_trip_keeps_every_field(self, store: AuditLog) -> None:
        event = audit_event("p1", "c1", at=NOW.astimezone(_HELSINKI), kind="invite_sent")
        bare = AuditEvent(actor="c1", at=NOW, project_id="p1", contact_id="c1", kind="comment")
        store.append(event)
        store.append(bare)
        assert list(store.for_project("p1")) == [event, bare]
        read = next(iter(store.for_contact("c1")))
        assert read.at == NOW
        assert read.at.utcoffset() is not None
        assert read.kind == "invite_sent"
        assert read.before_rights == Right.VIEW_STATUS

    def test_oldest_first_is_append_order(self, store: AuditLog) -> None:
        later = audit_event("p1", "c1", at=NOW + timedelta(hours=1), detail="first appended")
        earlier = audit_event("p1", "c2", at=NOW, detail="second appended")
        same = audit_event("p1", "c1", at=NOW, detail="third appended")
        for event in (later, earlier, same):
            store.append(event)
        assert list(store.for_project("p1")) == [later, earlier, same]
        assert list(store.for_contact("c1")) == [later, same]

    def test_queries_filter_exactly(self, store: AuditLog) -> None:
        about_person = audit_event(None, "c1", at=NOW, kind=AuditKind.CONTACT_CHANGED)
        other_project = audit_event("p2", "c1", at=NOW)
        other_contact = audit_event("p1", "c2", at=NOW)
        for event in (about_person, other_project, other_contact):
            store.append(event)
        assert list(store.for_contact("c1")) == [about_person, other_project]
        assert list(store.for_project("p1")) == [other_contact]
        assert list(store.for_project("p")) == []
        assert list(store.for_contact("C1")) == []

    @_STORE_SETTINGS
    @given(data=st.data())
    def test_queries_match_a_model(self, store: AuditLog, data: st.DataObject) -> None:
        namespace = _fresh_namespace()
        events = data.draw(
            st.lists(
                st.builds(
                    audit_event,
                    st.one_of(st.none(), _ids.map(lambda p: namespace + p)),
                    _ids.map(lambda c: namespace + c),
                    at=_TIMES,
                    before_rights=_rights,
                    after_rights=_rights,
                    share_version=st.one_of(st.none(), st.integers(1, 10**6)),
                ),
                max_size=12,
            )
        )
        for event in events:
            store.append(event)
        for key in {e.project_id for e in events if e.project_id is not None}:
            assert list(store.for_project(key)) == [e for e in events if e.project_id == key]
        for key in {e.contact_id for e in events}:
            assert list(store.for_contact(key)) == [e for e in events if e.contact_id == key]

    def test_concurrent_appends_are_all_kept(self, store: AuditLog) -> None:
        def append(index: int) -> None:
            for n in range(10):
                store.append(audit_event("p1", f"c{index}", at=NOW, share_version=n + 1))

        assert race(_THREADS, append) == [None] * _THREADS
        events = list(store.for_project("p1"))
        assert len(events) == _THREADS * 10
        for index in range(_THREADS):
            mine = [e.share_version for e in events if e.contact_id == f"c{index}"]
            assert mine == list(range(1, 11))  # each writer's events in its order

    def test_appends_from_processes_are_all_kept(
        self, store: AuditLog, reopen: Callable[[], AuditLog] | None
    ) -> None:
        if reopen is None:
            pytest.skip("this audit log lives in one process")
        run_in_processes(append_in_process, (reopen, "p-proc"))
        assert len(list(store.for_project("p-proc"))) == 20 * PROCESSES


# --- activations -------------------------------------------------------------------


def _activation(user: str, mailbox: str = "alice@contoso.com", **changes: Any) -> Activation:
    values: dict[str, Any] = {
        "user_id": user,
        "mailbox": mailbox,
        "server_kind": ServerKind.GRAPH,
        "activated_at": NOW,
    }
    values.update(changes)
    return Activation(**values)


class ActivationStoreContract:
    """Contract tests for an :class:`~severa_ext.sync.activation.ActivationStore`.

    Rules: ``get`` is ``None`` until ``put``; ``put`` stores every field (the time
    as the same instant) and replaces the user's earlier activation; ``remove``
    turns it off and is a no-op when it was off; users are independent; racing
    ``put`` calls for one user leave one of them and raise nothing.
    """

    @pytest.fixture
    def store(self) -> ActivationStore:
        """A fresh, empty activation store: override this fixture."""
        raise NotImplementedError(f"{type(self).__name__} must override the store fixture")

    def test_off_until_put(self, store: ActivationStore) -> None:
        assert store.get("u1") is None

    def test_put_keeps_every_field(self, store: ActivationStore) -> None:
        activation = _activation(
            "u1", activated_at=NOW.astimezone(_HELSINKI), server_kind=ServerKind.EWS
        )
        store.put(activation)
        assert store.get("u1") == activation
        read = store.get("u1")
        assert read is not None
        assert read.server_kind is ServerKind.EWS
        assert read.activated_at.utcoffset() is not None

    def test_put_replaces(self, store: ActivationStore) -> None:
        store.put(_activation("u1"))
        again = _activation("u1", "alice@contoso.fi", activated_at=NOW + timedelta(days=1))
        store.put(again)
        assert store.get("u1") == again

    def test_remove(self, store: ActivationStore) -> None:
        store.put(_activation("u1"))
        store.put(_activation("u2", "bob@contoso.com"))
        store.remove("u1")
        store.remove("u1")
        store.remove("never-on")
        assert store.get("u1") is None
        assert store.get("u2") == _activation("u2", "bob@contoso.com")

    def test_racing_puts_leave_one(self, store: ActivationStore) -> None:
        candidates = [_activation("u1", f"user{i}@contoso.com") for i in range(_THREADS)]
        outcomes = race(_THREADS, lambda i: store.put(candidates[i]))
        assert outcomes == [None] * _THREADS
        assert store.get("u1") in candidates

    @_STORE_SETTINGS
    @given(data=st.data())
    def test_matches_a_model(self, store: ActivationStore, data: st.DataObject) -> None:
        namespace = _fresh_namespace()
        users = st.sampled_from([namespace + u for u in ("a", "b", "c")])
        steps = data.draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["put", "remove"]),
                    users,
                    st.sampled_from(list(ServerKind)),
                    _TIMES,
                ),
                max_size=10,
            )
        )
        model: dict[str, Activation] = {}
        for op, user, kind, at in steps:
            if op == "put":
                model[user] = _activation(user, server_kind=kind, activated_at=at)
                store.put(model[user])
            else:
                model.pop(user, None)
                store.remove(user)
        for user in {namespace + u for u in ("a", "b", "c")}:
            assert store.get(user) == model.get(user)
