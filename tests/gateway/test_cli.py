"""``chatdf-gateway``: the admin commands and the server command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from chatdf.gateway.cli import main
from tests.gateway.team import TEAM_KEY, Team


def test_referral_create_prints_keys_each_good_for_its_uses(team: Team) -> None:
    keys = team.admin("referral", "create", "--count", "3").split()
    assert len(keys) == 3 and len(set(keys)) == 3
    assert all(key.startswith("chatdf-ref-") and len(key) > 25 for key in keys)
    # Stored hashed: the file never holds a key in clear.
    stored = b"".join(p.read_bytes() for p in Path(team.settings.db_path).parent.glob("gateway.sqlite*"))
    assert not any(key.encode() in stored for key in keys)


def test_users_lists_email_first_seen_usage_and_limit(make_team) -> None:
    team = make_team(token_limit=5000)
    assert team.admin("users").splitlines() == [
        f"{'email':<40} {'first seen (UTC)':<17} {'tokens 24 h':>12} {'limit':>12}"
    ]
    team.api_token()
    (row,) = team.admin("users").splitlines()[1:]
    assert row.split()[0] == "ada@example.edu" and row.split()[-2:] == ["0", "5,000"]


def test_revoke_an_unknown_user_fails_clearly(team: Team, capsys: pytest.CaptureFixture) -> None:
    assert main(["revoke", "nobody@example.edu"]) == 1
    assert "no user nobody@example.edu" in capsys.readouterr().err


def test_invalid_setting_names_the_variable(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setenv("CHATDF_GATEWAY_DB_PATH", str(tmp_path / "g.sqlite"))
    monkeypatch.setenv("CHATDF_GATEWAY_TOKEN_LIMIT", "lots")
    assert main(["users"]) == 2
    assert "CHATDF_GATEWAY_TOKEN_LIMIT" in capsys.readouterr().err


def test_serve_refuses_to_start_without_its_secrets(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setenv("CHATDF_GATEWAY_DB_PATH", str(tmp_path / "g.sqlite"))
    assert main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    for name in ("UPSTREAM_API_KEY", "CLIENT_ID", "CLIENT_SECRET"):
        assert f"CHATDF_GATEWAY_{name}" in err


@pytest.mark.slow
def test_python_m_chatdf_gateway_serves(upstream, provider, tmp_path) -> None:
    """The real command in its own process: it serves sign-in pages and keeps the key to itself."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CHATDF_")},
        "PYTHONPATH": str(Path(__file__).parents[2]),
        "CHATDF_GATEWAY_UPSTREAM_API_KEY": TEAM_KEY,
        "CHATDF_GATEWAY_UPSTREAM_URL": upstream.url,
        "CHATDF_GATEWAY_OIDC_DISCOVERY_URL": f"{provider.issuer}/.well-known/openid-configuration",
        "CHATDF_GATEWAY_CLIENT_ID": "chatdf-test-client.apps.example",
        "CHATDF_GATEWAY_CLIENT_SECRET": "test-client-secret-XYZ987",
        "CHATDF_GATEWAY_DB_PATH": str(tmp_path / "gateway.sqlite"),
    }
    command = [sys.executable, "-m", "chatdf.gateway", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                started = httpx.post(f"{url}/v1/sign-in", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "gateway did not start"
                time.sleep(0.1)
        assert started.json()["url"].startswith(f"{url}/sign-in?code=")  # public URL defaults to host:port
        page = httpx.get(started.json()["url"])
        assert page.status_code == 200 and "Continue with Google" in page.text
        refused = httpx.post(f"{url}/v1beta/models/gemini-2.5-flash:generateContent", json={})
        assert refused.status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=15)
    assert TEAM_KEY not in output
    assert "POST /v1/sign-in 200" in output  # the access log: path and status, no query string


def test_the_gateway_process_loads_no_kernel_side_modules() -> None:
    """The gateway is a separate process: no widget, Polars or Gemini SDK in it; and
    ``import chatdf`` in a kernel does not load the gateway."""
    code = (
        "import sys, chatdf.gateway.app, chatdf.gateway.cli\n"
        "heavy = ['polars', 'anywidget', 'ipywidgets', 'google.genai', 'chatdf.widget', "
        "'chatdf.session', 'chatdf.llm']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    loaded = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout + loaded.stderr
    code = "import sys, chatdf\nchatdf.ChatDF\nprint([m for m in sys.modules if m.startswith('chatdf.gateway')])"
    kernel = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert kernel.stdout.strip() == "[]"
