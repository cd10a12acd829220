"""The source ("RDS") database, Postgres or MySQL/MariaDB: the DSN's scheme chooses.

``SourceDatabase`` is the small query interface every reader of the source shares (the
dashboard's login, the demo's seeding and checks). SQL handed to it is the code's own,
written with Postgres ``$n`` placeholders; the MySQL side rewrites them to its ``%s`` form
(so such SQL holds no ``$`` inside literals). The sync service streams tables with each
dialect's own tools on ``pool``.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
from asyncmy.cursors import DictCursor
from asyncmy.errors import MySQLError

from shared.db import create_pool
from shared.errors import ConfigError, ForkliftError
from shared.mysql import MYSQL_SCHEMES, create_mysql_pool, quote_mysql_ident

__all__ = [
    "SourceDialect",
    "POSTGRES_SCHEMES",
    "SOURCE_SCHEMES",
    "SOURCE_ERRORS",
    "SourceTableMissing",
    "SourceDatabase",
    "PostgresSource",
    "MySQLSource",
    "source_dialect",
    "open_source",
    "mysql_query",
]

SourceDialect = Literal["postgres", "mysql"]
POSTGRES_SCHEMES = ("postgres", "postgresql")
SOURCE_SCHEMES = POSTGRES_SCHEMES + MYSQL_SCHEMES
# What a failed source query raises, whichever the dialect.
SOURCE_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    MySQLError,
)
_MYSQL_NO_SUCH_TABLE = 1146
_INSERT_BATCH_ROWS = 2000


class SourceTableMissing(ForkliftError):
    """A query read a table the source database does not have (yet)."""


def source_dialect(dsn: str) -> SourceDialect:
    """``postgres`` for postgres(ql)://, ``mysql`` for mysql:// or mariadb://."""
    scheme = dsn.split("://", 1)[0].lower() if "://" in dsn else ""
    if scheme in POSTGRES_SCHEMES:
        return "postgres"
    if scheme in MYSQL_SCHEMES:
        return "mysql"
    raise ConfigError(
        f"source DSN scheme {scheme!r} is not one of {', '.join(s + '://' for s in SOURCE_SCHEMES)}"
    )


_PLACEHOLDER = re.compile(r"\$(\d+)")


def _mysql_value(value: Any) -> Any:
    # MySQL DATETIME/TIMESTAMP literals carry no zone: sessions are UTC, so send UTC.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def mysql_query(sql: str, args: Sequence[Any]) -> tuple[str, tuple[Any, ...] | None]:
    """``sql`` with ``$n`` placeholders as MySQL ``%s`` SQL and its arguments in order."""
    if not args:
        return sql, None
    order: list[int] = []

    def placeholder(match: re.Match[str]) -> str:
        order.append(int(match[1]) - 1)
        return "%s"

    text = _PLACEHOLDER.sub(placeholder, sql.replace("%", "%%"))
    return text, tuple(_mysql_value(args[i]) for i in order)


class SourceDatabase(ABC):
    """A pool on the source database with the few queries its readers need."""

    dialect: SourceDialect

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[Mapping[str, Any]]:
        """Rows of ``sql`` (SourceTableMissing if it reads a table that does not exist)."""

    async def fetchrow(self, sql: str, *args: Any) -> Mapping[str, Any] | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return next(iter(row.values())) if row else None

    @abstractmethod
    async def execute(self, sql: str, *args: Any) -> None: ...

    @abstractmethod
    async def insert(self, tables: Sequence[tuple[str, Sequence[str], Sequence[tuple]]]) -> None:
        """Insert ``(table, columns, rows)`` batches, all in one transaction."""

    @abstractmethod
    async def close(self) -> None: ...


class PostgresSource(SourceDatabase):
    dialect: SourceDialect = "postgres"

    async def fetch(self, sql: str, *args: Any) -> list[Mapping[str, Any]]:
        try:
            return await self.pool.fetch(sql, *args)
        except asyncpg.UndefinedTableError as e:
            raise SourceTableMissing(str(e)) from e

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self.pool.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> None:
        await self.pool.execute(sql, *args)

    async def insert(self, tables: Sequence[tuple[str, Sequence[str], Sequence[tuple]]]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            for table, columns, rows in tables:
                await conn.copy_records_to_table(table, records=rows, columns=list(columns))

    async def close(self) -> None:
        await self.pool.close()


class MySQLSource(SourceDatabase):
    dialect: SourceDialect = "mysql"

    async def fetch(self, sql: str, *args: Any) -> list[Mapping[str, Any]]:
        text, values = mysql_query(sql, args)
        try:
            async with self.pool.acquire() as conn, conn.cursor(DictCursor) as cursor:
                await cursor.execute(text, values)
                return list(await cursor.fetchall())
        except MySQLError as e:
            if e.args and e.args[0] == _MYSQL_NO_SUCH_TABLE:
                raise SourceTableMissing(str(e)) from e
            raise

    async def execute(self, sql: str, *args: Any) -> None:
        text, values = mysql_query(sql, args)
        async with self.pool.acquire() as conn, conn.cursor() as cursor:
            await cursor.execute(text, values)

    async def insert(self, tables: Sequence[tuple[str, Sequence[str], Sequence[tuple]]]) -> None:
        async with self.pool.acquire() as conn:
            await conn.begin()
            try:
                async with conn.cursor() as cursor:
                    for table, columns, rows in tables:
                        names = ", ".join(quote_mysql_ident(c) for c in columns)
                        marks = ", ".join(["%s"] * len(columns))
                        sql = f"INSERT INTO {quote_mysql_ident(table)} ({names}) VALUES ({marks})"  # noqa: S608
                        for start in range(0, len(rows), _INSERT_BATCH_ROWS):
                            batch = rows[start : start + _INSERT_BATCH_ROWS]
                            values = [tuple(_mysql_value(v) for v in row) for row in batch]
                            await cursor.executemany(sql, values)
                await conn.commit()
            except BaseException:
                await conn.rollback()
                raise

    async def close(self) -> None:
        self.pool.close()
        await self.pool.wait_closed()


async def open_source(
    dsn: str,
    *,
    name: str = "source",
    max_size: int = 4,
    command_timeout_s: float = 300.0,
    reset_sessions: bool = True,
) -> SourceDatabase:
    """A SourceDatabase on ``dsn`` (DatabaseUnavailable naming ``name`` if unreachable);
    ``reset_sessions`` as for :func:`shared.db.create_pool` (Postgres; MySQL's pool sends
    nothing on release)."""
    if source_dialect(dsn) == "mysql":
        pool = await create_mysql_pool(
            dsn, name=name, max_size=max_size, command_timeout_s=command_timeout_s
        )
        return MySQLSource(pool)
    pool = await create_pool(
        dsn,
        name=name,
        max_size=max_size,
        command_timeout_s=command_timeout_s,
        reset_sessions=reset_sessions,
    )
    return PostgresSource(pool)
