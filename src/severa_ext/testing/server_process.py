"""One child server process of a test fixture: started with its output in a log file,
waited for, and stopped by its own pid (gently first). Used by the PostgreSQL and
Redis test servers."""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["ServerProcess"]

logger = logging.getLogger(__name__)

_STOP_TIMEOUT = 10.0
_POLL = 0.03


class ServerProcess:
    """A started server process and its log file.

    Args:
        command: the server's command line.
        log: the file its output goes to.
        env: its environment (``None``: ours).
        user, group: the uid / gid to run it as (root only; ``None``: ours). Switching
            drops root's supplementary groups.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        log: Path,
        env: dict[str, str] | None = None,
        user: int | None = None,
        group: int | None = None,
    ) -> None:
        self.log = log
        self.name = Path(command[0]).name
        with log.open("wb") as out:
            self._process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                user=user,
                group=group,
                extra_groups=None if user is None else [],
            )

    def __repr__(self) -> str:
        return f"ServerProcess({self.name!r}, pid={self._process.pid})"

    @property
    def running(self) -> bool:
        """Whether the process is still alive."""
        return self._process.poll() is None

    def log_tail(self) -> str:
        """The end of the server's log (for error messages)."""
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-2000:]
        return ""

    def wait_until(self, ready: Callable[[], bool], *, timeout: float) -> str | None:
        """Poll ``ready`` until it is true; else say why not.

        Returns:
            ``None`` when ready, else the reason (the process exited, or the timeout
            passed) with the end of the log.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                return f"{self.name} exited with {self._process.returncode}: {self.log_tail()}"
            if ready():
                return None
            time.sleep(_POLL)
        return f"{self.name} was not ready within {timeout:.0f} s: {self.log_tail()}"

    def stop(self, first: signal.Signals) -> None:
        """Send ``first``, then SIGQUIT and SIGKILL, each after a wait, until it exits."""
        for sig in (first, signal.SIGQUIT, signal.SIGKILL):
            if not self.running:
                return
            self._process.send_signal(sig)
            try:
                self._process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                logger.warning("%s (pid %s) ignored %s", self.name, self._process.pid, sig.name)
