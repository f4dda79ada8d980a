"""A throw-away PostgreSQL server for tests: its own cluster in a temp folder.

:class:`PostgresServer` finds the server binaries (``SEVERA_EXT_PG_BINDIR``,
``pg_config --bindir``, ``/usr/lib/postgresql/*/bin``, then ``PATH``), runs
``initdb`` into a fresh temp folder and starts ``postgres`` listening on a Unix
socket in that folder only (no TCP port, so parallel test workers never clash). The
cluster trusts local connections: only its owner (and root) can reach the socket,
whose folder is mode ``0700``. Durability is switched off (``fsync``,
``synchronous_commit``, ``full_page_writes``): the data is thrown away anyway.

``initdb`` refuses to run as root, so under euid 0 the cluster belongs to an
unprivileged user (``postgres``, which Debian's package creates) and the server runs
as that user; the folder is handed to it.

:meth:`PostgresServer.create_schema` gives each test an empty schema of the server's
database, reached through a DSN whose ``search_path`` names it: far cheaper than a
database per test (a schema costs a fraction of a millisecond, a database a tenth of
a second). Schemas are only isolation between tests, not a security boundary.

Example::

    server = PostgresServer.start()
    try:
        with psycopg.connect(server.dsn) as conn:
            conn.execute("SELECT 1")
    finally:
        server.stop()
"""

from __future__ import annotations

import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import quote, urlencode

import attrs

from severa_ext.errors import ConfigError
from severa_ext.testing.server_process import ServerProcess

__all__ = [
    "PostgresNotAvailable",
    "PostgresSchema",
    "PostgresServer",
    "find_bindir",
]

logger = logging.getLogger(__name__)

BINDIR_VARIABLE = "SEVERA_EXT_PG_BINDIR"
"""Environment variable naming the folder with ``initdb`` and ``postgres``."""

SERVER_USER = "postgres"
"""The unprivileged user the cluster belongs to when the tests run as root."""

_DATABASE = "severa_ext_test"
_DEBIAN_ROOT = Path("/usr/lib/postgresql")
_SOCKET_PATH_MAX = 100
"""Unix socket paths are limited to 107 bytes (Linux); keep a margin."""

_START_TIMEOUT = 30.0
_SETTINGS: Mapping[str, str] = {
    "listen_addresses": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "unix_socket_permissions": "0700",
}

_DURABLE: Mapping[str, str] = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
"""What ``start(durable=True)`` puts back: PostgreSQL's defaults."""


class PostgresNotAvailable(ConfigError):
    """No PostgreSQL server can be started here; the message says what is missing."""


def _has_server(bindir: Path) -> bool:
    return all((bindir / name).is_file() for name in ("initdb", "postgres"))


def _pg_config_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    try:
        done = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(done.stdout.strip())


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path))


def _candidates() -> Iterator[Path]:
    from_pg_config = _pg_config_bindir()
    if from_pg_config is not None:
        yield from_pg_config
    versions = sorted(_DEBIAN_ROOT.glob("*/bin"), key=lambda p: _version_key(str(p)))
    yield from reversed(versions)
    initdb = shutil.which("initdb")
    if initdb is not None:
        yield Path(initdb).resolve().parent


def find_bindir() -> Path:
    """The folder holding the PostgreSQL server binaries (``initdb``, ``postgres``).

    Returns:
        ``$SEVERA_EXT_PG_BINDIR`` if set (and then only it), else the first folder
        with both binaries among ``pg_config --bindir``, ``/usr/lib/postgresql/*/bin``
        (newest first) and the folder of ``initdb`` on ``PATH``.

    Raises:
        PostgresNotAvailable: the configured folder, or every candidate, lacks them.
    """
    configured = os.environ.get(BINDIR_VARIABLE)
    if configured:
        if _has_server(Path(configured)):
            return Path(configured)
        raise PostgresNotAvailable(
            f"no PostgreSQL server found: ${BINDIR_VARIABLE} is {configured!r}, "
            "which has no initdb and postgres"
        )
    for candidate in _candidates():
        if _has_server(candidate):
            return candidate
    raise PostgresNotAvailable(
        "no PostgreSQL server found: looked for initdb and postgres in "
        "`pg_config --bindir`, /usr/lib/postgresql/*/bin and PATH; install one "
        f"(Debian: apt-get install postgresql) or set {BINDIR_VARIABLE}"
    )


