"""The PostgreSQL state store on a real PostgreSQL: the library contract, migrations,
fencing tokens, claims of due pairs (SKIP LOCKED) and errors.

Every test gets an empty schema of the session's throw-away server
(``postgres_schema``); the contract's process races open the same schema anew in
spawned processes.
"""

from __future__ import annotations

import functools
import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from severa_ext.errors import LeaseHeld, StateError, ValidationError
from severa_ext.sync import _sqlite_codec as codec
from severa_ext.sync._postgres_schema import CURRENT_VERSION, MIGRATIONS
from severa_ext.sync.links import Intent, Link
from severa_ext.sync.postgres import PostgresStateStore
from severa_ext.sync.state import StateChange
from severa_ext.testing.state_contract import StateStoreContract, sample_link

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
TTL = timedelta(minutes=10)


@pytest.fixture
def dsn(postgres_schema):
    return postgres_schema.dsn


@pytest.fixture
def store(dsn):
    store = PostgresStateStore(dsn)
    yield store
    store.close()


def _write_v1(dsn, links):
    """Tables and rows as schema version 1 wrote them."""
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE severa_ext_state_version (version integer NOT NULL)")
        conn.execute(MIGRATIONS[0][2].encode())
        conn.execute("INSERT INTO severa_ext_state_version VALUES (1)")
        for link in links:
            conn.execute(
                "INSERT INTO severa_ext_state_links (pair_id, sync_key, a_id, b_id, a_etag, "
                "b_etag, pending, quarantined, print, base, extra) "
                "VALUES ('p', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                codec.link_row(link),
            )
        conn.execute("INSERT INTO severa_ext_state_pairs VALUES ('p', %s)", (len(links),))
        conn.execute(
            "INSERT INTO severa_ext_state_leases VALUES ('p', 'old-run', %s)", (NOW + TTL,)
        )


class TestPostgresStateStore(StateStoreContract):
    earlier_schema_versions = tuple(range(1, CURRENT_VERSION))

    @pytest.fixture(autouse=True)
    def _server(self, postgres_server):
        self._server_for_versions = postgres_server
        self._schemas = []
        yield
        for schema in self._schemas:
            postgres_server.drop_schema(schema)

    @pytest.fixture
    def store(self, dsn):
        store = PostgresStateStore(dsn)
        yield store
        store.close()

    @pytest.fixture
    def reopen(self, dsn):
        return functools.partial(PostgresStateStore, dsn, timeout=20)

    def open_at_version(self, version, links, folder):
        assert version == 1, version
        schema = self._server_for_versions.create_schema()
        self._schemas.append(schema)
        _write_v1(schema.dsn, links)
        store = PostgresStateStore(schema.dsn)
        assert store.schema_version == CURRENT_VERSION
        return store


# -- migrations and versions -----------------------------------------------------


def test_a_new_database_is_at_the_current_version(store):
    assert store.schema_version == CURRENT_VERSION


def test_a_version_1_lease_keeps_its_holder_and_gets_a_token(dsn):
    _write_v1(dsn, [sample_link(1)])
    with PostgresStateStore(dsn) as store:
        with pytest.raises(LeaseHeld) as held:
            store.acquire("p", "new-run", now=NOW, ttl=TTL)
        assert held.value.holder == "old-run"
        lease = store.acquire("p", "new-run", now=NOW + TTL, ttl=TTL)
        assert lease.token == 2  # the migrated row had token 1


def test_a_newer_schema_is_refused_and_left_untouched(dsn):
    PostgresStateStore(dsn).close()
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE severa_ext_state_version SET version = %s", (CURRENT_VERSION + 1,))
    with pytest.raises(StateError, match="newer than this release"):
        PostgresStateStore(dsn)
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT version FROM severa_ext_state_version").fetchone()
    assert row == (CURRENT_VERSION + 1,)


def test_workers_opening_a_new_database_at_once_migrate_it_once(dsn):
    errors = []

    def open_one():
        try:
            PostgresStateStore(dsn).close()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT version FROM severa_ext_state_version").fetchall()
    assert rows == [(CURRENT_VERSION,)]


# -- fencing tokens ------------------------------------------------------------------


