"""A headless Chromium (Debian's ``chromium``) driven by Playwright.

No browser is downloaded (``playwright install`` is never run): Playwright launches the
Debian binary found on ``PATH`` (``executable_path``) with a fresh profile. Without it
the browser tests are skipped with the reason, except under CI (``CI=true``), where
they fail: a CI run must not pass by skipping them (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI needs this: {reason}", pytrace=False)
    pytest.skip(reason)


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found is None and Path(f"/usr/bin/{name}").exists():
            found = f"/usr/bin/{name}"
        if found:
            return found
    return None


@contextmanager
def chromium() -> Iterator[object]:
    """One headless Chromium page in a fresh profile; skipped (failed under CI) without it."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (the dev extra has it)")
    browser = _binary("chromium", "chromium-browser")
    if browser is None:
        _unavailable("headless Chromium is not installed: apt-get install chromium")
    profile = tempfile.mkdtemp(prefix="portal-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=browser,
                headless=True,
                args=list(CHROMIUM_FLAGS),
                viewport={"width": 1280, "height": 900},
            )
            try:
                context.set_default_timeout(15_000)
                yield context.pages[0] if context.pages else context.new_page()
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@contextmanager
def live_server(app) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port) in a thread; yield its base URL."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args: object) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
