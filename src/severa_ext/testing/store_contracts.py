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

The classes: :class:`ShareStoreContract` (optimistic versions),
:class:`InviteStoreContract` (compare-and-swap, supersede, revoke once, a password
used once), :class:`AuditLogContract` (append and the journal queries, oldest
first), :class:`ActivationStoreContract` (on, replace, off).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from severa_ext.errors import InviteConflict, InviteNotFound, ShareConflict, ValidationError
from severa_ext.extranet.audit import AuditEvent, AuditKind, AuditLog
from severa_ext.extranet.invites import (
    InviteRecord,
    InviteStore,
    MemoryInviteStore,
    RevokeReason,
)
from severa_ext.extranet.rights import Right
from severa_ext.extranet.shares import MemoryShareStore, Share, ShareStore
from severa_ext.sync.activation import Activation, ActivationStore, ServerKind
from severa_ext.testing._store_racing import (
    NOW,
    PROCESSES,
    append_in_process,
    audit_event,
    issue_invite,
    open_sql,
    race,
    run_in_processes,
    save_in_process,
    verify_in_process,
    verify_outcome,
)

__all__ = [
    "ActivationStoreContract",
    "AuditLogContract",
    "InviteStoreContract",
    "ShareStoreContract",
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
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.differing_executors,
    ],
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
        listed = [a for a in store.active() if a.user_id.startswith(namespace)]
        assert listed == [model[u] for u in sorted(model)]

    def test_active_lists_users_with_sync_on_in_order(self, store: ActivationStore) -> None:
        """S1/S2: a runner syncs exactly the users ``active`` lists; one turned off is gone."""
        namespace = _fresh_namespace()
        for name in ("c", "a", "b", "d"):
            store.put(_activation(namespace + name))
        store.remove(namespace + "d")
        mine = [a.user_id for a in store.active() if a.user_id.startswith(namespace)]
        assert mine == [namespace + n for n in ("a", "b", "c")]

    def test_active_pages_by_user_id(self, store: ActivationStore) -> None:
        namespace = _fresh_namespace()
        for name in ("a", "b", "c"):
            store.put(_activation(namespace + name))
        page = store.active(after=namespace + "a", limit=1)
        assert [a.user_id for a in page] == [namespace + "b"]
        assert store.active(after=namespace + "c", limit=0) == []


# --- shares ------------------------------------------------------------------------


def _share(project: str, contact: str, *, version: int = 1, **changes: Any) -> Share:
    values: dict[str, Any] = {
        "project_id": project,
        "contact_id": contact,
        "rights": Right.VIEW_STATUS | Right.VIEW_HOURS,
        "created_at": NOW,
        "updated_at": NOW,
        "version": version,
        "created_by": "user-1",
    }
    values.update(changes)
    return Share(**values)


def _next(share: Share, **changes: Any) -> Share:
    return attrs.evolve(share, version=share.version + 1, **changes)


