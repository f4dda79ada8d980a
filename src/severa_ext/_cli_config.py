"""The ``severa-ext`` TOML configuration (private helper of :mod:`severa_ext.cli`).

Read with :mod:`tomllib` and structured through a cattrs converter; unknown keys are
errors (a typo must not silently fall back to a default). Secrets are never in the
file's values directly: a setting names an environment variable or a file that holds
the secret (``client_secret_env = "SEVERA_GRAPH_SECRET"``, ``password_file = "..."``).
"""

from __future__ import annotations

import math
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import attrs
import cattrs

from severa_ext._strict import describe, strict_converter, too_deep
from severa_ext.backends.factory import BackendSettings, EwsSettings, GraphSettings, IcsSettings
from severa_ext.backends.factory import read_secret as _read_secret
from severa_ext.errors import ConfigError

__all__ = [
    "Config",
    "EwsSettings",
    "GraphSettings",
    "IcsSettings",
    "PolicySettings",
    "WindowSettings",
    "load_config",
    "read_secret",
]

CONFLICT_RULES = ("newest-wins", "a-wins", "b-wins")
EWS_AUTH = ("ntlm", "basic")
MAX_WINDOW_DAYS = 36_525
"""The widest window a config may ask for, each way (a hundred years)."""


@attrs.frozen
class PolicySettings:
    """``[policy]``: which activity types go out (S8), which types incoming entries get (S9)."""

    outgoing_types: tuple[str, ...] = ()
    default_type: str | None = None
    personal_type: str | None = None
    conflict: str = "newest-wins"
    user_id: str | None = None


@attrs.frozen
class WindowSettings:
    """``[window]``: days around now, or a fixed ``start`` / ``end`` (dates)."""

    past_days: int = 30
    future_days: int = 365
    start: date | None = None
    end: date | None = None


@attrs.frozen
class Config:
    """The whole configuration file; ``path`` is where it was read from (or ``None``)."""

    policy: PolicySettings = PolicySettings()
    window: WindowSettings = WindowSettings()
    ics: IcsSettings = attrs.field(factory=IcsSettings)
    graph: GraphSettings = attrs.field(factory=GraphSettings)
    ews: EwsSettings = attrs.field(factory=EwsSettings)
    state: str | None = None
    path: Path | None = None

    def relative(self, value: str) -> Path:
        """``value`` as a path, relative to the config file's folder."""
        candidate = Path(value).expanduser()
        if candidate.is_absolute() or self.path is None:
            return candidate
        return self.path.parent / candidate


def _converter() -> cattrs.Converter:
    converter = strict_converter()

    def to_date(value: Any, _type: Any) -> date:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        raise ValueError(f"expected a date (2026-11-01), got {type(value).__name__}")

    converter.register_structure_hook(date, to_date)
    return converter


_CONVERTER = _converter()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    except RecursionError:
        raise ConfigError(f"config file {path}: nested too deeply") from None
    if too_deep(raw):
        raise ConfigError(f"config file {path}: nested too deeply")
    return raw


def _problems(config: Config) -> list[str]:
    """What is wrong with the values of a structurally valid config."""
    window, ics = config.window, config.ics
    found = []
    if config.policy.conflict not in CONFLICT_RULES:
        found.append(
            f"policy.conflict must be one of {', '.join(CONFLICT_RULES)}, "
            f"not {config.policy.conflict!r}"
        )
    if (window.start is None) != (window.end is None):
        found.append("window needs both start and end, or neither")
    if window.start is not None and window.end is not None and window.end <= window.start:
        found.append("window end must be after start")
    if not (
        0 <= window.past_days <= MAX_WINDOW_DAYS and 0 <= window.future_days <= MAX_WINDOW_DAYS
    ):
        found.append(f"window day counts must be between 0 and {MAX_WINDOW_DAYS}")
    if ics.encoding is not None and not _known_encoding(ics.encoding):
        found.append(f"ics.encoding {ics.encoding!r} is not an encoding Python knows")
    if ics.max_bytes is not None and ics.max_bytes < 1:
        found.append("ics.max_bytes must be a positive number of bytes")
    if not (math.isfinite(ics.timeout) and ics.timeout > 0):
        found.append("ics.timeout must be a positive number of seconds")
    if config.ews.auth not in EWS_AUTH:
        found.append(f"ews.auth must be one of {', '.join(EWS_AUTH)}, not {config.ews.auth!r}")
    return found


def _known_encoding(name: str) -> bool:
    try:
        "a".encode(name)  # codecs that are not text encodings (base64) raise it too
    except LookupError:
        return False
    return True


def load_config(path: Path | None) -> Config:
    """Read the TOML file at ``path`` (``None``: every default).

    Raises:
        ConfigError: the file is missing, not TOML, has unknown keys or bad values.
    """
    if path is None:
        return Config()
    raw = _read_toml(path)
    if "path" in raw:  # where the file was read from: not a setting
        raise ConfigError(f"config file {path}: unknown key 'path'")
    try:
        config = _CONVERTER.structure(raw, Config)
    except (cattrs.BaseValidationError, ValueError) as exc:
        raise ConfigError(f"config file {path}: {describe(exc)}") from None
    problems = _problems(config)
    if problems:
        raise ConfigError(f"config file {path}: {'; '.join(problems)}")
    return attrs.evolve(config, path=path.resolve())


def window_bounds(config: Config, now: datetime) -> tuple[datetime, datetime]:
    """The sync window as aware datetimes."""
    from datetime import timedelta

    window = config.window
    if window.start is not None and window.end is not None:
        return (
            datetime(window.start.year, window.start.month, window.start.day, tzinfo=UTC),
            datetime(window.end.year, window.end.month, window.end.day, tzinfo=UTC),
        )
    return now - timedelta(days=window.past_days), now + timedelta(days=window.future_days)


def read_secret(config: Config, env_name: str | None, file_name: str | None, what: str) -> str:
    """A secret from the environment variable or the file the config names (never argv).

    Raises:
        ConfigError: neither is configured, the variable is unset or the file unreadable.
    """
    folder = None if config.path is None else config.path.parent
    return _read_secret(BackendSettings(folder=folder), env_name, file_name, what)
