"""Crash soak of the command line (issue 12): SIGKILL a CLI sync at random points.

A folder gets an activities file with ``--items`` activities (all of a type the policy
sends out, S8) and an ``.ics`` file with ``--incoming`` events (which come in, S9; a
tenth of the items unless told), and an SQLite state file. Then ``severa-ext sync
activities:... ics:...`` runs in a child process, is killed with SIGKILL after a random
delay, and is started again at once: no waiting for the lease, since the dead holder is
a process of this host that is gone (the engine takes its lease over; a rerun that exits
with ``LeaseHeld``, code 3, counts as a failure). The delay is drawn uniformly from
``[0, span]``, where ``span`` is the time one whole uninterrupted sync of the same data
took (a calibration run on a copy, done first), so kills land while the command starts,
lists, plans, writes and commits. When a run finishes before its kill, ``--renew`` new
activities and a hundredth as many new events are added, so the later kills still hit a
sync with work to do.

After ``--kills`` kills, a final run goes to the end (it must exit 0), and one more run
must write nothing. Then both files are checked against everything that was ever
added: each activity title and each event summary is unique, so every title must be
on both sides exactly once (``duplicates``: extra copies, ``lost``: missing ones).

Run: ``python benchmarks/crash_soak.py`` (20,000 items, 50 kills; ``--items 2000
--kills 5`` for a quick run; ``--seed`` for another sequence of delays; ``--keep DIR``
to keep the files; ``--json`` for one JSON object). Prints the figures, one per line,
and exits 1 if a check failed.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
CONFIG = """\
[policy]
outgoing_types = ["meeting"]
default_type = "meeting"
personal_type = "personal"

[window]
start = 2026-11-01
end = 2028-12-01
"""
EXIT_BUSY = 3


class Soak:
    """The folder, the files and the runs of one soak."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.activities = folder / "activities.json"
        self.calendar = folder / "calendar.ics"
        self.state = folder / "state.sqlite"
        self.config = folder / "soak.toml"
        self.log = folder / "runs.log"
        self.next_activity = 0
        self.next_event = 0

    # -- data ------------------------------------------------------------------------

    def create(self, activities: int, events: int) -> None:
        """Write fresh files holding ``activities`` activities and ``events`` events."""
        self.config.write_text(CONFIG)
        document = {
            "user": {"id": "u-soak", "email": "soak@example.com", "name": "Soak"},
            "activity_types": [
                {"id": "meeting", "name": "Meeting"},
                {"id": "personal", "name": "Personal"},
            ],
            "activities": [],
        }
        self.activities.write_text(json.dumps(document))
        self.calendar.write_bytes(
            b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//severa_ext//crash soak//EN\r\n"
            b"END:VCALENDAR\r\n"
        )
        self.add(activities, events)

    def add(self, activities: int, events: int) -> None:
        """Add new activities and events (never while a run works on the files)."""
        document = json.loads(self.activities.read_text())
        for number in range(self.next_activity, self.next_activity + activities):
            start = START + timedelta(minutes=7 * number)
            document["activities"].append(
                {
                    "id": f"a-{number}",
                    "user_id": "u-soak",
                    "activity_type_id": "meeting",
                    "title": f"Activity {number}",
                    "start": start.isoformat(),
                    "end": (start + timedelta(minutes=30)).isoformat(),
                    "last_modified": "2026-10-01T00:00:00+00:00",
                }
            )
        self.next_activity += activities
        self.activities.write_text(json.dumps(document))
        lines = []
        for number in range(self.next_event, self.next_event + events):
            start = START + timedelta(minutes=7 * number + 3)
            lines += [
                "BEGIN:VEVENT",
                f"UID:event-{number}@soak.example",
                "DTSTAMP:20261001T000000Z",
                "LAST-MODIFIED:20261001T000000Z",
                f"SUMMARY:Event {number}",
                f"DTSTART:{start:%Y%m%dT%H%M%SZ}",
                f"DTEND:{start + timedelta(minutes=20):%Y%m%dT%H%M%SZ}",
                "END:VEVENT",
            ]
        self.next_event += events
        head, _, _ = self.calendar.read_bytes().rpartition(b"END:VCALENDAR")
        added = "".join(f"{line}\r\n" for line in lines) + "END:VCALENDAR\r\n"
        self.calendar.write_bytes(head + added.encode())

    def expected(self) -> set[str]:
        """Every title that must be on both sides."""
        return {f"Activity {n}" for n in range(self.next_activity)} | {
            f"Event {n}" for n in range(self.next_event)
        }

    # -- runs ------------------------------------------------------------------------

    def command(self, *extra: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "severa_ext",
            "sync",
            f"activities:{self.activities}",
            f"ics:{self.calendar}",
            "--config",
            str(self.config),
            "--state",
            str(self.state),
            *extra,
        ]

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            return subprocess.Popen(
                self.command(*extra), stdout=subprocess.PIPE, stderr=log, cwd=self.folder
            )

    def run_to_end(self, *extra: str) -> tuple[int, bytes, float]:
        """Run once, to the end: exit code, standard output, seconds."""
        began = time.monotonic()
        process = self.start(*extra)
        out, _ = process.communicate()
        return process.returncode, out, time.monotonic() - began

    def signature(self) -> tuple[int, int]:
        """When the two files last changed (a run that wrote changes it)."""
        return self.activities.stat().st_mtime_ns, self.calendar.stat().st_mtime_ns

    # -- checks ----------------------------------------------------------------------

    def takeovers(self) -> int:
        """Journal entries of runs that took over a dead holder's lease."""
        done = subprocess.run(
            [*self.command()[:3], "journal", "--state", str(self.state), "--json"],
            capture_output=True,
            check=False,
        )
        entries = json.loads(done.stdout or b"{}").get("entries", [])
        return sum(1 for e in entries if "took over the lease" in str(e.get("message")))

    def titles(self) -> tuple[Counter[str], Counter[str]]:
        """The titles on side A (activities) and side B (calendar events), counted."""
        document = json.loads(self.activities.read_text())
        on_a = Counter(str(a.get("title")) for a in document["activities"])
        unfolded = self.calendar.read_bytes().decode().replace("\r\n ", "").replace("\n ", "")
        on_b = Counter(
            line[len("SUMMARY:") :].strip()
            for line in unfolded.splitlines()
            if line.startswith("SUMMARY:")
        )
        return on_a, on_b


