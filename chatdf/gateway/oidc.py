"""Sign-in with the identity provider (Google) through Authlib's Starlette client.

Authlib runs the OpenID Connect authorization-code flow: it reads the
provider's discovery document, sends the browser to the authorization
endpoint with ``state``, ``nonce`` and a PKCE S256 challenge (kept in the
server-side session), exchanges the code with the client secret and the
verifier, and verifies the ID token: RS256 signature against the provider's
JWKS, issuer, audience, expiry and nonce. On top of that the gateway refuses
an ID token whose nonce it has seen before, unverified e-mail addresses and,
when configured, e-mail domains outside ``CHATDF_GATEWAY_ALLOWED_DOMAINS``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client.errors import MismatchingStateError
from authlib.integrations.starlette_client import OAuth
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import Response

from .settings import GatewaySettings
from .store import GatewayStore, Identity

log = logging.getLogger("chatdf.gateway.oidc")

PROVIDER_NAME = "Google"
SCOPE = "openid email profile"
CALLBACK_PATH = "/auth/callback"
NONCE_MEMORY_SECONDS = 2 * 24 * 3600
"""How long a used nonce is remembered: longer than any ID token the provider issues lives."""


@dataclass
class SignInRefused(Exception):
    """The provider's answer was not accepted; ``reason`` for logs and tests, ``message`` for people."""

    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


class Provider:
    """The OpenID provider as the gateway's client.

    Parameters
    ----------
    settings
        Uses the client id and secret, the discovery URL, the public URL and
        the allowed domains.
    store
        Where used nonces are remembered.
    """

    def __init__(self, settings: GatewaySettings, store: GatewayStore) -> None:
        self.settings = settings
        self.store = store
        self.redirect_uri = f"{settings.public_url}{CALLBACK_PATH}"
        self._oauth = OAuth()
        self._oauth.register(
            name="provider",
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value() if settings.client_secret else None,
            server_metadata_url=settings.oidc_discovery_url,
            client_kwargs={"scope": SCOPE, "code_challenge_method": "S256", "timeout": 15},
        )
        self._client: Any = self._oauth.create_client("provider")

    async def authorize_redirect(self, request: Request) -> Response:
        """Send the browser to the provider; state, nonce and verifier go into the session."""
        try:
            return await self._client.authorize_redirect(request, self.redirect_uri)
        except Exception as exc:  # noqa: BLE001 - discovery unreachable or malformed
            log.warning("the provider's discovery document could not be read (%s)", type(exc).__name__)
            raise SignInRefused(
                "provider_unreachable",
                f"{PROVIDER_NAME} sign-in could not be started. Try again in a minute.",
            ) from None

    async def identity(self, request: Request) -> Identity:
        """Finish the flow at the callback: the verified person, or :class:`SignInRefused`."""
        try:
            metadata = await self._client.load_server_metadata()
            self._client.client_kwargs["token_endpoint_auth_method"] = _auth_method(metadata)
            claims_options = {
                "iss": {"essential": True, "values": [metadata["issuer"]]},
                "aud": {"essential": True, "value": self.settings.client_id},
                "exp": {"essential": True},
                "nonce": {"essential": True},
            }
            token = await self._client.authorize_access_token(request, claims_options=claims_options)
        except MismatchingStateError:
            raise SignInRefused(
                "state",
                "This sign-in page was already used or has expired. Start again from your notebook.",
            ) from None
        except JoseError as exc:
            log.warning("ID token refused: %s", type(exc).__name__)
            raise SignInRefused(
                "id_token", f"{PROVIDER_NAME}'s answer could not be verified. Start again from your notebook."
            ) from None
        except AuthlibBaseError as exc:
            error = getattr(exc, "error", "") or ""
            log.warning("the provider refused the sign-in: %s", error)
            if error == "access_denied":
                raise SignInRefused("cancelled", "Sign-in was cancelled.") from None
            raise SignInRefused(
                "provider", f"{PROVIDER_NAME} did not complete the sign-in. Start again from your notebook."
            ) from None
        except Exception as exc:  # noqa: BLE001 - network errors, malformed provider answers
            log.warning("the sign-in failed at the provider: %s", type(exc).__name__)
            raise SignInRefused(
                "provider", f"{PROVIDER_NAME} could not be reached. Try again in a minute."
            ) from None
        claims = token.get("userinfo")
        if not claims:  # no ID token in the answer: nothing was verified
            raise SignInRefused(
                "id_token", f"{PROVIDER_NAME} sent no identity. Start again from your notebook."
            )
        if not await self.store.claim_nonce(str(claims["nonce"]), NONCE_MEMORY_SECONDS):
            log.warning("ID token refused: its nonce was used before")
            raise SignInRefused(
                "nonce_replayed", f"{PROVIDER_NAME}'s answer was used before. Start again from your notebook."
            )
        email = str(claims.get("email") or "").strip().lower()
        # Google always says whether it verified the address; an unverified one is refused.
        verified = claims.get("email_verified", True)
        if not email or verified not in (True, "true"):
            raise SignInRefused(
                "email_unverified", "Your account has no verified e-mail address, which this gateway needs."
            )
        domain = email.rpartition("@")[2]
        allowed = self.settings.allowed_domains
        if allowed and domain not in allowed:
            raise SignInRefused(
                "domain", f"Accounts of {domain} may not use this gateway; sign in with an account of "
                + ", ".join(allowed)
                + ".",
            )
        name = str(claims.get("name") or email)
        return Identity(subject=f"{claims['iss']} {claims['sub']}", email=email, name=name)


def _auth_method(metadata: dict[str, Any]) -> str:
    """How to send the client secret: HTTP Basic unless the provider only takes it in the form."""
    methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if "client_secret_basic" not in methods and "client_secret_post" in methods:
        return "client_secret_post"
    return "client_secret_basic"
