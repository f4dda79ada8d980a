"""A fake Microsoft identity platform (Entra ID) for one tenant and one application.

:class:`FakeIdentity` answers the endpoints msal calls: the OpenID discovery document
and ``/oauth2/v2.0/token`` with the client-credentials grant (a client secret, or a
certificate's JWT bearer assertion whose claims are checked) and the refresh-token
grant (for delegated tokens, with an ``id_token`` and ``client_info`` msal keys its
accounts on). It issues opaque access tokens and says whether a bearer token is
valid, so a fake API server checks ``Authorization`` with :meth:`FakeIdentity.valid`.
Errors carry AAD's codes (``AADSTS7000215`` a bad secret, ``AADSTS70008`` an expired
refresh token). Hosting it is the fake server's business
(:class:`~severa_ext.testing.graph_server.FakeGraphServer` serves it beside Graph).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["TOKEN_PATH", "FakeIdentity"]

Answer = tuple[int, dict[str, str], Any]

TOKEN_PATH = "/oauth2/v2.0/token"
"""The token endpoint below the tenant's authority."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeIdentity:
    """The identity endpoints of one tenant, accepting one application.

    Args:
        tenant_id: the tenant in the authority URL.
        client_id: the application id the token endpoint accepts.
        client_secret: the secret it accepts (a certificate assertion is accepted for
            ``client_id`` whatever its signature).
        token_lifetime: seconds an access token is valid for.
    """

    def __init__(
        self, *, tenant_id: str, client_id: str, client_secret: str, token_lifetime: int
    ) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.authority_host = "https://127.0.0.1"
        """The ``https`` host msal is given; the hosting server sets its port."""
        self.tokens_issued = 0
        self._tokens: dict[str, float] = {}
        self._refresh_tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FakeIdentity(tenant_id={self.tenant_id!r}, client_id={self.client_id!r})"

    @property
    def authority(self) -> str:
        """The tenant's authority URL for msal."""
        return f"{self.authority_host}/{self.tenant_id}"

    @property
    def client_secret(self) -> str:
        """The secret the token endpoint accepts (a test value, not a real credential)."""
        return self._client_secret

    def valid(self, token: str) -> bool:
        """True when ``token`` was issued here and has not expired."""
        with self._lock:
            expiry = self._tokens.get(token)
        return expiry is not None and expiry >= time.time()

    def expire_tokens(self) -> None:
        """Every issued access token becomes invalid."""
        with self._lock:
            self._tokens.clear()

    def issue_refresh_token(self, username: str) -> str:
        """A refresh token for a signed-in user (delegated flow tests)."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._refresh_tokens[token] = username
        return token

    def handle(self, method: str, target: str, form: Mapping[str, str]) -> Answer:
        """Answer the OpenID discovery and token endpoints msal calls."""
        path = urlsplit(target).path
        prefix = f"/{self.tenant_id}"
        if method == "GET" and path in {
            f"{prefix}/v2.0/.well-known/openid-configuration",
            f"{prefix}/.well-known/openid-configuration",
        }:
            base = f"{self.authority_host}{prefix}"
            return (
                200,
                {},
                {
                    "issuer": f"{base}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}{TOKEN_PATH}",
                    "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                    "response_types_supported": ["code", "id_token", "token"],
                    "subject_types_supported": ["pairwise"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                },
            )
        if method == "POST" and path == f"{prefix}{TOKEN_PATH}":
            return self._token(form)
        return 404, {}, {"error": "not_found", "error_description": f"no endpoint {path}"}

    def _token(self, form: Mapping[str, str]) -> Answer:
        grant = form.get("grant_type")
        if form.get("client_id") != self.client_id:
            return (
                400,
                {},
                {
                    "error": "unauthorized_client",
                    "error_description": "AADSTS700016: Application not found in the directory.",
                },
            )
        response: dict[str, Any] = {"token_type": "Bearer", "expires_in": self.token_lifetime}
        if grant == "client_credentials":
            secret_ok = form.get("client_secret") == self._client_secret
            assertion_ok = self._assertion_ok(form)
            if not (secret_ok or assertion_ok):
                return (
                    401,
                    {},
                    {
                        "error": "invalid_client",
                        "error_description": "AADSTS7000215: Invalid client secret provided.",
                    },
                )
        elif grant == "refresh_token":
            with self._lock:
                username = self._refresh_tokens.pop(form.get("refresh_token", ""), None)
            if username is None:
                return (
                    400,
                    {},
                    {
                        "error": "invalid_grant",
                        "error_description": "AADSTS70008: The refresh token has expired.",
                    },
                )
            response.update(self._user_tokens(username, form.get("scope", "")))
        else:
            return (
                400,
                {},
                {
                    "error": "unsupported_grant_type",
                    "error_description": f"AADSTS70003: grant type {grant!r} is not supported.",
                },
            )
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.time() + self.token_lifetime
            self.tokens_issued += 1
        response["access_token"] = token
        return 200, {}, response

    def _assertion_ok(self, form: Mapping[str, str]) -> bool:
        """A certificate credential: a JWT bearer assertion issued by the client.

        The claims are checked (issuer, subject, audience, expiry); the signature is
        not, since the fake has no certificate registry.
        """
        if form.get("client_assertion_type") != (
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ):
            return False
        parts = form.get("client_assertion", "").split(".")
        if len(parts) != 3:
            return False
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except ValueError:
            return False
        return (
            isinstance(claims, dict)
            and claims.get("iss") == self.client_id
            and claims.get("sub") == self.client_id
            and str(claims.get("aud", "")).endswith(TOKEN_PATH)
            and float(claims.get("exp", 0)) > time.time()
        )

    def _user_tokens(self, username: str, scope: str) -> dict[str, Any]:
        # The object id is stable per user, as in Entra ID (msal keys accounts on it).
        uid = hashlib.sha256(f"{self.tenant_id}/{username.lower()}".encode()).hexdigest()[:32]
        now = int(time.time())
        claims = {
            "iss": f"{self.authority}/v2.0",
            "aud": self.client_id,
            "sub": uid,
            "oid": uid,
            "tid": self.tenant_id,
            "preferred_username": username,
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
        }
        id_token = ".".join(
            [
                _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode()),
                _b64url(json.dumps(claims).encode()),
                "",
            ]
        )
        refresh = self.issue_refresh_token(username)
        return {
            "id_token": id_token,
            "refresh_token": refresh,
            "client_info": _b64url(json.dumps({"uid": uid, "utid": self.tenant_id}).encode()),
            "scope": scope,
        }