def _calibrate(soak: Soak, activities: int, events: int) -> float:
    """Seconds one uninterrupted sync of the same data takes (on a copy)."""
    with tempfile.TemporaryDirectory(prefix="soak-calibrate-") as scratch:
        copy = Soak(Path(scratch))
        copy.create(activities, events)
        code, _, seconds = copy.run_to_end("-q")
        if code != 0:
            raise SystemExit(f"the calibration run failed with exit code {code}")
        return seconds


def soak(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Run the soak in ``folder``; return its figures."""
    rng = random.Random(args.seed)
    incoming = args.incoming if args.incoming is not None else max(1, args.items // 10)
    outgoing = args.items - incoming
    span = args.span if args.span is not None else _calibrate(Soak(folder), outgoing, incoming)
    run = Soak(folder)
    run.create(outgoing, incoming)
    figures: Counter[str] = Counter()
    exit_codes: Counter[int] = Counter()
    began = time.monotonic()
    process, files = run.start("-q"), run.signature()
    while figures["kills"] < args.kills:
        delay = rng.uniform(0.0, span)
        try:
            code = process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.kill()  # SIGKILL: no cleanup, no lease release
            process.wait()
            process.communicate()
            figures["kills"] += 1
            figures["kills after the run wrote"] += run.signature() != files
        else:
            process.communicate()
            exit_codes[code] += 1
            figures["completed runs"] += 1
            figures["lease refusals"] += code == EXIT_BUSY
            if code == 0:  # done before its kill: give the next runs work again
                run.add(args.renew, max(1, args.renew // 100))
                figures["renewals"] += 1
        # At once: the dead holder's lease is taken over, never waited for.
        process, files = run.start("-q"), run.signature()
        figures["reruns"] += 1
    code = process.wait()
    process.communicate()
    figures["lease refusals"] += code == EXIT_BUSY
    soak_seconds = time.monotonic() - began
    final_code, _, final_seconds = run.run_to_end("-q")
    after_code, after_out, _ = run.run_to_end("--json")
    after = json.loads(after_out) if after_out.strip() else {}
    on_a, on_b = run.titles()
    expected = run.expected()
    return {
        "items": run.next_activity + run.next_event,
        "activities out": run.next_activity,
        "events in": run.next_event,
        "kills": figures["kills"],
        "kills after the run wrote": figures["kills after the run wrote"],
        "lease takeovers journaled": run.takeovers(),
        "reruns": figures["reruns"],
        "runs that finished before their kill": figures["completed runs"],
        "renewals": figures["renewals"],
        "lease refusals (exit 3)": figures["lease refusals"],
        "exit codes of finished runs": dict(sorted(exit_codes.items())),
        "span (s, one uninterrupted sync)": round(span, 2),
        "soak wall time (s)": round(soak_seconds, 1),
        "final run exit code": final_code,
        "final run (s)": round(final_seconds, 2),
        "run after the final: exit code": after_code,
        "run after the final: writes": after.get("writes"),
        "duplicates on A": sum(n - 1 for n in on_a.values() if n > 1),
        "duplicates on B": sum(n - 1 for n in on_b.values() if n > 1),
        "lost on A": len(expected - set(on_a)),
        "lost on B": len(expected - set(on_b)),
        "unexpected titles": len((set(on_a) | set(on_b)) - expected),
    }


def failures(figures: dict[str, Any], kills: int) -> list[str]:
    """What the figures show went wrong (empty: the soak passed)."""
    wrong = [
        name
        for name in (
            "lease refusals (exit 3)",
            "duplicates on A",
            "duplicates on B",
            "lost on A",
            "lost on B",
            "unexpected titles",
            "final run exit code",
            "run after the final: exit code",
        )
        if figures[name] != 0
    ]
    if figures["kills"] < kills:
        wrong.append("kills")
    if figures["run after the final: writes"] != {"a": 0, "b": 0}:
        wrong.append("run after the final: writes")
    return wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000, help="items to sync (both files)")
    parser.add_argument(
        "--incoming", type=int, default=None, help="of them, events in the .ics (items/10)"
    )
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs before the final run")
    parser.add_argument("--seed", type=int, default=12, help="seed of the kill delays")
    parser.add_argument(
        "--span", type=float, default=None, help="kill delays are drawn from [0, SPAN] seconds"
    )
    parser.add_argument(
        "--renew", type=int, default=None, help="activities added when a run ends (items/20)"
    )
    parser.add_argument("--keep", type=Path, default=None, help="work in DIR and keep it")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    if args.renew is None:
        args.renew = max(10, args.items // 20)
    if args.keep is not None:
        shutil.rmtree(args.keep, ignore_errors=True)
        args.keep.mkdir(parents=True)
        figures = soak(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="crash-soak-") as folder:
            figures = soak(args, Path(folder))
    wrong = failures(figures, args.kills)
    if args.json:
        print(json.dumps({**figures, "failures": wrong}))
        return 1 if wrong else 0
    for name, value in figures.items():
        print(f"{name}: {value}")
    print("result: " + ("PASS" if not wrong else "FAIL (" + ", ".join(wrong) + ")"))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
