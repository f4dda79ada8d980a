"""Opening a pair's two backends: :class:`PairBackends` and :class:`SettingsBackends`.

:class:`SettingsBackends` builds them from the organisation's
:class:`~severa_ext.backends.factory.BackendSettings` with the public factory (the
one the command line uses): the calendar from the user's activation
(:func:`~severa_ext.backends.factory.calendar_address`), the Severa side from
``severa:<mailbox>`` unless the host passes its own ``activities`` opener. Every
request of a Graph or EWS calendar goes through the runner's
:class:`~severa_ext.runner.RequestGate`, and one Graph token provider serves
every mailbox (one token, not one per pair).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, Protocol

import attrs

from severa_ext.backends import factory
from severa_ext.backends.factory import BackendSettings
from severa_ext.runner.limits import RequestGate, gated_session
from severa_ext.runner.pairs import Pair
from severa_ext.sync.protocol import Backend

__all__ = ["OpenPair", "PairBackends", "SettingsBackends"]


@attrs.define
class OpenPair:
    """A pair's open backends; :meth:`close` closes them (and their sessions)."""

    a: Backend
    b: Backend
    closers: list[Callable[[], None]] = attrs.field(factory=list)

    def close(self) -> None:
        """Close both sides and whatever else was opened for them."""
        for close in (self.a.close, self.b.close, *self.closers):
            with contextlib.suppress(Exception):  # closing one must not leak the others
                close()


class PairBackends(Protocol):
    """Opens the two backends of a pair."""

    def open(self, pair: Pair, gate: RequestGate) -> OpenPair:
        """Side A (the user's activities) and side B (the calendar).

        Raises:
            ConfigError: a setting or secret is missing or wrong.
        """
        ...


class SettingsBackends:
    """A :class:`PairBackends` over the organisation's connection settings.

    Args:
        settings: the settings (or a callable returning the current ones).
        activities: opens a pair's Severa side (default: the Severa REST API for
            ``severa:<mailbox>``, credentials from ``settings.severa``).
    """

    def __init__(
        self,
        settings: BackendSettings | Callable[[], BackendSettings],
        *,
        activities: Callable[[Pair], Backend] | None = None,
    ) -> None:
        self._settings = settings
        self._activities = activities
        self._tokens: tuple[BackendSettings, Any] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "SettingsBackends()"

    def settings(self) -> BackendSettings:
        """The current settings."""
        return self._settings() if callable(self._settings) else self._settings

    def _graph_tokens(self, settings: BackendSettings) -> Any:
        with self._lock:
            if self._tokens is None or self._tokens[0] != settings:
                self._tokens = (settings, factory.graph_tokens(settings))
            return self._tokens[1]

    def open(self, pair: Pair, gate: RequestGate) -> OpenPair:
        """The pair's backends (see the class doc)."""
        settings = self.settings()
        address = factory.calendar_address(pair.server_kind, pair.mailbox, settings)
        session = gated_session(gate, pair.mailbox)
        try:
            tokens = self._graph_tokens(settings) if address.kind == "graph" else None
            b = factory.open_backend(address, settings, session=session, graph_tokens=tokens)
        except BaseException:
            session.close()
            raise
        try:
            a = self._open_activities(pair, settings)
        except BaseException:
            b.close()
            session.close()
            raise
        return OpenPair(a, b, [session.close])

    def _open_activities(self, pair: Pair, settings: BackendSettings) -> Backend:
        if self._activities is not None:
            return self._activities(pair)
        address = factory.parse_address(f"severa:{pair.mailbox}")
        backend: Backend = factory.open_backend(address, settings)
        return backend
