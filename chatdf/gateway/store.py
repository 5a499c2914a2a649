"""The gateway's own SQLite store: users, referral keys, tokens, sign-ins, usage.

Every SQL statement of the gateway lives here. Secrets are never stored in
clear: referral keys, per-user tokens, device codes and browser session ids
are kept as SHA-256 digests (they are long random values, so a fast hash is
enough), and the team key has no column at all.

One aiosqlite connection per process, in WAL mode so the admin commands
(another process) can write while the server runs. Units of work that need
more than one statement run under ``BEGIN IMMEDIATE`` and an asyncio lock, so
two requests of one process never interleave inside a transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiosqlite

from ..usage import WINDOW_SECONDS, UsageRow, UsageSummary, cost_of, summarize

SignInStatus = Literal["pending", "needs_referral", "approved", "done", "denied"]

# RFC 8628 section 6.1: no vowels (no words), no look-alikes; 20^8 codes.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
TOKEN_PREFIX = "cdfgw_"
REFERRAL_PREFIX = "chatdf-ref-"

SCHEMA_VERSION = 1
SCHEMA = (
    """CREATE TABLE users (
        id           INTEGER PRIMARY KEY,
        subject      TEXT NOT NULL UNIQUE,
        email        TEXT NOT NULL,
        name         TEXT NOT NULL DEFAULT '',
        created_at   REAL NOT NULL,
        last_seen_at REAL NOT NULL
    )""",
    "CREATE INDEX users_email ON users(email)",
    """CREATE TABLE referral_keys (
        key_hash   TEXT PRIMARY KEY,
        uses_left  INTEGER NOT NULL CHECK (uses_left >= 0),
        uses       INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    )""",
    """CREATE TABLE tokens (
        token_hash TEXT PRIMARY KEY,
        user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        revoked_at REAL
    )""",
    "CREATE INDEX tokens_user ON tokens(user_id)",
    """CREATE TABLE sign_ins (
        id          TEXT PRIMARY KEY,
        device_hash TEXT NOT NULL UNIQUE,
        user_code   TEXT NOT NULL UNIQUE,
        status      TEXT NOT NULL,
        identity    TEXT,
        user_id     INTEGER REFERENCES users(id) ON DELETE CASCADE,
        reason      TEXT,
        created_at  REAL NOT NULL,
        expires_at  REAL NOT NULL
    )""",
    """CREATE TABLE browser_sessions (
        id_hash    TEXT PRIMARY KEY,
        data       TEXT NOT NULL,
        expires_at REAL NOT NULL
    )""",
    """CREATE TABLE used_nonces (
        nonce_hash TEXT PRIMARY KEY,
        expires_at REAL NOT NULL
    )""",
    """CREATE TABLE usage (
        id            INTEGER PRIMARY KEY,
        user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        timestamp     REAL NOT NULL,
        model         TEXT NOT NULL,
        input_tokens  INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cost          REAL NOT NULL
    )""",
    "CREATE INDEX usage_user_time ON usage(user_id, timestamp)",
)


def digest(secret: str) -> str:
    """The stored form of a secret: SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def normalize_user_code(code: str) -> str:
    """``abcd-efgh`` / ``ABCD EFGH`` -> ``ABCDEFGH`` (what people type varies)."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def format_user_code(code: str) -> str:
    """``ABCDEFGH`` -> ``ABCD-EFGH`` for display."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


@dataclass(frozen=True)
class User:
    id: int
    email: str
    name: str
    created_at: float


@dataclass(frozen=True)
class Identity:
    """A person as the identity provider vouched for them (from a verified ID token)."""

    subject: str
    email: str
    name: str


@dataclass(frozen=True)
class SignIn:
    id: str
    user_code: str
    status: SignInStatus
    identity: Identity | None
    user_id: int | None
    reason: str | None
    expires_at: float

    def expired(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) >= self.expires_at


@dataclass(frozen=True)
class NewSignIn:
    id: str
    device_code: str
    user_code: str
    expires_at: float


@dataclass(frozen=True)
class UserReport:
    email: str
    name: str
    first_seen: float
    used: int
    active_tokens: int


