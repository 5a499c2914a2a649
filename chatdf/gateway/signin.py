"""Device-style sign-in (in the spirit of RFC 8628) for kernels that have no browser.

The kernel and the browser may be on different machines, so they never share
a cookie or a redirect:

1. The kernel ``POST /v1/sign-in`` and gets a ``device_code`` (secret, for
   polling), a short ``user_code`` and ``url`` (``/sign-in?code=USER-CODE``).
2. A person opens ``url``: one page shows the code and a "Continue with
   Google" form (POST with a CSRF token), so nobody approves a code they did
   not ask for by just following a forwarded link. Continue redirects to the
   provider (:mod:`chatdf.gateway.oidc`).
3. ``/auth/callback`` verifies the person. Known accounts are approved; a
   first sign-in, when referral keys are required, goes to ``/referral``
   first, and no account exists until a valid, unused key is given.
4. The kernel polls ``POST /v1/sign-in/token`` with its ``device_code`` and,
   once approved, receives a per-user token, once.

Codes are single-use and expire after :data:`SIGN_IN_SECONDS`. Continuing,
callbacks and referral attempts are rate-limited per client address.
"""

from __future__ import annotations

import hmac
import logging
import math
import secrets
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import pages
from .oidc import PROVIDER_NAME, SignInRefused
from .store import SignIn, format_user_code, normalize_user_code

if TYPE_CHECKING:
    from .app import Gateway

log = logging.getLogger("chatdf.gateway.signin")

SIGN_IN_SECONDS = 600
"""A sign-in code (and the browser session completing it) lives 10 minutes."""
POLL_INTERVAL = 1
"""Seconds a kernel waits between polls."""
MAX_FORM_FIELD = 512

_INVALID_GRANT = "This sign-in is unknown or was already completed. Run chat.sign_in() again."


def _gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _too_many(wait: float) -> Response:
    minutes = max(1, math.ceil(wait / 60))
    return pages.message(
        "Too many attempts",
        f"Too many attempts from your address. Wait {minutes} minute{'s' * (minutes > 1)} and try again.",
        429,
    )


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (synchronizer-token pattern)."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def _csrf_ok(request: Request, form: Any) -> bool:
    sent = str(form.get("csrf_token") or "")
    expected = request.session.get("csrf") or ""
    return bool(sent and expected) and hmac.compare_digest(sent, expected)


async def _form(request: Request) -> dict[str, str]:
    async with request.form(max_files=0, max_fields=10) as form:
        return {k: str(v)[:MAX_FORM_FIELD] for k, v in form.items() if isinstance(v, str)}


def _expired_page() -> Response:
    return pages.message(
        "Sign-in expired",
        "This sign-in is unknown, was already used or has expired. Run chat.sign_in() in your "
        "notebook again to get a new link.",
        400,
    )


# -- the kernel's side -------------------------------------------------------------------


async def start(request: Request) -> Response:
    """``POST /v1/sign-in``: a new sign-in request for a kernel."""
    gateway = _gateway(request)
    wait = gateway.limiter.hit("start", client_address(request), gateway.limits.start_sign_in)
    if wait is not None:
        return JSONResponse(
            {"error": "slow_down", "error_description": "Too many sign-in requests; try again soon."},
            status_code=429,
            headers={"retry-after": str(math.ceil(wait))},
        )
    new = await gateway.store.create_sign_in(SIGN_IN_SECONDS)
    shown = format_user_code(new.user_code)
    base = gateway.settings.public_url
    return JSONResponse(
        {
            "url": f"{base}/sign-in?code={shown}",
            "user_code": shown,
            "device_code": new.device_code,
            "verification_uri": f"{base}/sign-in",
            "verification_uri_complete": f"{base}/sign-in?code={shown}",
            "expires_in": SIGN_IN_SECONDS,
            "interval": POLL_INTERVAL,
        },
        headers={"cache-control": "no-store"},
    )


async def poll(request: Request) -> Response:
    """``POST /v1/sign-in/token``: the token once approved, else an RFC 8628 error."""
    gateway = _gateway(request)
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            body = {}
        device_code = str(body.get("device_code") or "") if isinstance(body, dict) else ""
    else:
        device_code = (await _form(request)).get("device_code", "")

    def error(code: str, description: str) -> Response:
        return JSONResponse(
            {"error": code, "error_description": description},
            status_code=400,
            headers={"cache-control": "no-store"},
        )

    record = await gateway.store.sign_in_by_device_code(device_code) if device_code else None
    if record is None or record.status == "done":
        return error("invalid_grant", _INVALID_GRANT)
    if record.status == "denied":
        return error("access_denied", record.reason or "The sign-in was refused.")
    if record.expired():
        return error("expired_token", "The sign-in code expired. Run chat.sign_in() again.")
    if record.status != "approved":
        return error("authorization_pending", "Waiting for the browser sign-in.")
    ttl = gateway.settings.token_days * 86400
    issued = await gateway.store.redeem_sign_in(record.id, ttl)
    if issued is None:
        return error("invalid_grant", _INVALID_GRANT)
    token, user = issued
    log.info("%s signed in a kernel", user.email)
    return JSONResponse(
        {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(ttl),
            "email": user.email,
            "name": user.name,
        },
        headers={"cache-control": "no-store"},
    )


# -- the browser's side --------------------------------------------------------------------