class ShareStoreContract:
    """Contract tests for a :class:`~severa_ext.extranet.shares.ShareStore`.

    Rules: ``save(share, expected_version=None)`` inserts a pair's first record
    (version 1), ``save(share, expected_version=n)`` replaces version ``n`` with
    ``n + 1``; any other stored state raises
    :class:`~severa_ext.errors.ShareConflict` and writes nothing; a version that is
    not the next one is a :class:`~severa_ext.errors.ValidationError`; every field
    reads back equal; stopped shares are kept and listed; ``for_contact`` /
    ``for_project`` return exactly that contact's / project's shares, ordered by the
    other id; of racing writers that read the same version exactly one wins, in
    threads and in processes.
    """

    @pytest.fixture
    def store(self) -> ShareStore:
        """A fresh, empty share store: override this fixture."""
        raise NotImplementedError(f"{type(self).__name__} must override the store fixture")

    @pytest.fixture
    def reopen(self) -> Callable[[], ShareStore] | None:
        """A picklable callable opening the same store anew; ``None``: one process only."""
        return None

    def test_absent(self, store: ShareStore) -> None:
        assert store.get("p1", "c1") is None
        assert list(store.for_contact("c1")) == []
        assert list(store.for_project("p1")) == []

    def test_round_trip_keeps_every_field(self, store: ShareStore) -> None:
        share = _share(
            "p1",
            "c1",
            rights=Right.FINANCE | Right.PHASES | Right.OTHER | Right.APPROVE_HOURS,
            created_at=NOW.astimezone(_HELSINKI),
            valid_until=NOW + timedelta(days=30, microseconds=7),
        )
        store.save(share, expected_version=None)
        assert store.get("p1", "c1") == share
        stopped = _next(share, rights=Right(0), stopped_at=NOW + timedelta(hours=1))
        store.save(stopped, expected_version=1)
        read = store.get("p1", "c1")
        assert read == stopped
        assert read is not None
        assert read.stopped
        assert read.rights == Right(0)

    def test_update_replaces_the_expected_version(self, store: ShareStore) -> None:
        first = _share("p1", "c1")
        store.save(first, expected_version=None)
        second = _next(first, rights=Right.VIEW_STATUS, updated_at=NOW + timedelta(minutes=1))
        store.save(second, expected_version=1)
        third = _next(second, rights=Right.VIEW_FILES | Right.ADD_FILE)
        store.save(third, expected_version=2)
        assert store.get("p1", "c1") == third

    def test_stale_saves_raise_and_write_nothing(self, store: ShareStore) -> None:
        first = _share("p1", "c1")
        store.save(first, expected_version=None)
        second = _next(first, rights=Right.VIEW_STATUS)
        store.save(second, expected_version=1)
        stale = _next(first, rights=Right.VIEW_FILES)
        with pytest.raises(ShareConflict) as caught:
            store.save(stale, expected_version=1)
        assert (caught.value.project_id, caught.value.contact_id) == ("p1", "c1")
        assert caught.value.expected_version == 1
        with pytest.raises(ShareConflict):
            store.save(_share("p1", "c1", rights=Right.VIEW_FILES), expected_version=None)
        assert store.get("p1", "c1") == second

    def test_replacing_what_is_not_there_conflicts(self, store: ShareStore) -> None:
        with pytest.raises(ShareConflict) as caught:
            store.save(_share("p1", "c1", version=4), expected_version=3)
        assert caught.value.expected_version == 3
        assert store.get("p1", "c1") is None

    def test_only_the_next_version_is_taken(self, store: ShareStore) -> None:
        first = _share("p1", "c1")
        with pytest.raises(ValidationError):
            store.save(_share("p1", "c1", version=2), expected_version=None)
        store.save(first, expected_version=None)
        with pytest.raises(ValidationError):
            store.save(_share("p1", "c1", version=3), expected_version=1)
        with pytest.raises(ValidationError):
            store.save(first, expected_version=1)
        assert store.get("p1", "c1") == first

    def test_listings_filter_exactly_and_keep_stopped_shares(self, store: ShareStore) -> None:
        pairs = [("p2", "c1"), ("p1", "c1"), ("p1", "c2"), ("p3", "c3")]
        for project, contact in pairs:
            store.save(_share(project, contact), expected_version=None)
        stopped = _next(_share("p2", "c1"), stopped_at=NOW)
        store.save(stopped, expected_version=1)
        assert list(store.for_contact("c1")) == [_share("p1", "c1"), stopped]
        assert list(store.for_project("p1")) == [_share("p1", "c1"), _share("p1", "c2")]
        assert list(store.for_contact("C1")) == []
        assert list(store.for_project("p")) == []

    def test_racing_updates_one_wins(self, store: ShareStore) -> None:
        first = _share("p1", "c1")
        store.save(first, expected_version=None)
        rivals = [_next(first, created_by=f"writer-{i}") for i in range(_THREADS)]
        outcomes = race(_THREADS, lambda i: store.save(rivals[i], expected_version=1))
        winners = [i for i, outcome in enumerate(outcomes) if outcome is None]
        assert len(winners) == 1, outcomes
        assert all(isinstance(o, ShareConflict) for o in outcomes if o is not None), outcomes
        assert store.get("p1", "c1") == rivals[winners[0]]

    def test_racing_first_shares_one_wins(self, store: ShareStore) -> None:
        rivals = [_share("p1", "c1", created_by=f"writer-{i}") for i in range(_THREADS)]
        outcomes = race(_THREADS, lambda i: store.save(rivals[i], expected_version=None))
        winners = [i for i, outcome in enumerate(outcomes) if outcome is None]
        assert len(winners) == 1, outcomes
        assert store.get("p1", "c1") == rivals[winners[0]]

    def test_racing_processes_one_wins(
        self, store: ShareStore, reopen: Callable[[], ShareStore] | None
    ) -> None:
        if reopen is None:
            pytest.skip("this share store lives in one process")
        first = _share("p1", "c1")
        store.save(first, expected_version=None)
        outcomes = run_in_processes(save_in_process, (reopen, _next(first), 1))
        assert sorted(outcomes) == ["conflict"] * (PROCESSES - 1) + ["saved"]
        assert store.get("p1", "c1") == _next(first)

    @_STORE_SETTINGS
    @given(data=st.data())
    def test_matches_the_reference(self, store: ShareStore, data: st.DataObject) -> None:
        """Random saves (fresh, stale and next versions) agree with MemoryShareStore."""
        namespace = _fresh_namespace()
        model = MemoryShareStore()
        keys = st.tuples(st.sampled_from(["p1", "p2"]), st.sampled_from(["c1", "c2"]))
        steps = data.draw(
            st.lists(st.tuples(keys, st.integers(0, 3), st.sampled_from(_RIGHTS)), max_size=12)
        )
        for (project, contact), expected, rights in steps:
            key = (namespace + project, namespace + contact)
            share = _share(*key, version=expected + 1, rights=rights)
            wanted = None if expected == 0 else expected
            assert _outcome(store, share, wanted) == _outcome(model, share, wanted)
        for project in ("p1", "p2"):
            assert list(store.for_project(namespace + project)) == list(
                model.for_project(namespace + project)
            )
        for contact in ("c1", "c2"):
            assert list(store.for_contact(namespace + contact)) == list(
                model.for_contact(namespace + contact)
            )


