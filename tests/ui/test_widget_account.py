"""The account area in team mode, in JupyterLab: signed out, signing in, signed in with usage.

The kernel talks to a real chatdf gateway on 127.0.0.1 (this process), which
signs people in at a fake OpenID provider and forwards to the session's fake
Gemini. Chromium follows the whole sign-in in the tab the widget opens.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_gemini import FakeGemini, text_chunks
from tests.gateway.fake_oidc import FakeProvider
from tests.gateway.servers import UvicornThread
from tests.gateway.team import Team, start_team

from .harness import expect, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def team(fake_gemini: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Team]:
    provider = FakeProvider()
    provider_server = UvicornThread()
    provider.issuer = provider_server.url
    provider_server.start(provider.app())
    team = start_team(fake_gemini, provider, tmp_path / "gateway.sqlite", monkeypatch.setenv, token_limit=1000)
    yield team
    team.close()
    provider_server.stop()


def test_account_area_signs_in_with_google_and_shows_the_users_usage(open_notebook, team: Team, fake_gemini):
    notebook = open_notebook([f"from chatdf import ChatDF\nchat = ChatDF(gateway_url={team.url!r})\nchat"])
    notebook.run_all()
    widget = notebook.wait_widget(0)

    account = widget.get_by_label("Account")
    sign_in_button = account.get_by_role("button", name="Sign in with Google")
    expect(sign_in_button).to_be_visible()
    expect(widget.locator(".chatdf-input-reason")).to_contain_text("Sign in")
    screenshot(widget, "widget-team-signed-out")

    with notebook.page.expect_popup() as opened:
        sign_in_button.click()
    tab = opened.value
    expect(account.locator(".chatdf-account__code")).to_contain_text("Check that the page shows")
    code = account.locator(".chatdf-account__code b").inner_text()
    tab.wait_for_url(f"{team.url}/sign-in?code=*")
    expect(tab.locator("#user-code")).to_have_text(code)  # the page shows the widget's code
    assert tab.evaluate("window.opener") is None

    tab.get_by_role("button", name="Continue with Google").click()
    tab.get_by_label("Referral key").fill(team.referral_key())
    tab.get_by_role("button", name="Create my account").click()
    expect(tab.locator("body")).to_contain_text("Signed in as ada@example.edu — you can close this tab")
    tab.close()

    expect(account).to_contain_text("ada@example.edu", timeout=15_000)
    expect(account.get_by_role("button", name="Sign out")).to_be_visible()
    expect(widget.locator(".chatdf-input-reason")).to_have_count(0)

    fake_gemini.add_stream(text_chunks("Hello from the team gateway.", usage=(100, 50)))
    box = widget.get_by_role("textbox", name="Ask a question")
    box.fill("Say hello")
    box.press("Enter")
    expect(widget.locator(".chatdf-msg--assistant .chatdf-md")).to_have_text("Hello from the team gateway.", timeout=20_000)
    # The usage bar shows this person's numbers at the gateway: 150 of 1,000 tokens.
    expect(widget.locator(".chatdf-usage__label")).to_have_text("15% of daily tokens used", timeout=15_000)
    screenshot(widget, "widget-team-signed-in")

    notebook.run_cell("print(chat.account['email'], chat.usage.used, chat.usage.limit)")
    assert "ada@example.edu 150 1000" in notebook.output_text(1)
