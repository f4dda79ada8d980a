"""Backend addresses of the command line (private helper of :mod:`severa_ext.cli`).

The addresses and the factory are public in :mod:`severa_ext.backends.factory` (the
runner builds every user's backends with it too); this module adds what is the
command line's own: Severa's credentials come from the environment
(``SEVERA_CLIENT_ID``, the secret in ``SEVERA_CLIENT_SECRET`` or in the file
``SEVERA_CLIENT_SECRET_FILE`` names, and ``SEVERA_BASE_URL`` for another API root, a
fake server), and the policy's types must be in an activities file.
"""

from __future__ import annotations

import os
from typing import Any

from severa_ext._cli_config import Config
from severa_ext.backends import factory
from severa_ext.backends.factory import Address, BackendSettings, SeveraSettings, parse_address

__all__ = ["Address", "backend_settings", "open_backend", "parse_address"]


def backend_settings(config: Config) -> BackendSettings:
    """The config's connection settings, Severa's from the environment."""
    severa = SeveraSettings(
        client_id=os.environ.get("SEVERA_CLIENT_ID", "").strip() or None,
        client_secret_env="SEVERA_CLIENT_SECRET",  # noqa: S106 (a variable name)
        client_secret_file=os.environ.get("SEVERA_CLIENT_SECRET_FILE") or None,
        base_url=os.environ.get("SEVERA_BASE_URL") or None,
    )
    folder = None if config.path is None else config.path.parent
    return BackendSettings(
        graph=config.graph, ews=config.ews, ics=config.ics, severa=severa, folder=folder
    )


def open_backend(address: Address, config: Config) -> Any:
    """Build the backend an address names, with the config's settings.

    Raises:
        ConfigError: a setting or secret the backend needs is missing or wrong.
        NotFound: a local file does not exist.
    """
    policy = config.policy
    # A Personal type the file lacks is not an error: private entries get the default
    # type and the engine journals a warning (S9: everything in the calendar comes in).
    named = [*policy.outgoing_types, *(t for t in (policy.default_type,) if t)]
    return factory.open_backend(
        address, backend_settings(config), activity_types=named, user_id=policy.user_id
    )
