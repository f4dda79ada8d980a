"""The pytest plugin's memory fixtures and the contract class, through pytester.

Each test writes a small host test suite, runs it with the plugin loaded through its
``pytest11`` entry point, and checks the outcomes.
"""

from __future__ import annotations

import pytest


def test_fixtures_are_available(pytester):
    pytester.makepyfile(
        """
        from datetime import timedelta
        from severa_ext.backends.memory import MemoryBackend
        from severa_ext.backends.activities import ActivityBackend
        from severa_ext.testing import SyncHarness

        def test_calendar(fake_calendar):
            assert isinstance(fake_calendar, MemoryBackend)
            assert fake_calendar.all_items() == []

        def test_activities(fake_activities):
            assert isinstance(fake_activities, ActivityBackend)
            assert len(fake_activities.store) == 0

        def test_harness(sync_harness):
            assert isinstance(sync_harness, SyncHarness)
            assert sync_harness.sync().ok
            assert sync_harness.journal() == []
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_fault_injection_through_fake_calendar(pytester):
    pytester.makepyfile(
        """
        import pytest
        from datetime import timedelta
        from severa_ext.backends.memory import Fault
        from severa_ext.errors import Throttled, BackendUnavailable
        from severa_ext.sync.items import CalendarItem
        from severa_ext.testing._fixtures_memory import START

        ITEM = CalendarItem("Standup", START, START + timedelta(minutes=15))

        def test_throttle_then_success(fake_calendar):
            fake_calendar.inject("create", Fault.throttle(2.5))
            with pytest.raises(Throttled) as caught:
                fake_calendar.create(ITEM, "key-1")
            assert caught.value.retry_after == 2.5
            assert fake_calendar.create(ITEM, "key-1").sync_key == "key-1"

        def test_unavailable(fake_calendar):
            fake_calendar.inject("changes", Fault.unavailable())
            with pytest.raises(BackendUnavailable):
                fake_calendar.changes(None, None)
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_a_fault_that_never_fired_fails_the_test_unless_opted_out(pytester):
    pytester.makepyfile(
        """
        import pytest
        from severa_ext.backends.memory import Fault

        def test_forgotten(fake_calendar):
            fake_calendar.inject("delete", Fault.unavailable())

        @pytest.mark.severa_ext(assert_faults_fired=False)
        def test_opted_out(fake_calendar):
            fake_calendar.inject("delete", Fault.unavailable())
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*1 injected fault(s) never fired*"])


def test_sync_harness_syncs_S8_S9(pytester):
    """The harness runs the real engine: S9 private entries become Personal, S8 tasks stay."""
    pytester.makepyfile(
        """
        from datetime import timedelta
        from severa_ext.domain import Activity
        from severa_ext.sync.items import CalendarItem

        def test_both_ways(sync_harness):
            h = sync_harness
            start = h.clock.now() + timedelta(days=1)
            end = start + timedelta(hours=1)
            h.b.user_create(CalendarItem("Dentist", start, end, private=True))
            h.a.store.create(Activity("m1", "user-1", "meeting", "Review", start, start))
            h.a.store.create(Activity("t1", "user-1", "task", "Build", start, start))
            report = h.sync()
            assert report.ok
            types = {a.title: a.activity_type_id for a in h.a.store.activities()}
            assert types["Dentist"] == "personal"
            assert sorted(i.title for i in h.b.all_items()) == ["Dentist", "Review"]
            assert sum(h.sync().writes.values()) == 0
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


CONTRACT_SUITE = """
import pytest
from severa_ext.backends.memory import MemoryBackend
from severa_ext.testing import BackendContract
from severa_ext.testing.contract import BackendContract as Direct

assert BackendContract is Direct


class HostAdapter(MemoryBackend):
    '''A host's own adapter, here a thin layer over the memory backend.'''
{body}


class TestHostAdapter(BackendContract):
    @pytest.fixture
    def backend(self):
        adapter = HostAdapter("host")
        yield adapter
        adapter.close()
"""


def test_a_host_suite_subclasses_the_contract(pytester):
    pytester.makepyfile(CONTRACT_SUITE.format(body="    pass"))
    result = pytester.runpytest("-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 15
    assert "failed" not in outcomes
    assert "errors" not in outcomes


@pytest.mark.parametrize(
    ("body", "failing"),
    [
        # Etags that never change: lost updates would go unnoticed.
        (
            "    def update(self, item_id, item, if_match):\n"
            "        return super().update(item_id, item, None).evolve(etag='1')\n",
            "test_update_changes_content_and_etag",
        ),
        # A private flag dropped on the way in (S9).
        (
            "    def create(self, item, sync_key):\n"
            "        return super().create(item.evolve(private=False), sync_key)\n",
            "test_get_round_trip_keeps_content",
        ),
        # find() that ignores the sync key: crash recovery would duplicate (S3).
        (
            "    def find(self, sync_key):\n        return ()\n",
            "test_find_by_sync_key",
        ),
    ],
)
def test_the_contract_catches_a_broken_adapter(pytester, body, failing):
    pytester.makepyfile(CONTRACT_SUITE.format(body=body))
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.parseoutcomes().get("failed", 0) >= 1
    result.stdout.fnmatch_lines([f"FAILED *{failing}*"])


def test_the_contract_without_a_backend_fixture_says_so(pytester):
    pytester.makepyfile(
        """
        from severa_ext.testing.contract import BackendContract

        class TestForgotten(BackendContract):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "test_name_and_capabilities")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*must override the backend fixture*"])


def test_from_type_works_in_a_host_suite(pytester):
    pytester.makepyfile(
        """
        from hypothesis import given, settings, strategies as st
        from severa_ext.sync.items import CalendarItem
        from severa_ext.domain import Activity

        @settings(max_examples=20)
        @given(st.from_type(CalendarItem), st.from_type(Activity))
        def test_values(item, activity):
            assert isinstance(item, CalendarItem)
            assert isinstance(activity, Activity)
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.slow
def test_the_plugin_imports_nothing_until_a_fixture_is_used(pytester):
    """No autouse fixture: a suite that uses none never imports the backends or engine."""
    pytester.makepyfile(
        """
        import sys

        def test_nothing_loaded():
            loaded = [m for m in ("severa_ext.backends.memory", "severa_ext.sync.engine",
                                  "severa_ext.backends.activities", "sqlite3")
                      if m in sys.modules]
            assert loaded == []

        def test_fixture_loads_on_use(fake_calendar):
            assert "severa_ext.backends.memory" in sys.modules
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
