"""Time one invite ``issue`` and one ``verify`` at the default scrypt cost (issue 3).

Run: ``python benchmarks/bench_invites.py [--runs N]``. Prints the median of N runs
(default 5) for each step. ``verify`` should cost 50-500 ms: slow enough against
guessing, fast enough for a login. Then the refusals side by side, each with its ratio
to the known case: an unknown invite id against a known one, and a login by an unknown
or invalid address against a known address with a wrong password (constant work,
issues 12 and 18).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from severa_ext.domain import ContactPerson
from severa_ext.errors import InviteError
from severa_ext.extranet.invites import (
    DEFAULT_KDF,
    Branding,
    InviteIssuer,
    Inviter,
    MemoryInviteStore,
    verify,
)


class _Pair:
    project_id = "p1"
    contact_id = "c1"


def main() -> None:
    """Measure and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    branding = Branding(
        product_name="Severa",
        sender_address="noreply@example.com",
        sender_name="Acme Oy",
        login_url="https://extranet.example.com/login",
        support_contact="support@example.com",
        time_zone="Europe/Helsinki",
    )
    issuer = InviteIssuer(branding)
    contact = ContactPerson(
        id="c1", customer_id="k1", first_name="Maija", email="maija@example.com", language="fi"
    )
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    issue_times, verify_times = [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        invite = issuer.issue(_Pair(), contact, now=now, project_name="Website")
        issue_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        verify(invite.record, invite.password.reveal(), now)
        verify_times.append(time.perf_counter() - start)
    kdf = DEFAULT_KDF
    print(f"KDF: scrypt n=2**{kdf.n.bit_length() - 1} r={kdf.r} p={kdf.p} dklen={kdf.dklen}")
    print(f"issue : median {statistics.median(issue_times) * 1000:7.1f} ms over {args.runs} runs")
    print(f"verify: median {statistics.median(verify_times) * 1000:7.1f} ms over {args.runs} runs")
    _refusals(issuer, contact, now, args.runs)


def _median_ms(call: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        with contextlib.suppress(InviteError):
            call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _refusals(issuer: InviteIssuer, contact: ContactPerson, now: datetime, runs: int) -> None:
    """Refusals side by side (issues 12, 18): unknown ids and addresses cost the same."""
    lenient = InviteIssuer(issuer.branding, max_attempts=100)  # stays open while measured
    inviter = Inviter(lenient, MemoryInviteStore())
    invite = inviter.invite(_Pair(), contact, now=now, actor="bench")
    rows = {
        "verify, known id, wrong password": lambda: inviter.verify(
            invite.record.id, "wrong", now=now
        ),
        "verify, unknown id": lambda: inviter.verify("no-such-id", "wrong", now=now),
        "login, known address, wrong password": lambda: inviter.login(
            "maija@example.com", "wrong", now=now
        ),
        "login, unknown address": lambda: inviter.login("nobody@example.com", "wrong", now=now),
        "login, not an address": lambda: inviter.login("not an address", "wrong", now=now),
    }
    medians = {name: _median_ms(call, runs) for name, call in rows.items()}
    base = {"verify": medians["verify, known id, wrong password"]}
    base["login"] = medians["login, known address, wrong password"]
    for name, ms in medians.items():
        ratio = ms / base[name.split(",")[0]]
        print(f"{name:38}: median {ms:7.1f} ms  ({ratio:.2f}x the known case)")


if __name__ == "__main__":
    main()
