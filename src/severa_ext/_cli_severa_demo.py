"""``severa-ext demo --severa``: Severa (fake) <-> Microsoft 365 (fake Graph), end to end.

A private helper of :mod:`severa_ext.cli`. Both fakes are started on 127.0.0.1 by the
command: a Severa REST API with one user, her activity types and three activities (a
meeting, a project task and a trip), and a Graph tenant whose mailbox holds two
entries (one private). The real ``SeveraBackend`` and ``GraphBackend`` are synced by
the real ``SyncEngine`` twice: the first run copies both ways (no project task goes
to the calendar, S8; the private entry gets the Personal type, S9), the second finds
nothing to do. Nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from severa_ext._cli_commands import Outcome

__all__ = ["run_severa_demo", "severa_demo"]

EMAIL = "alice@example.com"
MAILBOX = "alice@contoso.com"


def run_severa_demo(echo: Callable[[str], None] = print) -> int:
    """Run the demo; ``echo`` prints each line. Returns the exit code (0: converged)."""
    from severa_ext.backends.severa import SeveraBackend, SeveraCredentials
    from severa_ext.clock import SystemClock
    from severa_ext.sync.engine import SyncEngine
    from severa_ext.sync.items import CalendarItem
    from severa_ext.sync.state import MemoryStateStore
    from severa_ext.testing.graph_server import FakeGraphServer
    from severa_ext.testing.severa_server import FakeSeveraServer

    day = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=1)
    with FakeSeveraServer() as severa_fake, FakeGraphServer() as graph_fake:
        user = severa_fake.add_user(EMAIL, first_name="Alice", last_name="Example")
        meeting = severa_fake.add_type("Meeting", is_default=True)
        severa_fake.add_type("Personal", "Personal")
        task = severa_fake.add_type("Project work", "Task")
        trip = severa_fake.add_type("Travel")
        for title, offset, kind in (
            ("Customer meeting", 0, meeting),
            ("Implement the API", 1, task),
            ("Train to Tampere", 2, trip),
        ):
            begins = day + timedelta(days=offset)
            severa_fake.add_activity(
                user.guid, title, begins, begins + timedelta(hours=1), type_guid=kind.guid
            )
        graph_fake.add_mailbox(MAILBOX)
        for title, offset, private in (("Dentist", 3, True), ("Lunch with Bob", 4, False)):
            begins = day + timedelta(days=offset)
            graph_fake.user_create(
                MAILBOX, CalendarItem(title, begins, begins + timedelta(hours=1), private=private)
            )
        echo(f"fake Severa REST API: {severa_fake.base_url}")
        echo(f"fake Microsoft Graph:  {graph_fake.base_url}")
        severa = SeveraBackend(
            SeveraCredentials(severa_fake.client_id, severa_fake.client_secret),
            user_email=EMAIL,
            base_url=severa_fake.base_url,
        )
        graph = graph_fake.backend(MAILBOX)
        policy = severa.settings_policy(["Meeting", "Travel"])
        engine = SyncEngine(
            severa, graph, MemoryStateStore(), pair_id="demo", policy=policy, clock=SystemClock()
        )
        try:
            for run in (1, 2):
                report = engine.run()
                echo(
                    f"run {run}: created {report.created['a']} in Severa, "
                    f"{report.created['b']} in the calendar; updated "
                    f"{sum(report.updated.values())}; errors {len(report.errors)}"
                )
            echo("Severa now holds:")
            for raw in severa_fake.activities(user.guid):
                echo(f"  {raw['name']:<20} type {raw['activityType']['name']}")
            echo("the calendar now holds:")
            for event in sorted(graph_fake.events(MAILBOX), key=lambda e: e.start):
                echo(f"  {event.title}")
            converged = not report.errors and sum(report.created.values()) == 0
        finally:
            severa.close()
            graph.close()
    return 0 if converged else 1


def severa_demo() -> Outcome:
    """The demo as the command line's ``Outcome`` (its text, a JSON document, the code)."""
    from severa_ext._cli_commands import Outcome
    from severa_ext.errors import ConfigError

    try:
        import jsonpatch  # noqa: F401 (the fake Severa server needs it)
    except ImportError as exc:
        raise ConfigError(
            "the Severa demo runs the package's fake servers: install the testing extra "
            "(pip install 'severa-ext[testing]')"
        ) from exc
    lines: list[str] = []
    code = run_severa_demo(lines.append)
    document = {"demo": "severa-graph", "converged": code == 0, "lines": lines}
    return Outcome(code, document, "\n".join(lines))