@attrs.frozen
class _Owner:
    """Who runs the cluster: ``uid``/``gid`` to switch to, or ``None`` for ourselves."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def for_this_process(cls) -> _Owner:
        if os.geteuid() != 0:
            return cls()
        try:
            entry = pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise PostgresNotAvailable(
                f"running as root, and initdb refuses root: create the unprivileged user "
                f"{SERVER_USER!r} (Debian's postgresql package does) or run the tests "
                "as another user"
            ) from None
        return cls(entry.pw_uid, entry.pw_gid)

    def hand_over(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)


def _environment() -> dict[str, str]:
    keep = ("PATH", "TZ")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env["LC_ALL"] = "C"
    return env


@attrs.frozen
class PostgresSchema:
    """An empty schema of a :class:`PostgresServer`'s database, for one test.

    Attributes:
        name: the schema's name.
        dsn: a libpq connection string whose ``search_path`` is the schema, so
            unqualified tables land in it (psycopg: ``psycopg.connect(dsn)``).
        sqlalchemy_url: the same as a SQLAlchemy URL for the psycopg 3 driver
            (``sqlalchemy.create_engine(sqlalchemy_url)``).
    """

    name: str
    dsn: str
    sqlalchemy_url: str


class PostgresServer:
    """A running throw-away PostgreSQL cluster on a Unix socket (see the module doc).

    Use :meth:`start` to make one and :meth:`stop` to shut it down and delete its
    folder.

    Attributes:
        root: the temp folder (the cluster's data, its log and the socket).
        bindir: the folder of the server binaries.
        socket_dir: where the Unix socket is (``host`` in a DSN).
        port: the port number that names the socket file (no TCP port is opened).
        user: the superuser to connect as (trusted on the socket).
        database: the test database :attr:`dsn` reaches.
    """

    def __init__(self, *, root: Path, bindir: Path, process: ServerProcess) -> None:
        self.root = root
        self.bindir = bindir
        self.socket_dir = root
        self.port = 5432
        self.user = SERVER_USER
        self.database = _DATABASE
        self._process = process

    def __repr__(self) -> str:
        return f"PostgresServer(socket_dir={str(self.socket_dir)!r}, {self._process!r})"

    @property
    def dsn(self) -> str:
        """A libpq connection string to the server's test database."""
        return self._dsn(self.database)

    @property
    def version(self) -> str:
        """The server's version string (from ``postgres --version``)."""
        done = subprocess.run(
            [str(self.bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        return done.stdout.strip()

    def _dsn(self, database: str, **extra: str) -> str:
        params = {
            "host": str(self.socket_dir),
            "port": str(self.port),
            "user": self.user,
            "dbname": database,
            **extra,
        }
        return " ".join(f"{key}={_quote_conninfo(value)}" for key, value in params.items())

    @property
    def running(self) -> bool:
        """Whether the server process is still alive."""
        return self._process.running

    @classmethod
    def start(cls, *, bindir: Path | None = None, durable: bool = False) -> PostgresServer:
        """``initdb`` a fresh cluster in a new temp folder and start it.

        Args:
            bindir: the folder with the server binaries (default: :func:`find_bindir`).
            durable: run with PostgreSQL's default durability (``fsync``,
                ``synchronous_commit`` and ``full_page_writes`` on), as benchmarks
                that compare stores need; tests leave it off (faster).

        Returns:
            The running server, with its test database created.

        Raises:
            PostgresNotAvailable: no binaries, no unprivileged user under root, a temp
                folder path too long for a Unix socket, or the server did not start
                (the message holds the end of its log).
        """
        bindir = find_bindir() if bindir is None else bindir
        owner = _Owner.for_this_process()
        root = Path(tempfile.mkdtemp(prefix="severa-ext-pg-"))
        try:
            server = cls._boot(
                root, bindir, owner, {**_SETTINGS, **_DURABLE} if durable else _SETTINGS
            )
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return server

    @classmethod
    def _boot(
        cls, root: Path, bindir: Path, owner: _Owner, server_settings: Mapping[str, str]
    ) -> PostgresServer:
        if len(str(root / ".s.PGSQL.5432")) > _SOCKET_PATH_MAX:
            raise PostgresNotAvailable(
                f"the temp folder {str(root)!r} is too deep for a Unix socket path; "
                "set TMPDIR to a shorter folder"
            )
        owner.hand_over(root)
        data = root / "data"
        _run(
            [
                str(bindir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                SERVER_USER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            owner,
            what="initdb",
        )
        settings = [
            arg for key, value in server_settings.items() for arg in ("-c", f"{key}={value}")
        ]
        command = [str(bindir / "postgres"), "-D", str(data), "-k", str(root), *settings]
        process = ServerProcess(
            command, log=root / "server.log", env=_environment(), user=owner.uid, group=owner.gid
        )
        server = cls(root=root, bindir=bindir, process=process)
        try:
            problem = process.wait_until(server._accepts_connections, timeout=_START_TIMEOUT)
            if problem is not None:
                raise PostgresNotAvailable(f"PostgreSQL did not start: {problem}")
            server._create_database()
        except BaseException:
            server.stop()
            raise
        logger.info("started PostgreSQL test server %s", server)
        return server

    def _accepts_connections(self) -> bool:
        command = [
            str(self.bindir / "pg_isready"),
            "--quiet",
            "--host",
            str(self.socket_dir),
            "--port",
            str(self.port),
            "--username",
            self.user,
            "--dbname",
            "postgres",
        ]
        return subprocess.run(command, check=False, timeout=10).returncode == 0

    def _create_database(self) -> None:
        self.execute("postgres", f"CREATE DATABASE {_DATABASE}")

    def execute(self, database: str, sql: str) -> None:
        """Run one SQL statement as the superuser with ``psql`` (no driver needed).

        Args:
            database: the database to connect to.
            sql: the statement (not a query: its output is discarded).

        Raises:
            PostgresNotAvailable: ``psql`` failed (the message holds its error).
        """
        _run(
            [
                str(self.bindir / "psql"),
                "--no-psqlrc",
                "--quiet",
                "--set",
                "ON_ERROR_STOP=1",
                "--dbname",
                self._dsn(database),
                "--command",
                sql,
            ],
            _Owner(),
            what="psql",
        )

    def create_schema(self, prefix: str = "t") -> PostgresSchema:
        """Create an empty schema in the test database for one test.

        Args:
            prefix: the start of the schema's name (letters, digits, ``_``).

        Returns:
            The schema, with DSNs whose ``search_path`` is that schema.
        """
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", prefix):
            raise ConfigError(f"schema prefix must be lower-case letters/digits, got {prefix!r}")
        name = f"{prefix}_{secrets.token_hex(6)}"
        self.execute(self.database, f"CREATE SCHEMA {name}")
        options = f"-csearch_path={name}"
        query = urlencode(
            {"host": str(self.socket_dir), "port": str(self.port), "options": options}
        )
        url = f"postgresql+psycopg://{quote(self.user)}@/{quote(self.database)}?{query}"
        return PostgresSchema(name, self._dsn(self.database, options=options), url)

    def drop_schema(self, schema: PostgresSchema) -> None:
        """Drop a schema made by :meth:`create_schema`, with everything in it."""
        self.execute(self.database, f"DROP SCHEMA IF EXISTS {schema.name} CASCADE")

    def stop(self) -> None:
        """Shut the server down (fast shutdown, then harder) and delete its folder."""
        self._process.stop(signal.SIGINT)
        shutil.rmtree(self.root, ignore_errors=True)


def _quote_conninfo(value: str) -> str:
    if value and re.fullmatch(r"[^\s'\\]+", value):
        return value
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _run(command: list[str], owner: _Owner, *, what: str) -> None:
    try:
        subprocess.run(
            command,
            capture_output=True,
            check=True,
            timeout=120,
            env=_environment(),
            user=owner.uid,
            group=owner.gid,
            extra_groups=None if owner.uid is None else [],
        )
    except subprocess.CalledProcessError as exc:
        output = (exc.stderr or b"").decode(errors="replace")[-2000:]
        raise PostgresNotAvailable(f"{what} failed ({exc.returncode}): {output}") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PostgresNotAvailable(f"{what} could not run: {exc}") from exc