_RIGHTS = [Right(0), Right.VIEW_STATUS, Right.FINANCE, Right.VIEW_HOURS | Right.APPROVE_HOURS]


def _outcome(store: ShareStore, share: Share, expected: int | None) -> str:
    try:
        store.save(share, expected_version=expected)
    except ShareConflict:
        return "conflict"
    return "saved"


# --- invites ------------------------------------------------------------------------


class InviteStoreContract:
    """Contract tests for an :class:`~severa_ext.extranet.invites.InviteStore`.

    Rules: ``add`` stores a record (a second one with the same id is a
    :class:`~severa_ext.errors.ValidationError`) and supersedes the share's open
    records; ``get`` returns every field (salt and hash bytes, KDF) or raises
    :class:`~severa_ext.errors.InviteNotFound`; ``save`` is a compare-and-swap on
    ``version`` (:class:`~severa_ext.errors.InviteConflict`, nothing written); a
    record is revoked once (a second revocation returns nothing); ``list_open``
    filters by project, contact and email, leaves out expired, locked, used and
    revoked records, oldest first; a password verified by many threads or
    processes at once is used exactly once, every wrong attempt is counted, and a
    revocation racing a login either revokes or loses, never both.
    """

    @pytest.fixture
    def store(self) -> InviteStore:
        """A fresh, empty invite store: override this fixture."""
        raise NotImplementedError(f"{type(self).__name__} must override the store fixture")

    @pytest.fixture
    def reopen(self) -> Callable[[], InviteStore] | None:
        """A picklable callable opening the same store anew; ``None``: one process only."""
        return None

    def test_round_trip_keeps_every_field(self, store: InviteStore) -> None:
        invite = issue_invite("p1", "c1", now=NOW.astimezone(_HELSINKI))
        assert store.add(invite.record) == ()
        read = store.get(invite.record.id)
        assert read == invite.record
        assert (read.salt, read.hash, read.kdf) == (
            invite.record.salt,
            invite.record.hash,
            invite.record.kdf,
        )
        assert read.issued_at.utcoffset() is not None
        assert verify_outcome(store, read.id, invite.password.reveal(), NOW) == "used"

    def test_unknown_ids(self, store: InviteStore) -> None:
        record = issue_invite("p1", "c1", now=NOW).record
        with pytest.raises(InviteNotFound):
            store.get(record.id)
        with pytest.raises(InviteNotFound):
            store.save(attrs.evolve(record, version=2), expected_version=1)

    def test_an_id_is_added_once(self, store: InviteStore) -> None:
        record = issue_invite("p1", "c1", now=NOW).record
        store.add(record)
        with pytest.raises(ValidationError):
            store.add(attrs.evolve(record, email="someone.else@example.com"))
        assert store.get(record.id) == record

    def test_add_supersedes_the_shares_open_records(self, store: InviteStore) -> None:
        first = issue_invite("p1", "c1", now=NOW).record
        used = attrs.evolve(issue_invite("p1", "c1", now=NOW).record, used_at=NOW, version=1)
        other_share = issue_invite("p2", "c1", now=NOW).record
        for record in (used, first, other_share):  # used first: it supersedes nothing
            store.add(record)
        later = NOW + timedelta(hours=1)
        newest = issue_invite("p1", "c1", now=later).record
        superseded = store.add(newest)
        assert superseded == (first.revoked(RevokeReason.SUPERSEDED, later),)
        assert store.get(first.id) == superseded[0]
        assert store.get(used.id) == used
        assert store.get(other_share.id) == other_share
        assert store.get(newest.id) == newest

    def test_save_is_compare_and_swap(self, store: InviteStore) -> None:
        record = issue_invite("p1", "c1", now=NOW).record
        store.add(record)
        failed = attrs.evolve(record, failed_attempts=1, version=2)
        store.save(failed, expected_version=1)
        stale = attrs.evolve(record, used_at=NOW, version=2)
        with pytest.raises(InviteConflict) as caught:
            store.save(stale, expected_version=1)
        assert caught.value.invite_id == record.id
        assert caught.value.expected_version == 1
        with pytest.raises(ValidationError):
            store.save(attrs.evolve(failed, version=4), expected_version=2)
        assert store.get(record.id) == failed

    def test_revocation_happens_once(self, store: InviteStore) -> None:
        a = issue_invite("p1", "c1", now=NOW).record
        b = issue_invite("p2", "c1", now=NOW + timedelta(seconds=1)).record
        c = issue_invite("p1", "c2", now=NOW).record
        for record in (a, b, c):
            store.add(record)
        later = NOW + timedelta(minutes=5)
        reason = RevokeReason.SHARE_STOPPED
        assert store.revoke_share("p1", "c1", reason=reason, now=later) == (
            a.revoked(reason, later),
        )
        assert store.revoke_share("p1", "c1", reason=reason, now=later) == ()
        changed = RevokeReason.EMAIL_CHANGED
        assert store.revoke_contact("c1", reason=changed, now=later) == (b.revoked(changed, later),)
        assert store.revoke_contact("c1", reason=changed, now=later) == ()
        assert store.get(c.id) == c

    def test_expired_records_are_not_revoked(self, store: InviteStore) -> None:
        record = issue_invite("p1", "c1", now=NOW).record
        store.add(record)
        at_expiry = record.expires_at
        assert (
            store.revoke_share("p1", "c1", reason=RevokeReason.SHARE_STOPPED, now=at_expiry) == ()
        )
        assert store.get(record.id) == record

    def test_list_open_filters(self, store: InviteStore) -> None:
        first = issue_invite("p1", "c1", now=NOW).record
        second = issue_invite("p2", "c1", now=NOW).record
        third = issue_invite("p1", "c2", now=NOW - timedelta(hours=1), email="b@example.com")
        locked = attrs.evolve(
            issue_invite("p3", "c1", now=NOW).record, failed_attempts=5, max_attempts=5
        )
        for record in (first, second, third.record, locked):
            store.add(record)
        same_time = sorted([first, second], key=lambda r: r.id)
        assert store.list_open(NOW) == (third.record, *same_time)
        assert store.list_open(NOW, project_id="p1") == (third.record, first)
        assert store.list_open(NOW, contact_id="c1") == tuple(same_time)
        assert store.list_open(NOW, email="b@example.com") == (third.record,)
        assert store.list_open(NOW, project_id="p2", contact_id="c1") == (second,)
        assert store.list_open(NOW, project_id="p2", email="b@example.com") == ()
        assert store.list_open(third.record.expires_at) == tuple(same_time)
        assert store.list_open(first.expires_at) == ()

    def test_racing_logins_use_the_password_once(self, store: InviteStore) -> None:
        invite = issue_invite("p1", "c1", now=NOW)
        store.add(invite.record)
        password = invite.password.reveal()
        outcomes = race(_THREADS, lambda _i: verify_outcome(store, invite.record.id, password, NOW))
        assert sorted(map(str, outcomes)) == ["InviteUsed"] * (_THREADS - 1) + ["used"], outcomes
        stored = store.get(invite.record.id)
        assert stored.used_at == NOW
        assert stored.version == 2

    def test_racing_wrong_passwords_are_all_counted(self, store: InviteStore) -> None:
        invite = issue_invite("p1", "c1", now=NOW)
        store.add(invite.record)
        workers = invite.record.max_attempts - 1
        outcomes = race(workers, lambda _i: verify_outcome(store, invite.record.id, "WRONG", NOW))
        assert outcomes == ["WrongPassword"] * workers
        assert store.get(invite.record.id).failed_attempts == workers

    def test_revocation_racing_a_login(self, store: InviteStore) -> None:
        for round_ in range(5):
            invite = issue_invite(f"p{round_}", "c1", now=NOW)
            store.add(invite.record)
            password = invite.password.reveal()

            def act(index: int, invite_id: str = invite.record.id, pw: str = password) -> Any:
                if index == 0:
                    return store.revoke_contact("c1", reason=RevokeReason.EMAIL_CHANGED, now=NOW)
                return verify_outcome(store, invite_id, pw, NOW)

            revoked, login = race(2, act)
            assert (revoked == ()) == (login == "used"), (revoked, login)
            assert login in {"used", "InviteRevoked"}

    def test_racing_processes_use_the_password_once(
        self, store: InviteStore, reopen: Callable[[], InviteStore] | None
    ) -> None:
        if reopen is None:
            pytest.skip("this invite store lives in one process")
        invite = issue_invite("p1", "c1", now=NOW)
        store.add(invite.record)
        args = (reopen, (invite.record.id, invite.password.reveal(), NOW))
        outcomes = run_in_processes(verify_in_process, args)
        assert sorted(outcomes) == ["InviteUsed"] * (PROCESSES - 1) + ["used"]

    @_STORE_SETTINGS
    @given(data=st.data())
    def test_matches_the_reference(self, store: InviteStore, data: st.DataObject) -> None:
        """Random adds, uses and revocations agree with MemoryInviteStore."""
        namespace = _fresh_namespace()
        model = MemoryInviteStore()
        projects = st.sampled_from([namespace + p for p in ("p1", "p2")])
        contacts = st.sampled_from([namespace + c for c in ("c1", "c2")])
        minutes = st.integers(0, 60 * 30)
        steps = data.draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["add", "use", "share", "contact"]), projects, contacts, minutes
                ),
                max_size=10,
            )
        )
        issued: list[InviteRecord] = []
        for op, project, contact, minute in steps:
            now = NOW + timedelta(minutes=minute)
            if op == "add":
                record = issue_invite(project, contact, now=now).record
                issued.append(record)
                assert store.add(record) == model.add(record)
            elif op == "use" and issued:
                current = model.get(issued[-1].id)
                used = attrs.evolve(current, used_at=now, version=current.version + 1)
                model.save(used, expected_version=current.version)
                store.save(used, expected_version=current.version)
            elif op == "share":
                reason = RevokeReason.SHARE_STOPPED
                assert store.revoke_share(project, contact, reason=reason, now=now) == (
                    model.revoke_share(project, contact, reason=reason, now=now)
                )
            elif op == "contact":
                reason = RevokeReason.EMAIL_CHANGED
                assert store.revoke_contact(contact, reason=reason, now=now) == (
                    model.revoke_contact(contact, reason=reason, now=now)
                )
        for record in issued:
            assert store.get(record.id) == model.get(record.id)
        for minute in (0, 60 * 12, 60 * 25):
            now = NOW + timedelta(minutes=minute)
            for project in (namespace + "p1", namespace + "p2"):
                assert store.list_open(now, project_id=project) == model.list_open(
                    now, project_id=project
                )
