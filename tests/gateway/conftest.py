"""Fixtures for the gateway tests: the fake Gemini upstream, a fake OpenID provider, the
real gateway (see :mod:`tests.gateway.team`).

Every server is real (uvicorn or the fake's own HTTP server on a socket), the
kernel side is a real ``ChatDF`` with the google-genai SDK, and the browser's
side is httpx following the gateway's forms.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_gemini import FakeGemini
from tests.gateway.fake_oidc import FakeProvider
from tests.gateway.servers import UvicornThread
from tests.gateway.team import TEAM_KEY, Team, start_team

__all__ = ["TEAM_KEY", "Team"]


@pytest.fixture
def upstream() -> Iterator[FakeGemini]:
    """The fake Gemini, accepting only the team key."""
    with FakeGemini(api_key=TEAM_KEY) as fake:
        yield fake


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    fake = FakeProvider()
    server = UvicornThread()
    fake.issuer = server.url
    server.start(fake.app())
    yield fake
    server.stop()


@pytest.fixture
def make_team(
    upstream: FakeGemini, provider: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """``make_team(limits=..., **settings)``: a started gateway for this test."""
    teams: list[Team] = []

    def make(**overrides: Any) -> Team:
        team = start_team(upstream, provider, tmp_path / "gateway.sqlite", monkeypatch.setenv, **overrides)
        teams.append(team)
        return team

    yield make
    for team in teams:
        team.close()


@pytest.fixture
def team(make_team: Any) -> Team:
    return make_team()