def test_a_takeover_raises_the_token_and_fences_the_old_holder(store):
    old = store.acquire("p", "run-1", now=NOW, ttl=TTL)
    again = store.acquire("p", "run-1", now=NOW + timedelta(minutes=1), ttl=TTL)
    assert again.token == old.token  # the same holder re-acquires: the same token
    new = store.acquire("p", "run-2", now=NOW + TTL + TTL, ttl=TTL)
    assert new.token == old.token + 1
    with pytest.raises(LeaseHeld) as held:
        store.apply("p", StateChange(put=[sample_link(1)], lease=old))
    assert held.value.holder == "run-2"
    assert store.count("p") == 0
    with pytest.raises(LeaseHeld):
        store.renew(old, now=NOW + TTL + TTL, ttl=TTL)
    store.apply("p", StateChange(put=[sample_link(1)], lease=new))
    assert store.count("p") == 1


def test_a_stale_lease_of_the_same_holder_is_fenced_by_its_token(store):
    """A holder that lost its lease and took it again must not let a step built under
    the lost lease through: the token says which tenure a step belongs to."""
    first = store.acquire("p", "run-1", now=NOW, ttl=TTL)
    store.release(first)
    second = store.acquire("p", "run-1", now=NOW, ttl=TTL)
    assert second.token == first.token + 1
    with pytest.raises(LeaseHeld):
        store.apply("p", StateChange(put=[sample_link(1)], lease=first))
    store.release(first)  # stale: a no-op
    store.apply("p", StateChange(put=[sample_link(1)], lease=second))
    assert store.count("p") == 1


def test_a_fenced_step_blocks_a_takeover_until_it_commits(dsn, store):
    """The fence share-locks the lease row in the step's own transaction: a takeover
    racing a step waits for it, so no step commits after its lease was taken."""
    lease = store.acquire("p", "run-1", now=NOW, ttl=TTL)
    with psycopg.connect(dsn) as conn, conn.transaction():
        conn.execute("SELECT 1 FROM severa_ext_state_leases WHERE pair_id = 'p' FOR SHARE")
        taken = []
        thief = threading.Thread(
            target=lambda: taken.append(
                store.acquire("p", "run-2", now=NOW + TTL, ttl=TTL, replacing="run-1")
            )
        )
        thief.start()
        thief.join(0.5)
        assert taken == []  # waiting for the step's transaction
    thief.join(10)
    assert [lease.holder for lease in taken] == ["run-2"]
    with pytest.raises(LeaseHeld):
        store.apply("p", StateChange(put=[sample_link(1)], lease=lease))


# -- claims of due pairs ---------------------------------------------------------


def test_claim_due_pairs_takes_due_free_pairs_and_moves_them_on(store):
    for n, pair in enumerate(["p1", "p2", "p3", "p4"]):
        store.schedule(pair, NOW + timedelta(minutes=n - 2))  # p1, p2, p3 due at NOW
    store.schedule("p5", None)
    store.acquire("p2", "busy", now=NOW, ttl=TTL)
    claimed = store.claim_due_pairs("w1", now=NOW, ttl=TTL, every=timedelta(hours=1), limit=5)
    assert [(lease.pair_id, lease.holder) for lease in claimed] == [("p1", "w1"), ("p3", "w1")]
    assert store.claim_due_pairs("w2", now=NOW, ttl=TTL, every=TTL, limit=5) == []
    later = NOW + timedelta(minutes=2)  # p4 comes due; p1 and p3 are leased and moved on
    assert [
        lease.pair_id for lease in store.claim_due_pairs("w2", now=later, ttl=TTL, every=TTL)
    ] == ["p4"]
    with pytest.raises(LeaseHeld):
        store.acquire("p1", "other", now=NOW, ttl=TTL)
    store.apply("p1", StateChange(put=[sample_link(1)], lease=claimed[0]))
    # The run re-acquires with the claim's holder, keeping the token.
    assert store.acquire("p1", "w1", now=NOW, ttl=TTL).token == claimed[0].token


