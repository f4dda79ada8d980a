"""``severa-ext portal --demo``: serves on 127.0.0.1 and prints the address and a password."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request

import pytest

from severa_ext._cli_parser import build_parser


def test_the_portal_subcommand_parses():
    args = build_parser().parse_args(["portal", "--demo", "--port", "0"])
    assert (args.command, args.demo, args.port) == ("portal", True, 0)


@pytest.mark.slow
def test_portal_demo_serves_and_prints_a_one_time_password():
    process = subprocess.Popen(
        [sys.executable, "-m", "severa_ext", "portal", "--demo", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        second = process.stdout.readline()
        address = re.search(r"(http://127\.0\.0\.1:\d+/)", first)
        assert address is not None, first
        assert re.search(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]", second), second
        with urllib.request.urlopen(address.group(1) + "login", timeout=10) as response:
            assert response.status == 200
            assert b'name="csrf_token"' in response.read()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
