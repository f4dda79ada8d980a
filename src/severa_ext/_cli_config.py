"""The ``severa-ext`` TOML configuration (private helper of :mod:`severa_ext.cli`).

Read with :mod:`tomllib` and structured through a cattrs converter; unknown keys are
errors (a typo must not silently fall back to a default). Secrets are never in the
file's values directly: a setting names an environment variable or a file that holds
the secret (``client_secret_env = "SEVERA_GRAPH_SECRET"``, ``password_file = "..."``).
"""

from __future__ import annotations

import os
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn

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
class IcsSettings:
    """``[ics]``: the zone for floating times, a legacy encoding, the size limit."""

    zone: str = "UTC"
    encoding: str | None = None
    max_bytes: int | None = None
    timeout: float = 30.0
    allow_http: bool = False
    """Accept plain ``http://`` subscriptions (a trusted local feed); off by default."""


@attrs.frozen
class GraphSettings:
    """``[graph]``: app-only OAuth (S7); the secret comes from the environment or a file."""

    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None
    client_secret_file: str | None = None
    base_url: str | None = None


@attrs.frozen
class EwsSettings:
    """``[ews]``: on-premises Exchange credentials (the password from env or a file)."""

    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    auth: str = "ntlm"


@attrs.frozen
class Config:
    """The whole configuration file; ``path`` is where it was read from (or ``None``)."""

    policy: PolicySettings = PolicySettings()
    window: WindowSettings = WindowSettings()
    ics: IcsSettings = IcsSettings()
    graph: GraphSettings = GraphSettings()
    ews: EwsSettings = EwsSettings()
    state: str | None = None
    path: Path | None = None

    def relative(self, value: str) -> Path:
        """``value`` as a path, relative to the config file's folder."""
        candidate = Path(value).expanduser()
        if candidate.is_absolute() or self.path is None:
            return candidate
        return self.path.parent / candidate


def _converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)

    def to_date(value: Any, _type: Any) -> date:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            return date.fromisoformat(value)
        raise ValueError(f"expected a date, got {value!r}")

    converter.register_structure_hook(date, to_date)
    converter.register_structure_hook(Path, lambda v, _t: Path(v))

    def tuple_of_str(value: Any, _type: Any) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, list):
            raise ValueError(f"expected a list of strings, got {value!r}")
        if not all(isinstance(v, str) for v in value):
            raise ValueError(f"expected a list of strings, got {value!r}")
        return tuple(value)

    converter.register_structure_hook_func(lambda t: t == tuple[str, ...], tuple_of_str)
    for cls in (PolicySettings, WindowSettings, IcsSettings, GraphSettings, EwsSettings):
        converter.register_structure_hook(
            cls, make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=True)
        )
    return converter


_CONVERTER = _converter()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, cattrs.ClassValidationError | cattrs.IterableValidationError):
        messages = cattrs.transform_error(exc)
        return "; ".join(messages)
    return str(exc)


def load_config(path: Path | None) -> Config:
    """Read the TOML file at ``path`` (``None``: every default).

    Raises:
        ConfigError: the file is missing, not TOML, has unknown keys or bad values.
    """
    if path is None:
        return Config()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    raw.pop("path", None)
    try:
        config = _CONVERTER.structure(raw, Config)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        raise ConfigError(f"config file {path}: {_describe(exc)}") from exc
    config = attrs.evolve(config, path=path.resolve())
    if config.policy.conflict not in CONFLICT_RULES:
        raise ConfigError(
            f"config file {path}: policy.conflict must be one of {', '.join(CONFLICT_RULES)}, "
            f"not {config.policy.conflict!r}"
        )
    window = config.window
    if (window.start is None) != (window.end is None):
        raise ConfigError(f"config file {path}: window needs both start and end, or neither")
    if window.start is not None and window.end is not None and window.end <= window.start:
        raise ConfigError(f"config file {path}: window end must be after start")
    if window.past_days < 0 or window.future_days < 0:
        raise ConfigError(f"config file {path}: window day counts must not be negative")
    return config


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
    if env_name:
        value = os.environ.get(env_name)
        if value:
            return value
        if not file_name:
            raise ConfigError(f"{what}: the environment variable {env_name} is not set")
    if file_name:
        secret_path = config.relative(file_name)
        try:
            value = secret_path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read the secret file {secret_path}: {exc}") from exc
        if not value:
            raise ConfigError(f"{what}: the secret file {secret_path} is empty")
        return value
    raise ConfigError(f"{what}: configure an environment variable or a file for the secret")
