"""Time one invite ``issue`` and one ``verify`` at the default scrypt cost (issue 3).

Run: ``python benchmarks/bench_invites.py [--runs N]``. Prints the median of N runs
(default 5) for each step. ``verify`` should cost 50-500 ms: slow enough against
guessing, fast enough for a login.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

from severa_ext.domain import ContactPerson
from severa_ext.extranet.invites import DEFAULT_KDF, Branding, InviteIssuer, verify


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


if __name__ == "__main__":
    main()
