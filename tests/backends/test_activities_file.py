"""The activities file (``activities:PATH``): writes buffered until ``flush``, one
atomic, conflict-checked write per flush, nothing lost when a flush fails, stale
temporary files swept (contract 2: ``Backend.flush`` before each step's commit)."""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from severa_ext.backends.activities import ActivityBackend, BufferedActivityStore
from severa_ext.backends.activities_file import ActivityFile, ActivityFileData
from severa_ext.backends.memory import MemoryBackend
from severa_ext.clock import FixedClock
from severa_ext.domain import Activity, ActivityType, User
from severa_ext.errors import BackendUnavailable, VersionConflict
from severa_ext.sync.engine import SyncEngine
from severa_ext.sync.items import CalendarItem
from severa_ext.sync.policy import SyncPolicy
from severa_ext.sync.state import MemoryStateStore
from severa_ext.testing.strategies import activities
from support import scaled

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
USER = User("u-1", "alice@example.com", "Alice")
TYPES = (ActivityType("meeting", "Meeting"), ActivityType("personal", "Personal"))


def activity(number: int, **changes: object) -> Activity:
    start = NOW + timedelta(hours=number)
    values: dict[str, object] = {
        "id": f"a-{number}",
        "user_id": USER.id,
        "activity_type_id": "meeting",
        "title": f"Meeting {number}",
        "start": start,
        "end": start + timedelta(minutes=30),
    }
    return Activity(**(values | changes))  # type: ignore[arg-type]


def new_file(folder: Path, count: int = 2) -> ActivityFile:
    data = ActivityFileData(USER, TYPES, tuple(activity(n) for n in range(count)))
    return ActivityFile.new(folder / "activities.json", data, clock=FixedClock(NOW))


def on_disk(path: Path) -> dict[str, Activity]:
    """What a fresh reader (another process) finds in the file."""
    return {a.id: a for a in ActivityFile(path).data.activities}


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def replace_by_hand(path: Path, edit) -> None:
    """An editor's save: the edited document written beside, then renamed over."""
    document = json.loads(path.read_text(encoding="utf-8"))
    edit(document)
    side = path.with_name("edited.json")
    side.write_text(json.dumps(document), encoding="utf-8")
    side.replace(path)


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Writes past ``limit`` bytes fail with EFBIG (a real OS failure, as a full disk)."""
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


# --- buffered until flush ------------------------------------------------------------


def test_writes_stay_in_memory_until_flush(tmp_path):
    """Contract 2: create, update and delete are buffered; one flush writes them all."""
    store = new_file(tmp_path)
    before = store.path.read_bytes()
    first = store.get("a-0")
    assert first is not None
    store.update(attrs.evolve(first, title="Moved"), if_version=first.version)
    store.delete("a-1", if_version=None)
    created = store.create(activity(7))
    assert store.path.read_bytes() == before
    assert store.unflushed == 3
    assert store.get("a-0").title == "Moved"  # reads see the buffered writes
    assert store.get("a-1") is None
    store.flush()
    assert store.unflushed == 0
    assert on_disk(store.path) == {"a-0": store.get("a-0"), "a-7": created}
    assert temporaries(tmp_path) == []


def test_flush_without_writes_leaves_the_file_alone(tmp_path):
    store = new_file(tmp_path)
    store.get("a-0")
    identity = store.path.stat()
    store.flush()
    after = store.path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (identity.st_ino, identity.st_mtime_ns)


def test_an_update_keeps_the_entry_in_place_and_the_permissions(tmp_path):
    store = new_file(tmp_path, 3)
    store.path.chmod(0o644)
    middle = store.get("a-1")
    store.update(attrs.evolve(middle, title="Changed"), if_version=middle.version)
    store.flush()
    assert [a["id"] for a in json.loads(store.path.read_text())["activities"]] == [
        "a-0",
        "a-1",
        "a-2",
    ]
    assert store.path.stat().st_mode & 0o777 == 0o644


def test_the_backend_flushes_and_closes_the_file(tmp_path):
    """ActivityBackend.flush is the engine's Backend.flush for this side (contract 2)."""
    store = new_file(tmp_path, 0)
    assert isinstance(store, BufferedActivityStore)
    backend = ActivityBackend(store, user_id=USER.id, activity_types={t.id: t for t in TYPES})
    item = CalendarItem("Call", NOW, NOW + timedelta(hours=1), activity_type="meeting")
    created = backend.create(item, "key-1")
    assert on_disk(store.path) == {}
    backend.flush()
    assert list(on_disk(store.path)) == [created.id]
    backend.update(created.id, attrs.evolve(item, title="Call back"), created.etag)
    backend.close()
    assert on_disk(store.path)[created.id].title == "Call back"


