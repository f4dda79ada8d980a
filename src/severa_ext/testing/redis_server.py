"""A throw-away Redis server for tests, on a Unix socket in a temp folder.

:class:`RedisServer` starts ``redis-server`` with no TCP port (``--port 0``), a
socket of mode ``0700`` in a fresh temp folder, and no persistence (no RDB
snapshots, no append-only file), and stops it at the end. Used by the Celery
runner's tests as the broker and result backend::

    server = RedisServer.start()
    try:
        redis.Redis(unix_socket_path=server.socket_path).ping()
    finally:
        server.stop()
"""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import tempfile
from pathlib import Path

from severa_ext.errors import ConfigError
from severa_ext.testing.server_process import ServerProcess

__all__ = ["RedisNotAvailable", "RedisServer", "find_redis_server"]

logger = logging.getLogger(__name__)

_START_TIMEOUT = 20.0


class RedisNotAvailable(ConfigError):
    """No Redis server can be started here; the message says what is missing."""


def find_redis_server() -> Path:
    """The ``redis-server`` binary on ``PATH``.

    Raises:
        RedisNotAvailable: there is none.
    """
    found = shutil.which("redis-server")
    if found is None:
        raise RedisNotAvailable(
            "no redis-server on PATH; install one (Debian: apt-get install redis-server)"
        )
    return Path(found)


def _answers_ping(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class RedisServer:
    """A running throw-away ``redis-server`` (see the module doc).

    Attributes:
        root: its temp folder (deleted by :meth:`stop`).
        socket_path: the Unix socket it listens on.
    """

    def __init__(self, *, root: Path, process: ServerProcess) -> None:
        self.root = root
        self.socket_path = root / "redis.sock"
        self._process = process

    def __repr__(self) -> str:
        return f"RedisServer(socket_path={str(self.socket_path)!r}, {self._process!r})"

    @property
    def running(self) -> bool:
        """Whether the server process is still alive."""
        return self._process.running

    def url(self, db: int = 0) -> str:
        """The redis-py URL of database ``db`` (``redis.Redis.from_url``)."""
        return f"unix://{self.socket_path}?db={db}"

    def kombu_url(self, db: int = 0) -> str:
        """The Celery / kombu broker URL of database ``db`` (``redis+socket://``)."""
        return f"redis+socket://{self.socket_path}?virtual_host={db}"

    @classmethod
    def start(cls, *, binary: Path | None = None) -> RedisServer:
        """Start ``redis-server`` in a new temp folder and wait until it answers.

        Raises:
            RedisNotAvailable: no binary, or it did not start (with its log's end).
        """
        binary = find_redis_server() if binary is None else binary
        root = Path(tempfile.mkdtemp(prefix="severa-ext-redis-"))
        socket_path = root / "redis.sock"
        command = [
            str(binary),
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(root),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]
        server = cls(root=root, process=ServerProcess(command, log=root / "server.log"))
        problem = server._process.wait_until(
            lambda: socket_path.exists() and _answers_ping(socket_path), timeout=_START_TIMEOUT
        )
        if problem is not None:
            server.stop()
            raise RedisNotAvailable(f"redis-server did not start: {problem}")
        logger.info("started Redis test server %s", server)
        return server

    def stop(self) -> None:
        """Stop the server (SIGTERM, then harder) and delete its folder."""
        self._process.stop(signal.SIGTERM)
        shutil.rmtree(self.root, ignore_errors=True)
