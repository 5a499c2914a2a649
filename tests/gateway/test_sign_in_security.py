"""What a person, a phisher or a forger can do at the sign-in pages, and what they get."""

from __future__ import annotations

import sqlite3
import time

import httpx
import pytest

from chatdf.gateway.ratelimit import Rate, RateLimits
from tests.gateway.browser import Browser, forms
from tests.gateway.team import Team


def _start(team: Team) -> dict:
    answer = httpx.post(f"{team.url}/v1/sign-in")
    assert answer.status_code == 200
    return answer.json()


def _poll(team: Team, device_code: str) -> httpx.Response:
    return httpx.post(f"{team.url}/v1/sign-in/token", data={"device_code": device_code})


def _users(team: Team) -> str:
    return team.admin("users").split("\n", 1)[1]  # without the header line


# -- referral keys ---------------------------------------------------------------------------


def test_wrong_referral_key_shows_the_form_again_and_creates_no_account(team: Team) -> None:
    started = _start(team)
    browser = team.browser()
    page = browser.submit(browser.open(started["url"]))
    assert page.url.path == "/referral" and "ada@example.edu" in page.text
    page = browser.submit(page, key="chatdf-ref-not-a-real-key")
    assert page.status_code == 400
    assert "not valid or has been used up" in page.text
    assert forms(page.text)[0].fields.get("key") == ""  # the form again, key field empty
    assert _users(team).strip() == ""
    assert _poll(team, started["device_code"]).json()["error"] == "authorization_pending"

    page = browser.submit(page, key=team.referral_key())  # the right key on the same page works
    assert "Signed in as ada@example.edu" in page.text
    assert _poll(team, started["device_code"]).status_code == 200


def test_a_used_referral_key_is_refused(team: Team) -> None:
    key = team.referral_key()
    team.api_token(key)  # ada uses it
    team.provider.user.sub, team.provider.user.email = "2002", "bob@example.edu"
    started = _start(team)
    page = team.browser().sign_in(started["url"], referral_key=key)
    assert page.status_code == 400 and "not valid or has been used up" in page.text
    assert "bob@" not in _users(team)
    assert _poll(team, started["device_code"]).json()["error"] == "authorization_pending"


def test_known_accounts_need_no_key_and_referral_can_be_off(make_team) -> None:
    team = make_team(require_referral=False)
    started = _start(team)
    page = team.browser().sign_in(started["url"])  # no key given, none asked
    assert "Signed in as ada@example.edu" in page.text
    assert _poll(team, started["device_code"]).status_code == 200


# -- the ID token --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode", ["bad_signature", "wrong_audience", "wrong_issuer", "expired", "no_id_token"]
)
def test_a_forged_or_misdirected_id_token_is_refused(team: Team, mode: str) -> None:
    team.provider.mode = mode
    started = _start(team)
    page = team.browser().sign_in(started["url"], referral_key=team.referral_key())
    assert page.status_code == 400
    assert "could not be verified" in page.text or "sent no identity" in page.text
    assert "Signed in" not in page.text
    assert _users(team).strip() == ""
    assert _poll(team, started["device_code"]).json()["error"] == "authorization_pending"

    team.provider.mode = "ok"  # the same link works once the provider behaves
    page = team.browser().sign_in(started["url"], referral_key=team.referral_key())
    assert "Signed in as" in page.text


def test_a_provider_that_takes_the_secret_only_in_the_form(team: Team) -> None:
    team.provider.auth_methods = ("client_secret_post",)
    page = team.browser().sign_in(_start(team)["url"], referral_key=team.referral_key())
    assert "Signed in as" in page.text


def test_a_replayed_id_token_is_refused(team: Team) -> None:
    team.api_token()  # a first, good sign-in: the provider keeps its ID token
    team.provider.mode = "replay"  # ...and sends that old token (old nonce) to a new sign-in
    started = _start(team)
    page = team.browser().sign_in(started["url"])
    assert page.status_code == 400 and "could not be verified" in page.text
    assert _poll(team, started["device_code"]).json()["error"] == "authorization_pending"


async def test_the_store_refuses_a_nonce_seen_before(tmp_path) -> None:
    from chatdf.gateway.store import GatewayStore

    store = await GatewayStore.open(str(tmp_path / "g.sqlite"))
    assert await store.claim_nonce("n-1", 60)
    assert not await store.claim_nonce("n-1", 60)
    await store.close()
    store = await GatewayStore.open(str(tmp_path / "g.sqlite"))  # survives a restart
    assert not await store.claim_nonce("n-1", 60)
    await store.close()


def test_a_replayed_callback_is_refused(team: Team) -> None:
    started = _start(team)
    browser = team.browser()
    page = browser.sign_in(started["url"], referral_key=team.referral_key())
    assert "Signed in" in page.text
    callback = next(p for p in browser.pages if p.url.path == "/auth/callback")
    again = browser.client.get(str(callback.url))  # the same code and state, once more
    assert again.status_code == 400 and "Signed in" not in again.text


def test_cancel_at_the_provider(team: Team) -> None:
    team.provider.mode = "deny"
    started = _start(team)
    page = team.browser().sign_in(started["url"])
    assert page.status_code == 400 and "cancelled" in page.text


def test_only_allowed_domains_may_sign_in(make_team) -> None:
    team = make_team(allowed_domains=["example.org"])
    chat = team.chat()
    sign_in = chat.sign_in()
    page = team.browser().sign_in(sign_in.url, referral_key=team.referral_key())
    assert page.status_code == 403 and "example.org" in page.text
    assert sign_in.wait(timeout=10) is False
    assert "example.org" in (sign_in.error or "")
    assert chat.account is None and _users(team).strip() == ""


