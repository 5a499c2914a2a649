"""The chatdf gateway: one team, one Gemini key, per-user sign-in and limits.

A separate process (``chatdf-gateway serve``, or ``python -m chatdf.gateway``)
that holds the team's Gemini key, signs people in with Google (OpenID
Connect through Authlib, device-style for kernels without a browser), gates
first sign-ins with referral keys and meters each user's tokens over a rolling
24 hours. It speaks Gemini's REST wire format, so kernels keep using the
google-genai SDK with the gateway as ``base_url`` and a per-user token in
place of an API key. Install with ``pip install "chatdf[gateway]"``.

Modules: :mod:`.settings` (``CHATDF_GATEWAY_*``), :mod:`.store` (SQLite),
:mod:`.signin` and :mod:`.oidc` (sign-in), :mod:`.proxy` (the Gemini
surface), :mod:`.app` (the ASGI app), :mod:`.cli` (the command).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> Any:
    """Build the gateway's ASGI app (see :func:`chatdf.gateway.app.create_app`)."""
    from .app import create_app as build

    return build(*args, **kwargs)
