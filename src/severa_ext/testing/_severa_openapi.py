"""Holding the Severa client and fake to the published API description (tests only).

:class:`SpecCheck` validates every request a ``requests.Session`` sends and every
answer it gets against Severa's OpenAPI 3.0 description (the calendar-sync subset in
``shared/severa-rest-api/openapi-subset.yaml``) with ``openapi-core``; mismatches are
collected in :attr:`SpecCheck.problems`. The fake's base URL
(``http://127.0.0.1:<port>/rest-api``) is read as the description's server
(``https://api.severa.visma.com/rest-api``).

:func:`find_description` locates the file: ``$SEVERA_OPENAPI`` if set, else the copy
that ships beside this module (``severa-openapi-subset.yaml``, byte for byte the
project's ``shared/severa-rest-api/openapi-subset.yaml``, which a test compares when
the shared folder is there), so a checkout anywhere and an installed package both
have it.

``openapi-core`` is a development dependency (the ``dev`` extra); this module imports
it only when a check is built.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import urllib3

__all__ = ["SHIPPED", "SPEC_SERVER", "SpecCheck", "find_description"]

SPEC_SERVER = "https://api.severa.visma.com"
SHIPPED = Path(__file__).with_name("severa-openapi-subset.yaml")
"""The description as it ships with the package."""


def find_description() -> Path | None:
    """The description file (``$SEVERA_OPENAPI``, else :data:`SHIPPED`), or ``None``
    when it is not there."""
    override = os.environ.get("SEVERA_OPENAPI")
    path = Path(override) if override else SHIPPED
    return path if path.is_file() else None


class _Request:
    """An ``openapi_core`` request made from a prepared ``requests`` request."""

    def __init__(self, prepared: requests.PreparedRequest, base: str) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        url = str(prepared.url)
        parts = urlsplit(url)
        self.method = str(prepared.method or "").lower()
        self.host_url = SPEC_SERVER
        self.path = parts.path
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(
                [(k, v) for k, values in parse_qs(parts.query).items() for v in values]
            ),
            header=Headers(dict(prepared.headers)),
            cookie=ImmutableMultiDict(),
            path={},
        )
        body = prepared.body
        self.body = body.encode() if isinstance(body, str) else body
        self.content_type = str(prepared.headers.get("Content-Type", "")).split(";")[0]
        self.full_url_pattern = SPEC_SERVER + parts.path
        del base


class _Response:
    def __init__(self, response: requests.Response) -> None:
        from werkzeug.datastructures import Headers

        self.data = response.content
        self.status_code = response.status_code
        self.content_type = str(response.headers.get("Content-Type", "")).split(";")[0]
        self.headers = Headers(dict(response.headers))


class SpecCheck:
    """Validates a session's traffic against the description.

    Args:
        description: the ``openapi-subset.yaml`` file.

    Use :meth:`watch` on a session (a response hook); read :attr:`problems` and
    :attr:`checked` afterwards.
    """

    def __init__(self, description: Path) -> None:
        from openapi_core import OpenAPI

        self._api = OpenAPI.from_file_path(str(description))
        self.problems: list[str] = []
        self.checked = 0
        self.skip_bodies_of: set[int] = set()

    def __repr__(self) -> str:
        return f"SpecCheck(checked={self.checked}, problems={len(self.problems)})"

    def watch(self, session: requests.Session) -> requests.Session:
        """Validate every exchange of ``session`` from now on; returns it."""
        session.hooks["response"].append(self._hook)
        return session

    def _hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        data = response.content  # the streamed body, read here so that it can be checked
        # ... and put back as a fresh stream for the client, which reads ``raw`` itself.
        response.raw = urllib3.HTTPResponse(
            body=io.BytesIO(data), status=response.status_code, preload_content=False
        )
        self.check(response.request, response)

    def check(self, prepared: requests.PreparedRequest, response: requests.Response) -> None:
        """Validate one exchange (request and answer)."""
        request = _Request(prepared, SPEC_SERVER)
        self.checked += 1
        with warnings.catch_warnings():
            # openapi-core checks apiKey schemes (Client_Id) but not OAuth2 ones.
            warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)
            found = [
                ("request", list(self._api.iter_request_errors(request))),
                ("response", list(self._response_errors(request, response))),
            ]
        for where, errors in found:
            for error in errors:
                cause = getattr(error, "__cause__", None)
                detail = f"{error}" + (f" ({cause})" if cause else "")
                self.problems.append(
                    f"{prepared.method} {urlsplit(str(prepared.url)).path} {where}: {detail}"
                )

    def _response_errors(
        self, request: _Request, response: requests.Response
    ) -> Iterator[Exception]:
        if response.status_code in self.skip_bodies_of:
            return iter(())
        return iter(self._api.iter_response_errors(request, _Response(response)))