def test_a_dead_claimer_s_pair_is_claimed_again_when_due_and_expired(store):
    store.schedule("p", NOW)
    (first,) = store.claim_due_pairs("w1", now=NOW, ttl=TTL, every=timedelta(minutes=5))
    assert store.claim_due_pairs("w2", now=NOW + timedelta(minutes=6), ttl=TTL, every=TTL) == []
    (second,) = store.claim_due_pairs("w2", now=NOW + TTL, ttl=TTL, every=TTL)
    assert (second.holder, second.token) == ("w2", first.token + 1)
    with pytest.raises(LeaseHeld):
        store.apply("p", StateChange(cursors={"a": "c"}, lease=first))


def test_concurrent_claimers_skip_each_other_s_pairs(dsn):
    pairs = [f"p{n:02}" for n in range(40)]
    with PostgresStateStore(dsn, max_size=8) as store:
        for pair in pairs:
            store.schedule(pair, NOW)
        results: dict[str, list[str]] = {}

        def claim(worker):
            got = []
            while batch := store.claim_due_pairs(worker, now=NOW, ttl=TTL, every=TTL, limit=3):
                got.extend(lease.pair_id for lease in batch)
            results[worker] = got

        threads = [threading.Thread(target=claim, args=(f"w{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    claimed = [pair for got in results.values() for pair in got]
    assert sorted(claimed) == pairs  # every pair once, none twice


def test_claim_due_pairs_refuses_bad_arguments(store):
    with pytest.raises(ValidationError):
        store.claim_due_pairs("w", now=NOW, ttl=TTL, every=TTL, limit=0)
    with pytest.raises(ValidationError):
        store.claim_due_pairs("w", now=NOW.replace(tzinfo=None), ttl=TTL, every=TTL)


# -- the rest ------------------------------------------------------------------------


def test_a_no_change_step_writes_no_row(dsn, store):
    store.apply("p", StateChange(put=[sample_link(1), Intent("k2", "b", a_id="A2")]))
    with psycopg.connect(dsn) as conn:
        before = conn.execute("SELECT xmin::text FROM severa_ext_state_links").fetchall()
    store.apply("p", StateChange(put=[sample_link(1), Intent("k2", "b", a_id="A2")]))
    with psycopg.connect(dsn) as conn:
        after = conn.execute("SELECT xmin::text FROM severa_ext_state_links").fetchall()
    assert sorted(before) == sorted(after)
    assert store.count("p") == 2


def test_a_failing_step_stores_nothing(dsn, store):
    store.apply("p", StateChange(put=[sample_link(1)]))
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "ALTER TABLE severa_ext_state_cursors ADD CONSTRAINT short CHECK (length(cursor) < 5)"
        )
    with pytest.raises(StateError, match="apply failed"):
        store.apply("p", StateChange(put=[sample_link(2)], delete=["k1"], cursors={"a": "long!"}))
    assert sorted(store.links_by_keys("p", ["k1", "k2"])) == ["k1"]
    assert store.count("p") == 1


def test_errors_are_state_errors_naming_the_database_not_its_password(postgres_server):
    dsn = postgres_server.dsn + " dbname=nope password=s3cret-pw"
    with pytest.raises(StateError) as failed:
        PostgresStateStore(dsn, timeout=2)
    assert "nope" in str(failed.value)
    assert "s3cret-pw" not in str(failed.value)
    with pytest.raises(ValidationError):
        PostgresStateStore("not a = = dsn")


def test_use_after_close_is_a_state_error_and_repr_hides_the_password(dsn):
    store = PostgresStateStore(dsn + " password=s3cret-pw")
    store.close()
    store.close()
    assert "s3cret-pw" not in repr(store)
    assert "closed" in repr(store)
    with pytest.raises(StateError, match="after close"):
        store.count("p")


def test_bad_arguments_are_validation_errors(store):
    with pytest.raises(ValidationError):
        store.links_by_ids("p", "c", ["x"])
    with pytest.raises(ValidationError):
        store.journal(since=NOW.replace(tzinfo=None))
    with pytest.raises(ValidationError):
        store.acquire("p", "h", now=NOW.replace(tzinfo=None), ttl=TTL)


def test_a_garbled_row_is_a_state_error(dsn, store):
    store.apply("p", StateChange(put=[Link("k1", a_id="A1", base=sample_link(1).base)]))
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE severa_ext_state_links SET base = '{not json'")
    with pytest.raises(StateError, match="cannot be read"):
        store.links_by_keys("p", ["k1"])
