"""The HTTP client msal uses for Graph tokens, bounded like every other call.

msal sends its token and discovery requests through ``http_client.get`` and
``http_client.post``; left to itself it makes a ``requests.Session`` without any
timeout, and a host's session gets none either. :class:`BoundedMsalClient` answers
those calls through :func:`severa_ext.backends._http.send`: a per-read timeout, a
total deadline that covers the status line and headers, a body cap after
decompression, and no redirects (a token request is never re-sent elsewhere).
"""

from __future__ import annotations

from typing import Any

import attrs
import requests

from severa_ext.backends._http import HttpAnswer, HttpLimits, safe_url, send

__all__ = ["TOKEN_LIMITS", "BoundedMsalClient", "MsalResponse"]

TOKEN_LIMITS = HttpLimits(max_body_bytes=2**20, deadline=60.0)
"""Token and discovery answers are small: 1 MiB at most, 60 s per call in all."""


@attrs.frozen
class MsalResponse:
    """What msal reads of an answer: ``status_code``, ``text`` and ``headers``."""

    status_code: int
    text: str
    headers: dict[str, str]

    @classmethod
    def of(cls, answer: HttpAnswer) -> MsalResponse:
        return cls(answer.status, answer.body.decode("utf-8", "replace"), dict(answer.headers))

    def raise_for_status(self) -> None:
        """msal calls it on discovery answers; an HTTP error is a ``requests`` error."""
        if self.status_code >= 400:
            raise requests.HTTPError(f"HTTP {self.status_code}")


class BoundedMsalClient:
    """msal's ``http_client`` over one ``requests.Session``, every call bounded.

    Args:
        session: the session to send through (the host's, or a new one).
        timeout: seconds for connecting and for each read.
        limits: the total deadline and body cap of each call.
    """

    def __init__(
        self,
        session: requests.Session | None = None,
        *,
        timeout: float = 30.0,
        limits: HttpLimits = TOKEN_LIMITS,
    ) -> None:
        self._own = session is None
        self.session = session if session is not None else requests.Session()
        self.timeout = timeout
        self.limits = limits

    def _call(self, method: str, url: str, **kwargs: Any) -> MsalResponse:
        kwargs.pop("timeout", None)  # ours applies
        answer = send(
            self.session,
            method,
            url,
            limits=self.limits,
            timeout=self.timeout,
            backend="graph",
            what=f"{method} {safe_url(url)}",
            **kwargs,
        )
        return MsalResponse.of(answer)

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> MsalResponse:
        """A GET for msal (discovery documents)."""
        return self._call("GET", url, params=params, headers=headers, **kwargs)

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any
    ) -> MsalResponse:
        """A POST for msal (token requests)."""
        return self._call("POST", url, params=params, data=data, headers=headers, **kwargs)

    def close(self) -> None:
        """Close the session if this client made it."""
        if self._own:
            self.session.close()