def test_unverified_email_is_refused(team: Team) -> None:
    team.provider.user.email_verified = False
    started = _start(team)
    page = team.browser().sign_in(started["url"], referral_key=team.referral_key())
    assert page.status_code == 400 and "verified e-mail" in page.text


# -- codes -----------------------------------------------------------------------------------


def test_the_page_shows_the_code_and_asks_before_going_to_google(team: Team) -> None:
    started = _start(team)
    page = team.browser().open(started["url"])
    assert started["user_code"] in page.text and "Continue with Google" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert team.provider.authorize_requests == []  # opening a link approves nothing
    (form,) = forms(page.text)
    assert form.method == "post" and form.fields["csrf_token"]


def test_codes_are_single_use_and_expire(team: Team) -> None:
    started = _start(team)
    team.browser().sign_in(started["url"], referral_key=team.referral_key())
    assert _poll(team, started["device_code"]).status_code == 200
    again = _poll(team, started["device_code"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    expiring = _start(team)
    with sqlite3.connect(team.settings.db_path) as db:  # ten minutes pass
        db.execute("UPDATE sign_ins SET expires_at = ?", (time.time() - 1,))
    page = team.browser().open(expiring["url"])
    assert page.status_code == 400 and "expired" in page.text
    assert _poll(team, expiring["device_code"]).json()["error"] == "expired_token"
    assert _start(team)["expires_in"] == 600


def test_unknown_code_and_unknown_device_code(team: Team) -> None:
    page = team.browser().open(f"{team.url}/sign-in?code=BBBB-CCCC")
    assert page.status_code == 400 and "unknown" in page.text
    assert _poll(team, "made-up").json()["error"] == "invalid_grant"
    page = team.browser().open(f"{team.url}/sign-in")
    assert page.status_code == 200 and forms(page.text)[0].fields == {"code": ""}


# -- CSRF and cookies --------------------------------------------------------------------------


def test_continue_without_the_csrf_token_is_refused(team: Team) -> None:
    started = _start(team)
    browser = team.browser()
    page = browser.open(started["url"])
    form = forms(page.text)[0]
    forged = browser.client.post(
        f"{team.url}/sign-in", data={"code": form.fields["code"]}, follow_redirects=False
    )
    assert forged.status_code == 403
    wrong = browser.client.post(
        f"{team.url}/sign-in", data={**form.fields, "csrf_token": "x" * 43}, follow_redirects=False
    )
    assert wrong.status_code == 403
    # Another browser's token is no good either (it belongs to that session).
    other = Browser()
    stolen = forms(other.open(started["url"]).text)[0].fields["csrf_token"]
    other.close()
    crossed = browser.client.post(
        f"{team.url}/sign-in", data={**form.fields, "csrf_token": stolen}, follow_redirects=False
    )
    assert crossed.status_code == 403
    assert team.provider.authorize_requests == []


def test_referral_without_the_csrf_token_is_refused_and_spends_nothing(team: Team) -> None:
    started = _start(team)
    browser = team.browser()
    page = browser.submit(browser.open(started["url"]))
    key = team.referral_key()
    forged = browser.client.post(f"{team.url}/referral", data={"key": key})
    assert forged.status_code == 403
    assert _users(team).strip() == ""
    page = browser.submit(forged, key=key)  # the key was not spent
    assert "Signed in" in page.text


def test_session_cookie_flags(make_team) -> None:
    team = make_team(public_url="https://chatdf.example.edu")
    started = _start(team)
    local = started["url"].replace("https://chatdf.example.edu", team.url)
    page = team.browser().open(local)
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert started["url"].startswith("https://chatdf.example.edu/sign-in?code=")


def test_cookie_is_not_secure_over_plain_http(team: Team) -> None:
    page = team.browser().open(_start(team)["url"])
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


# -- rate limits --------------------------------------------------------------------------------


def test_guessing_codes_is_rate_limited(make_team) -> None:
    team = make_team(limits=RateLimits(continue_sign_in=Rate(3, 600)))
    browser = team.browser()
    statuses = [browser.open(f"{team.url}/sign-in?code=BBBB-CCC{c}").status_code for c in "DFGH"]
    assert statuses == [400, 400, 400, 429]
    page = browser.open(_start(team)["url"])  # showing a real code costs nothing...
    assert page.status_code == 200
    assert browser.submit(page).status_code == 429  # ...but continuing is limited too


def test_guessing_referral_keys_is_rate_limited(make_team) -> None:
    team = make_team(limits=RateLimits(referral_per_sign_in=Rate(3, 600)))
    browser = team.browser()
    page = browser.submit(browser.open(_start(team)["url"]))
    for attempt in range(3):
        page = browser.submit(page, key=f"chatdf-ref-guess-{attempt}")
        assert page.status_code == 400
    key = team.referral_key()
    limited = browser.client.post(
        f"{team.url}/referral", data={"key": key, "csrf_token": forms(page.text)[0].fields["csrf_token"]}
    )
    assert limited.status_code == 429 and "Too many attempts" in limited.text
    assert _users(team).strip() == ""


def test_starting_sign_ins_is_rate_limited(make_team) -> None:
    team = make_team(limits=RateLimits(start_sign_in=Rate(2, 600)))
    codes = [httpx.post(f"{team.url}/v1/sign-in").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_error_pages_are_plain(team: Team) -> None:
    missing = httpx.get(f"{team.url}/admin")
    assert missing.status_code == 404 and missing.text == "Not found."
    api = httpx.get(f"{team.url}/v1beta/nothing")
    assert api.status_code == 404 and api.json()["error"]["status"] == "NOT_FOUND"
    wrong_method = httpx.delete(f"{team.url}/sign-in")
    assert wrong_method.status_code == 405 and "Traceback" not in wrong_method.text
