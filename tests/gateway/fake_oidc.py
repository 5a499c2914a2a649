"""A fake OpenID Connect provider (a small ASGI app) standing in for Google in tests.

It serves discovery, an authorization endpoint that consents at once for the
configured test user, a token endpoint that checks the client secret, the
single-use code, the redirect URI and the PKCE verifier and issues an
RS256-signed ID token, and the JWKS. Tests turn it hostile with
:attr:`FakeProvider.mode`:

``"ok"``               a correct ID token
``"bad_signature"``    signed with another key under the published key id
``"wrong_audience"``   ``aud`` is another client
``"wrong_issuer"``     ``iss`` is another provider
``"expired"``          ``exp`` an hour ago
``"replay"``           the first ID token it ever issued (an old nonce), sent again
``"no_id_token"``      an access token only
``"deny"``             the person declines at the consent screen
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "chatdf-test-client.apps.example"
CLIENT_SECRET = "test-client-secret-XYZ987"
KEY_ID = "test-key-1"


@functools.cache
def _rsa_key(name: str) -> RSAKey:
    """One RSA key per name and process (generating them is the slow part of a test)."""
    return RSAKey.generate_key(2048, {"kid": KEY_ID})


@dataclass
class Person:
    sub: str = "1001"
    email: str = "ada@example.edu"
    name: str = "Ada Lovelace"
    email_verified: bool = True


@dataclass
class FakeProvider:
    """State and behaviour of the fake provider; :meth:`app` is its ASGI app."""

    issuer: str = ""
    user: Person = field(default_factory=Person)
    mode: str = "ok"
    auth_methods: tuple[str, ...] = ("client_secret_basic", "client_secret_post")
    key: RSAKey = field(default_factory=lambda: _rsa_key("provider"))
    rogue_key: RSAKey = field(default_factory=lambda: _rsa_key("rogue"))
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    _codes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/authorize", self._authorize),
                Route("/token", self._token, methods=["POST"]),
                Route("/jwks", self._jwks),
            ]
        )

    async def _discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": list(self.auth_methods),
            }
        )

    async def _jwks(self, request: Request) -> Response:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    async def _authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.authorize_requests.append(params)
        required = ("client_id", "redirect_uri", "state", "nonce", "code_challenge")
        if (
            params.get("client_id") != CLIENT_ID
            or params.get("response_type") != "code"
            or params.get("code_challenge_method") != "S256"
            or any(not params.get(name) for name in required)
        ):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        redirect = params["redirect_uri"]
        if self.mode == "deny":
            query = urlencode({"error": "access_denied", "state": params["state"]})
            return RedirectResponse(f"{redirect}?{query}", status_code=302)
        code = secrets.token_urlsafe(16)
        self._codes[code] = {
            "nonce": params["nonce"],
            "challenge": params["code_challenge"],
            "redirect_uri": redirect,
        }
        query = urlencode({"code": code, "state": params["state"]})
        return RedirectResponse(f"{redirect}?{query}", status_code=302)

    async def _token(self, request: Request) -> Response:
        async with request.form() as form:
            data = {k: str(v) for k, v in form.items()}
        self.token_requests.append({k: v for k, v in data.items() if k != "client_secret"})
        client_id, client_secret = data.get("client_id"), data.get("client_secret")
        method = "client_secret_post"
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            method = "client_secret_basic"
        if method not in self.auth_methods:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if client_id != CLIENT_ID or client_secret != CLIENT_SECRET:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self._codes.pop(data.get("code", ""), None)  # single use
        if grant is None or data.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if data.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = data.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
        if challenge.decode() != grant["challenge"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
        answer: dict[str, Any] = {
            "access_token": secrets.token_urlsafe(16),
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        if self.mode != "no_id_token":
            answer["id_token"] = self._id_token(grant["nonce"])
        return JSONResponse(answer)

    def _id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.user.sub,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 3600,
            "nonce": nonce,
            "email": self.user.email,
            "email_verified": self.user.email_verified,
            "name": self.user.name,
        }
        key = self.key
        if self.mode == "wrong_audience":
            claims["aud"] = "another-client.apps.example"
        elif self.mode == "wrong_issuer":
            claims["iss"] = "https://evil.example"
        elif self.mode == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        elif self.mode == "bad_signature":
            key = self.rogue_key
        elif self.mode == "replay" and self.issued:
            return self.issued[0]
        token = jwt.encode({"alg": "RS256", "kid": KEY_ID}, claims, key)
        self.issued.append(token)
        return token
