"""``chatdf-gateway``: run the gateway and administer it.

::

    chatdf-gateway serve --host 0.0.0.0 --port 8765
    chatdf-gateway referral create --count 5 --uses 1
    chatdf-gateway users
    chatdf-gateway revoke person@example.edu

Every command reads the same ``CHATDF_GATEWAY_*`` settings (environment or
``.env``); the admin commands work on the database while the server runs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import datetime, timezone

from .settings import GatewaySettings, SettingsError, load_gateway_settings
from .store import GatewayStore


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatdf-gateway",
        description="A chatdf team gateway: Google sign-in, referral keys, per-user limits, "
        "one Gemini key that no kernel holds.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    referral = commands.add_parser("referral", help="referral keys")
    referral_commands = referral.add_subparsers(dest="referral_command", required=True, metavar="ACTION")
    create = referral_commands.add_parser("create", help="print new referral keys, one per line")
    create.add_argument("--count", type=_positive, default=1, help="how many keys (default 1)")
    create.add_argument("--uses", type=_positive, default=1, help="sign-ups each key allows (default 1)")

    commands.add_parser("users", help="list users: e-mail, first seen, tokens in the last 24 h, limit")

    revoke = commands.add_parser("revoke", help="end every token of a user")
    revoke.add_argument("email")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1 or value > 10_000:
        raise argparse.ArgumentTypeError("must be between 1 and 10000")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_gateway_settings()
        if args.command == "serve":
            return _serve(settings, args.host, args.port, args.log_level)
        return asyncio.run(_admin(settings, args))
    except SettingsError as exc:
        print(f"chatdf-gateway: {exc}", file=sys.stderr)
        return 2


async def _admin(settings: GatewaySettings, args: argparse.Namespace) -> int:
    store = await GatewayStore.open(settings.resolved_db_path())
    try:
        if args.command == "referral":
            for key in await store.create_referral_keys(args.count, args.uses):
                print(key)
            return 0
        if args.command == "users":
            limit = f"{settings.token_limit:,}" if settings.token_limit else "unlimited"
            rows = await store.users_report()
            print(f"{'email':<40} {'first seen (UTC)':<17} {'tokens 24 h':>12} {'limit':>12}")
            for row in rows:
                seen = datetime.fromtimestamp(row.first_seen, timezone.utc).strftime("%Y-%m-%d %H:%M")
                print(f"{row.email:<40} {seen:<17} {row.used:>12,} {limit:>12}")
            return 0
        if args.command == "revoke":
            ended = await store.revoke(args.email)
            if ended is None:
                print(f"chatdf-gateway: no user {args.email}", file=sys.stderr)
                return 1
            print(f"Revoked {ended} token{'s' * (ended != 1)} of {args.email.lower()}.")
            return 0
    finally:
        await store.close()
    return 2


def _serve(settings: GatewaySettings, host: str, port: int, log_level: str) -> int:
    import uvicorn

    from .app import RedactTeamKey, create_app

    if settings.public_url is None:
        settings = settings.model_copy(update={"public_url": f"http://{host}:{port}"})
        print(
            f"chatdf-gateway: CHATDF_GATEWAY_PUBLIC_URL is not set; using {settings.public_url}",
            file=sys.stderr,
        )
    app = create_app(settings)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactTeamKey(settings.team_key() or ""))
    # Our AccessLog replaces uvicorn's, which would print query strings.
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, log_config=None)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