async def _live(gateway: Gateway, sign_in_id: Any, *statuses: str) -> SignIn | None:
    if not isinstance(sign_in_id, str):
        return None
    record = await gateway.store.sign_in(sign_in_id)
    if record is None or record.expired() or record.status not in statuses:
        return None
    return record


async def sign_in_page(request: Request) -> Response:
    """``GET /sign-in[?code=...]``: show the code and "Continue", or ask for the code."""
    gateway = _gateway(request)
    code = normalize_user_code(request.query_params.get("code", "")[:32])
    if not code:
        return pages.enter_code()
    record = await gateway.store.sign_in_by_user_code(code)
    if record is None or record.expired() or record.status != "pending":
        wait = gateway.limiter.hit("continue", client_address(request), gateway.limits.continue_sign_in)
        if wait is not None:
            return _too_many(wait)
        return pages.enter_code("This code is unknown, was already used or has expired.", 400)
    return pages.confirm_code(record.user_code, csrf_token(request), PROVIDER_NAME)


async def continue_sign_in(request: Request) -> Response:
    """``POST /sign-in``: the person confirmed the code; off to the provider."""
    gateway = _gateway(request)
    wait = gateway.limiter.hit("continue", client_address(request), gateway.limits.continue_sign_in)
    if wait is not None:
        return _too_many(wait)
    form = await _form(request)
    if not _csrf_ok(request, form):
        return pages.message(
            "Page expired",
            "This page has expired. Open the sign-in link from your notebook again.",
            403,
        )
    record = await gateway.store.sign_in_by_user_code(form.get("code", ""))
    if record is None or record.expired() or record.status != "pending":
        return _expired_page()
    request.session["sign_in"] = record.id
    try:
        return await gateway.provider.authorize_redirect(request)
    except SignInRefused as refused:
        return pages.message("Sign-in failed", refused.message, 502)


async def callback(request: Request) -> Response:
    """``GET /auth/callback``: the provider sent the person back."""
    gateway = _gateway(request)
    wait = gateway.limiter.hit("callback", client_address(request), gateway.limits.callback)
    if wait is not None:
        return _too_many(wait)
    record = await _live(gateway, request.session.get("sign_in"), "pending")
    if record is None:
        return _expired_page()
    try:
        identity = await gateway.provider.identity(request)
    except SignInRefused as refused:
        log.info("sign-in refused (%s)", refused.reason)
        if refused.reason == "domain":
            await gateway.store.deny(record.id, refused.message)
            _end_flow(request)
            return pages.message("Account not allowed", refused.message, 403)
        return pages.message("Sign-in failed", refused.message, 400)
    user = await gateway.store.user_by_subject(identity.subject)
    if user is not None:
        user = await gateway.store.update_user(user.id, identity)
        if not await gateway.store.approve(record.id, user.id):
            return _expired_page()
        _end_flow(request)
        return pages.signed_in(user.email)
    if gateway.settings.require_referral:
        if not await gateway.store.await_referral(record.id, identity):
            return _expired_page()
        return RedirectResponse("/referral", status_code=303)
    user = await gateway.store.sign_up(record.id, identity, None)
    _end_flow(request)
    return pages.signed_in(user.email if user else identity.email)


async def referral_page(request: Request) -> Response:
    """``GET /referral``: ask a first-time user for a referral key."""
    gateway = _gateway(request)
    record = await _live(gateway, request.session.get("sign_in"), "needs_referral")
    if record is None or record.identity is None:
        return _expired_page()
    return pages.referral_form(record.identity.email, csrf_token(request))


async def redeem_referral(request: Request) -> Response:
    """``POST /referral``: create the account with a valid key, or show the form again."""
    gateway = _gateway(request)
    record = await _live(gateway, request.session.get("sign_in"), "needs_referral")
    if record is None or record.identity is None:
        return _expired_page()
    limits = gateway.limits
    for bucket, key, rate in (
        ("referral", client_address(request), limits.referral),
        ("referral-sign-in", record.id, limits.referral_per_sign_in),
    ):
        wait = gateway.limiter.hit(bucket, key, rate)
        if wait is not None:
            return _too_many(wait)
    form = await _form(request)
    if not _csrf_ok(request, form):
        return pages.referral_form(
            record.identity.email,
            csrf_token(request),
            "This form has expired; enter the key again.",
            403,
        )
    key = form.get("key", "").strip()
    user = await gateway.store.sign_up(record.id, record.identity, key) if key else None
    if user is None:
        log.info("referral key refused for %s", record.identity.email)
        return pages.referral_form(
            record.identity.email,
            csrf_token(request),
            "That referral key is not valid or has been used up. Check it with the person who gave it to you.",
            400,
        )
    log.info("%s signed up with a referral key", user.email)
    _end_flow(request)
    return pages.signed_in(user.email)


def _end_flow(request: Request) -> None:
    """The browser's part is over: the session goes (its cookie is expired)."""
    request.session.clear()


def routes() -> list[Route]:
    return [
        Route("/v1/sign-in", start, methods=["POST"]),
        Route("/v1/sign-in/token", poll, methods=["POST"]),
        Route("/sign-in", sign_in_page, methods=["GET"]),
        Route("/sign-in", continue_sign_in, methods=["POST"]),
        Route("/auth/callback", callback, methods=["GET"]),
        Route("/referral", referral_page, methods=["GET"]),
        Route("/referral", redeem_referral, methods=["POST"]),
    ]