def test_an_engine_run_leaves_everything_in_the_file(tmp_path):
    """A sync into the file: every step flushed before it was committed, none left."""
    store = new_file(tmp_path, 0)
    side_a = ActivityBackend(store, user_id=USER.id, activity_types={t.id: t for t in TYPES})
    side_b = MemoryBackend("calendar")
    for n in range(250):
        start = NOW + timedelta(hours=n)
        side_b.user_create(CalendarItem(f"Entry {n}", start, start + timedelta(minutes=30)))
    policy = SyncPolicy(outgoing_types={"meeting"}, default_type="meeting")
    state = MemoryStateStore()
    engine = SyncEngine(side_a, side_b, state, pair_id="p", policy=policy, clock=FixedClock(NOW))
    report = engine.run()
    assert report.ok, report.summary()
    assert store.unflushed == 0
    titles = sorted(a.title for a in on_disk(store.path).values())
    assert titles == sorted(f"Entry {n}" for n in range(250))
    again = SyncEngine(
        ActivityBackend(
            ActivityFile(store.path), user_id=USER.id, activity_types={t.id: t for t in TYPES}
        ),
        side_b,
        state,
        pair_id="p",
        policy=policy,
        clock=FixedClock(NOW),
    ).run()
    assert again.total_writes == 0


# --- the file changed on disk: refused at flush, nothing lost ---------------------------


def test_flush_refuses_a_file_changed_on_disk_and_keeps_the_writes(tmp_path):
    store = new_file(tmp_path)
    first = store.get("a-0")
    store.update(attrs.evolve(first, title="Ours"), if_version=first.version)

    def theirs(document):
        document["activities"][1]["title"] = "Theirs"

    replace_by_hand(store.path, theirs)
    edited = store.path.read_bytes()
    for _ in range(2):  # refused again: the writes are still held, never half-written
        with pytest.raises(VersionConflict) as caught:
            store.flush()
        assert str(store.path) in str(caught.value)
        assert store.path.read_bytes() == edited
        assert store.unflushed == 1
        assert store.get("a-0").title == "Ours"
    assert temporaries(tmp_path) == []
    assert store.discard() == 1
    assert store.get("a-0").title == "Meeting 0"
    assert store.get("a-1").title == "Theirs"


def test_flush_refuses_a_deleted_file(tmp_path):
    store = new_file(tmp_path)
    store.create(activity(5))
    store.path.unlink()
    with pytest.raises(VersionConflict):
        store.flush()
    assert not store.path.exists()
    assert store.get("a-5") is not None


def test_a_clean_store_reads_a_hand_edit(tmp_path):
    """With nothing buffered, a changed file is read again (and written on top of)."""
    store = new_file(tmp_path)
    assert store.get("a-0").title == "Meeting 0"

    def rename(document):
        document["activities"][0]["title"] = "Renamed"

    replace_by_hand(store.path, rename)
    current = store.get("a-0")
    assert current.title == "Renamed"
    store.update(attrs.evolve(current, location="Room 1"), if_version=current.version)
    store.flush()
    assert (on_disk(store.path)["a-0"].title, on_disk(store.path)["a-0"].location) == (
        "Renamed",
        "Room 1",
    )


# --- a failed write: BackendUnavailable, writes kept, no temporary file left -------------


