"""The few HTML pages a person sees while signing in: plain, escaped, unframeable.

Every value that reaches a page goes through :func:`html.escape`. Pages say
what happened and what to do next, never why in technical terms (no stack
traces, provider answers or settings).
"""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

from .store import format_user_code

# Nothing but inline styles; no scripts; the pages may not be framed (a framed
# "Continue" button is how a forwarded code would be phished).
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1f2328}
h1{font-size:1.4rem} .code{font:600 2rem/1.2 ui-monospace,monospace;letter-spacing:.15em}
button{font:inherit;padding:.5rem 1rem;border-radius:6px;border:1px solid #1f6feb;background:#1f6feb;color:#fff;cursor:pointer}
input[type=text]{font:inherit;padding:.4rem;width:100%;box-sizing:border-box}
.error{color:#b42318} .muted{color:#59636e;font-size:.9rem}
"""


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    """A whole page; ``body`` is HTML built by the functions below (already escaped)."""
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · chatdf</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def message(title: str, text: str, status: int = 200) -> HTMLResponse:
    return page(title, f"<p>{escape(text)}</p>", status)


def confirm_code(user_code: str, csrf: str, provider: str) -> HTMLResponse:
    shown = format_user_code(user_code)
    return page(
        "Sign in to chatdf",
        "<p>A notebook asked to sign in to this chatdf gateway. Check that this code is the one "
        "your notebook shows:</p>"
        f'<p class=code id=user-code>{escape(shown)}</p>'
        '<form method=post action="/sign-in">'
        f'<input type=hidden name=csrf_token value="{escape(csrf)}">'
        f'<input type=hidden name=code value="{escape(user_code)}">'
        f"<button type=submit>Continue with {escape(provider)}</button></form>"
        "<p class=muted>If you did not start this sign-in yourself, close this tab.</p>",
    )


def enter_code(error: str | None = None, status: int = 200) -> HTMLResponse:
    note = f"<p class=error>{escape(error)}</p>" if error else ""
    return page(
        "Sign in to chatdf",
        f"{note}<p>Enter the code your notebook shows.</p>"
        '<form method=get action="/sign-in">'
        '<p><input type=text name=code autocomplete=off required placeholder="ABCD-EFGH"></p>'
        "<button type=submit>Next</button></form>",
        status,
    )


def referral_form(email: str, csrf: str, error: str | None = None, status: int = 200) -> HTMLResponse:
    note = f"<p class=error role=alert>{escape(error)}</p>" if error else ""
    return page(
        "Referral key needed",
        f"<p>You are signing in as <b>{escape(email)}</b>. A first sign-in to this gateway "
        "needs a referral key from its administrator.</p>"
        f"{note}"
        '<form method=post action="/referral">'
        f'<input type=hidden name=csrf_token value="{escape(csrf)}">'
        '<p><label>Referral key <input type=text name=key autocomplete=off required></label></p>'
        "<button type=submit>Create my account</button></form>",
        status,
    )


def signed_in(email: str) -> HTMLResponse:
    return page("Signed in", f"<p>Signed in as {escape(email)} — you can close this tab.</p>")