class GatewayStore:
    """The gateway's data in one SQLite file (``:memory:`` for tests of one process)."""

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str) -> GatewayStore:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            await conn.execute("PRAGMA busy_timeout = 5000")
            await conn.execute("PRAGMA foreign_keys = ON")
            if path != ":memory:":
                await conn.execute("PRAGMA journal_mode = WAL")
                await conn.execute("PRAGMA synchronous = NORMAL")
            store = cls(conn, path)
            await store._migrate()
        except BaseException:
            await conn.close()
            raise
        if path != ":memory:":
            Path(path).chmod(0o600)  # tokens are hashed, but e-mails and usage are private
        return store

    async def close(self) -> None:
        await self._conn.close()

    async def _migrate(self) -> None:
        async with self._transaction() as conn:
            async with conn.execute("PRAGMA user_version") as cursor:
                row = await cursor.fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} was written by a newer chatdf gateway (schema {version}); "
                    "upgrade chatdf."
                )
            if version == 0:
                for statement in SCHEMA:
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        async with self._lock, self._conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        async with self._lock, self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def _write(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """One statement in its own (implicit) transaction; the rows it changed."""
        async with self._lock:
            cursor = await self._conn.execute(sql, params)
            changed = cursor.rowcount
            await cursor.close()
            return changed

    # -- referral keys -----------------------------------------------------------------

    async def create_referral_keys(self, count: int, uses: int) -> list[str]:
        """``count`` new keys, each good for ``uses`` sign-ups; returned once, stored hashed."""
        keys = [REFERRAL_PREFIX + secrets.token_urlsafe(15) for _ in range(count)]
        now = time.time()
        async with self._transaction() as conn:
            await conn.executemany(
                "INSERT INTO referral_keys (key_hash, uses_left, created_at) VALUES (?, ?, ?)",
                [(digest(key), uses, now) for key in keys],
            )
        return keys

    # -- users -----------------------------------------------------------------------

    async def user_by_subject(self, subject: str) -> User | None:
        row = await self._one(
            "SELECT id, email, name, created_at FROM users WHERE subject = ?", (subject,)
        )
        return User(*row) if row else None

    async def users_by_email(self, email: str) -> list[User]:
        rows = await self._all(
            "SELECT id, email, name, created_at FROM users WHERE email = ?", (email.lower(),)
        )
        return [User(*row) for row in rows]

    async def update_user(self, user_id: int, identity: Identity) -> User:
        """Refresh e-mail and name from the provider on each sign-in."""
        await self._write(
            "UPDATE users SET email = ?, name = ?, last_seen_at = ? WHERE id = ?",
            (identity.email.lower(), identity.name, time.time(), user_id),
        )
        row = await self._one("SELECT id, email, name, created_at FROM users WHERE id = ?", (user_id,))
        return User(*row)

    async def sign_up(
        self, sign_in_id: str, identity: Identity, referral_key: str | None
    ) -> User | None:
        """Create the account of ``identity`` and approve the sign-in, in one transaction.

        With ``referral_key`` one use of that key is spent; None (and nothing
        changed) when the key is unknown or used up. An account that exists
        already (the same person finished another sign-in meanwhile) is reused
        without spending the key.
        """
        now = time.time()
        async with self._transaction() as conn:
            async with conn.execute(
                "SELECT id FROM users WHERE subject = ?", (identity.subject,)
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                if referral_key is not None:
                    cursor = await conn.execute(
                        "UPDATE referral_keys SET uses_left = uses_left - 1, uses = uses + 1 "
                        "WHERE key_hash = ? AND uses_left > 0",
                        (digest(referral_key),),
                    )
                    spent = cursor.rowcount
                    await cursor.close()
                    if spent != 1:
                        return None
                cursor = await conn.execute(
                    "INSERT INTO users (subject, email, name, created_at, last_seen_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (identity.subject, identity.email.lower(), identity.name, now, now),
                )
                user_id = cursor.lastrowid
                await cursor.close()
            else:
                user_id = row[0]
            await conn.execute(
                "UPDATE sign_ins SET status = 'approved', user_id = ?, identity = NULL "
                "WHERE id = ?",
                (user_id, sign_in_id),
            )
            async with conn.execute(
                "SELECT id, email, name, created_at FROM users WHERE id = ?", (user_id,)
            ) as cursor:
                created = await cursor.fetchone()
            assert created is not None  # inserted or found above, in this transaction
            return User(*created)

    # -- sign-in requests (device-style) ------------------------------------------------

    async def create_sign_in(self, ttl: float) -> NewSignIn:
        now = time.time()
        device_code = secrets.token_urlsafe(32)
        sign_in_id = secrets.token_urlsafe(16)
        # Old requests go: their user codes may be drawn again.
        await self._write("DELETE FROM sign_ins WHERE expires_at < ?", (now - 3600,))
        for _ in range(10):
            user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
            try:
                await self._write(
                    "INSERT INTO sign_ins (id, device_hash, user_code, status, created_at, expires_at) "
                    "VALUES (?, ?, ?, 'pending', ?, ?)",
                    (sign_in_id, digest(device_code), user_code, now, now + ttl),
                )
            except aiosqlite.IntegrityError:
                continue  # a live request holds this code: draw another
            return NewSignIn(sign_in_id, device_code, user_code, now + ttl)
        raise RuntimeError("could not draw a free user code")

    _SIGN_IN_COLUMNS = "id, user_code, status, identity, user_id, reason, expires_at"

    @staticmethod
    def _sign_in(row: Any) -> SignIn | None:
        if row is None:
            return None
        identity = Identity(**json.loads(row[3])) if row[3] else None
        return SignIn(row[0], row[1], row[2], identity, row[4], row[5], row[6])

    async def sign_in(self, sign_in_id: str) -> SignIn | None:
        row = await self._one(
            f"SELECT {self._SIGN_IN_COLUMNS} FROM sign_ins WHERE id = ?", (sign_in_id,)
        )
        return self._sign_in(row)

    async def sign_in_by_user_code(self, user_code: str) -> SignIn | None:
        row = await self._one(
            f"SELECT {self._SIGN_IN_COLUMNS} FROM sign_ins WHERE user_code = ?",
            (normalize_user_code(user_code),),
        )
        return self._sign_in(row)

    async def sign_in_by_device_code(self, device_code: str) -> SignIn | None:
        row = await self._one(
            f"SELECT {self._SIGN_IN_COLUMNS} FROM sign_ins WHERE device_hash = ?",
            (digest(device_code),),
        )
        return self._sign_in(row)

    async def await_referral(self, sign_in_id: str, identity: Identity) -> bool:
        """Park a verified identity on its sign-in until a referral key is given."""
        changed = await self._write(
            "UPDATE sign_ins SET status = 'needs_referral', identity = ? "
            "WHERE id = ? AND status = 'pending'",
            (json.dumps(identity.__dict__), sign_in_id),
        )
        return changed == 1

    async def approve(self, sign_in_id: str, user_id: int) -> bool:
        changed = await self._write(
            "UPDATE sign_ins SET status = 'approved', user_id = ?, identity = NULL "
            "WHERE id = ? AND status IN ('pending', 'needs_referral')",
            (user_id, sign_in_id),
        )
        return changed == 1

    async def deny(self, sign_in_id: str, reason: str) -> None:
        await self._write(
            "UPDATE sign_ins SET status = 'denied', reason = ?, identity = NULL "
            "WHERE id = ? AND status IN ('pending', 'needs_referral')",
            (reason, sign_in_id),
        )

    async def redeem_sign_in(self, sign_in_id: str, ttl: float) -> tuple[str, User] | None:
        """Issue the per-user token of an approved sign-in, once; None if already issued."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        async with self._transaction() as conn:
            cursor = await conn.execute(
                "UPDATE sign_ins SET status = 'done' WHERE id = ? AND status = 'approved' "
                "AND expires_at > ?",
                (sign_in_id, now),
            )
            won = cursor.rowcount == 1
            await cursor.close()
            if not won:
                return None
            async with conn.execute(
                "SELECT u.id, u.email, u.name, u.created_at FROM sign_ins s "
                "JOIN users u ON u.id = s.user_id WHERE s.id = ?",
                (sign_in_id,),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:  # the account went away meanwhile
                return None
            await conn.execute(
                "INSERT INTO tokens (token_hash, user_id, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (digest(token), row[0], now, now + ttl),
            )
        return token, User(*row)

    async def claim_nonce(self, nonce: str, ttl: float) -> bool:
        """Record an ID token's nonce as used; False when it was seen before (a replay)."""
        now = time.time()
        await self._write("DELETE FROM used_nonces WHERE expires_at < ?", (now,))
        try:
            await self._write(
                "INSERT INTO used_nonces (nonce_hash, expires_at) VALUES (?, ?)",
                (digest(nonce), now + ttl),
            )
        except aiosqlite.IntegrityError:
            return False
        return True

    # -- tokens ------------------------------------------------------------------------

    async def user_for_token(self, token: str) -> User | None:
        """The owner of a live (unrevoked, unexpired) token."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        row = await self._one(
            "SELECT u.id, u.email, u.name, u.created_at FROM tokens t "
            "JOIN users u ON u.id = t.user_id "
            "WHERE t.token_hash = ? AND t.revoked_at IS NULL AND t.expires_at > ?",
            (digest(token), time.time()),
        )
        return User(*row) if row else None

    async def revoke(self, email: str) -> int | None:
        """End every token of the account(s) with ``email``; None if there is no such account."""
        users = await self.users_by_email(email)
        if not users:
            return None
        now = time.time()
        ended = 0
        for user in users:
            ended += await self._write(
                "UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                (now, user.id),
            )
            # An approved sign-in not yet collected by its kernel must not yield a token later.
            await self._write(
                "UPDATE sign_ins SET status = 'denied', reason = 'revoked' "
                "WHERE user_id = ? AND status = 'approved'",
                (user.id,),
            )
        return ended

    # -- usage ---------------------------------------------------------------------------

    async def record_usage(
        self, user_id: int, model: str, input_tokens: int, output_tokens: int
    ) -> None:
        model = model.removeprefix("models/")
        await self._write(
            "INSERT INTO usage (user_id, timestamp, model, input_tokens, output_tokens, cost) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                user_id,
                time.time(),
                model,
                input_tokens,
                output_tokens,
                cost_of(model, input_tokens, output_tokens),
            ),
        )

    async def used_tokens(self, user: User, now: float | None = None) -> int:
        """The user's tokens in the rolling window (one indexed sum: the per-request check)."""
        now = time.time() if now is None else now
        row = await self._one(
            "SELECT COALESCE(SUM(input_tokens + output_tokens), 0) FROM usage "
            "WHERE user_id = ? AND timestamp > ?",
            (user.id, now - WINDOW_SECONDS),
        )
        return int(row[0])

    async def usage_summary(self, user: User, limit: int, now: float | None = None) -> UsageSummary:
        now = time.time() if now is None else now
        rows = await self._all(
            "SELECT timestamp, model, input_tokens, output_tokens, cost FROM usage "
            "WHERE user_id = ? AND timestamp > ?",
            (user.id, now - WINDOW_SECONDS),
        )
        return summarize(user.email, [UsageRow(*row) for row in rows], limit, now)

    async def users_report(self) -> list[UserReport]:
        now = time.time()
        rows = await self._all(
            "SELECT u.email, u.name, u.created_at, "
            "  (SELECT COALESCE(SUM(input_tokens + output_tokens), 0) FROM usage "
            "   WHERE user_id = u.id AND timestamp > ?), "
            "  (SELECT COUNT(*) FROM tokens WHERE user_id = u.id AND revoked_at IS NULL "
            "   AND expires_at > ?) "
            "FROM users u ORDER BY u.created_at",
            (now - WINDOW_SECONDS, now),
        )
        return [UserReport(*row) for row in rows]

    # -- browser sessions (server side; the cookie holds a random id) ---------------------

    async def load_session(self, session_id: str) -> dict[str, Any] | None:
        row = await self._one(
            "SELECT data FROM browser_sessions WHERE id_hash = ? AND expires_at > ?",
            (digest(session_id), time.time()),
        )
        return json.loads(row[0]) if row else None

    async def save_session(self, session_id: str, data: dict[str, Any], ttl: float) -> None:
        now = time.time()
        await self._write("DELETE FROM browser_sessions WHERE expires_at < ?", (now,))
        await self._write(
            "INSERT INTO browser_sessions (id_hash, data, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (id_hash) DO UPDATE SET data = excluded.data, "
            "expires_at = excluded.expires_at",
            (digest(session_id), json.dumps(data), now + ttl),
        )

    async def delete_session(self, session_id: str) -> None:
        await self._write("DELETE FROM browser_sessions WHERE id_hash = ?", (digest(session_id),))