def test_a_failed_flush_keeps_the_writes_and_the_old_file(tmp_path):
    store = new_file(tmp_path, 40)
    store.create(activity(99))
    before = store.path.read_bytes()
    with file_size_limit(len(before) // 2), pytest.raises(BackendUnavailable) as caught:
        store.flush()
    assert str(store.path) in str(caught.value)
    assert "1 writes kept" in str(caught.value)
    assert store.path.read_bytes() == before
    assert temporaries(tmp_path) == []
    assert store.unflushed == 1
    store.flush()  # the disk has room again: the same writes go out
    assert "a-99" in on_disk(store.path)


def test_close_writes_what_was_not_flushed_and_says_so(tmp_path, caplog):
    store = new_file(tmp_path)
    store.create(activity(3))
    with caplog.at_level(logging.WARNING, "severa_ext.backends.activities_file"):
        store.close()
    assert "1 writes not flushed" in caplog.text
    assert "a-3" in on_disk(store.path)
    assert store.get("a-3") is not None  # closed, yet usable: it reads the file again


def test_close_that_cannot_write_raises_and_keeps_the_writes(tmp_path):
    store = new_file(tmp_path)
    store.create(activity(3))
    replace_by_hand(store.path, lambda document: document["activities"].pop())
    with pytest.raises(VersionConflict):
        store.close()
    assert store.unflushed == 1
    assert store.get("a-3") is not None


# --- temporary files ----------------------------------------------------------------------


def test_stale_temporaries_of_the_file_are_removed_fresh_ones_kept(tmp_path):
    """A temporary file a killed writer left (older than 10 minutes) goes at the first
    read; a fresh one (a concurrent flush in progress) and other files' stay."""
    store = new_file(tmp_path)
    names = {
        "stale": ".activities.json.k2j4h1x_.tmp",
        "fresh": ".activities.json.p0q9w8e7.tmp",
        "other file": ".activities.json.bak.a1b2c3d4.tmp",
        "no random part": ".activities.json.tmp",
        "not hidden": "activities.json.a1b2c3d4.tmp",
    }
    for name in names.values():
        (tmp_path / name).write_text("{")
    hour_ago = time.time() - 3600
    for name in names.values():
        if name != names["fresh"]:
            os.utime(tmp_path / name, (hour_ago, hour_ago))
    ActivityFile(store.path).get("a-0")
    left = set(temporaries(tmp_path))
    assert names["stale"] not in left
    assert left == set(names.values()) - {names["stale"]}


def test_a_writer_finds_its_temporaries_by_name(tmp_path):
    """The temporary file of a flush is ``.<name>.<random>.tmp`` beside the file."""
    store = new_file(tmp_path)
    store.create(activity(4))
    with file_size_limit(64), pytest.raises(BackendUnavailable):
        store.flush()  # the temporary file existed, and was removed on the failure
    assert temporaries(tmp_path) == []


def test_a_leftover_temporary_is_swept_by_the_next_file_opened(tmp_path):
    store = new_file(tmp_path)
    leftover = tmp_path / ".activities.json.abcd1234.tmp"
    leftover.write_bytes(store.path.read_bytes()[:10])  # a flush killed mid-write
    old = time.time() - 11 * 60
    os.utime(leftover, (old, old))
    ActivityFile.new(store.path, ActivityFileData(USER, TYPES))
    assert not leftover.exists()


# --- the file's text -------------------------------------------------------------------


@settings(max_examples=scaled(60), deadline=None)
@given(st.lists(activities(user_ids=st.just(USER.id), types=st.sampled_from(TYPES)), max_size=6))
def test_the_file_is_json_dumps_of_the_document(tmp_path_factory, drawn):
    """Rendering entry by entry gives exactly ``json.dumps(document, indent=2)``."""
    folder = tmp_path_factory.mktemp("render")
    unique = list({a.id: a for a in drawn}.values())
    store = ActivityFile.new(folder / "a.json", ActivityFileData(USER, TYPES, tuple(unique)))
    if unique:
        store.delete(unique[0].id, if_version=None)
        store.flush()
    document = json.loads(store.path.read_text(encoding="utf-8"))
    expected = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    assert store.path.read_text(encoding="utf-8") == expected
    assert on_disk(store.path) == {a.id: a for a in store.data.activities}


# --- any sequence of writes, flushes, failures and hand edits, against a dict model ----


TITLES = st.text(alphabet='ab Äé"\\\u2028\t', max_size=6)


class ActivityFileMachine(RuleBasedStateMachine):
    """The store answers from ``buffered``; a fresh reader of the file finds ``flushed``.

    ``pending`` counts the writes since the last flush that went out; ``base`` is the
    file's content as the store last read or wrote it: while writes are pending and
    the file holds anything else (a hand edit), every flush is a VersionConflict
    until discard().
    """

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="activities-file-machine-"))
        data = ActivityFileData(USER, TYPES)
        self.store = ActivityFile.new(self.folder / "a.json", data, clock=FixedClock(NOW))
        self.buffered: dict[str, str] = {}
        self.flushed: dict[str, str] = {}
        self.pending = 0
        self.base = self.store.path.read_bytes()
        self.numbers = itertools.count()

    def teardown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def _written(self) -> None:
        self.pending += 1

    @rule(title=TITLES)
    def create(self, title):
        number = next(self.numbers)
        self.store.create(activity(number, title=title))
        self.buffered[f"a-{number}"] = title
        self._written()

    @precondition(lambda self: self.buffered)
    @rule(data=st.data(), title=TITLES, stale=st.booleans())
    def update(self, data, title, stale):
        activity_id = data.draw(st.sampled_from(sorted(self.buffered)))
        current = self.store.get(activity_id)
        if stale:
            with pytest.raises(VersionConflict):
                self.store.update(attrs.evolve(current, title=title), if_version="stale")
            return
        self.store.update(attrs.evolve(current, title=title), if_version=current.version)
        self.buffered[activity_id] = title
        self._written()

    @precondition(lambda self: self.buffered)
    @rule(data=st.data())
    def delete(self, data):
        activity_id = data.draw(st.sampled_from(sorted(self.buffered)))
        self.store.delete(activity_id, if_version=self.store.get(activity_id).version)
        del self.buffered[activity_id]
        self._written()

    @property
    def conflicted(self) -> bool:
        return bool(self.pending) and self.store.path.read_bytes() != self.base

    def _expect_written(self, write) -> None:
        if self.conflicted:
            with pytest.raises(VersionConflict):
                write()
            return
        write()
        self.flushed = dict(self.buffered)
        self.pending = 0
        self.base = self.store.path.read_bytes()

    @rule()
    def flush(self):
        self._expect_written(self.store.flush)

    @rule()
    def close(self):
        self._expect_written(self.store.close)

    @precondition(lambda self: self.pending and not self.conflicted)
    @rule()
    def flush_on_a_full_disk(self):
        with file_size_limit(1), pytest.raises(BackendUnavailable):
            self.store.flush()

    @rule(title=TITLES, add=st.booleans())
    def hand_edit(self, title, add):
        """Another program rewrites the file (a new inode, as an editor's save)."""
        number = next(self.numbers)

        def edit(document):
            entries = document["activities"]
            if add or not entries:
                entries.append(self._entry(number))
            entries[-1]["title"] = title

        replace_by_hand(self.store.path, edit)
        after = self.store.path.read_bytes()
        document = json.loads(after)
        self.flushed = {e["id"]: e["title"] for e in document["activities"]}
        if not self.pending:  # nothing buffered: the store reads the file again
            self.buffered = dict(self.flushed)
            self.base = after

    def _entry(self, number: int) -> dict[str, object]:
        start = NOW + timedelta(hours=number)
        return {
            "id": f"h-{number}",
            "user_id": USER.id,
            "activity_type_id": "personal",
            "title": "",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
        }

    @rule()
    def discard(self):
        assert self.store.discard() == self.pending
        self.pending = 0
        self.buffered = dict(self.flushed)
        self.base = self.store.path.read_bytes()

    @invariant()
    def the_store_answers_from_its_buffer(self):
        assert {a.id: a.title for a in self.store.data.activities} == self.buffered
        assert self.store.unflushed == self.pending

    @invariant()
    def the_file_holds_what_was_flushed(self):
        assert {i: a.title for i, a in on_disk(self.store.path).items()} == self.flushed
        assert temporaries(self.folder) == []


ActivityFileMachine.TestCase.settings = settings(
    max_examples=scaled(60), stateful_step_count=30, deadline=None
)
test_activity_file_machine = ActivityFileMachine.TestCase
