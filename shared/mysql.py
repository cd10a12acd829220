"""MySQL/MariaDB connections: parsing a ``mysql://`` DSN, opening an asyncmy pool whose
sessions speak utf8mb4 in UTC, and quoting identifiers.

asyncmy was chosen by measurement (docs/sync.md, bench/drivers/mysql_stream.py): through an
unbuffered cursor it streamed a 1M-row table 1.3x (server-rendered lines) to 9x (converted
values) faster than aiomysql, and faster still than mysql-connector-python.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import asyncmy
from asyncmy.errors import MySQLError

from shared.db import DatabaseUnavailable
from shared.errors import ConfigError, describe

__all__ = [
    "MYSQL_SCHEMES",
    "MySQLParams",
    "mysql_params",
    "create_mysql_pool",
    "connect_mysql",
    "quote_mysql_ident",
    "SESSION_SQL",
]

MYSQL_SCHEMES = ("mysql", "mariadb")
# Every session: UTC, so TIMESTAMP values are never shifted by the server's time zone.
SESSION_SQL = "SET time_zone = '+00:00'"
_SSL_VALUES = {
    "true": True,
    "require": True,
    "1": True,
    "false": False,
    "disable": False,
    "0": False,
}


@dataclass(frozen=True)
class MySQLParams:
    """Where a MySQL database is, from ``mysql://user:password@host:port/database[?ssl=true]``."""

    host: str
    port: int
    user: str
    password: str
    database: str
    ssl: bool = False

    def connect_kwargs(self) -> dict[str, Any]:
        """asyncmy connection arguments (utf8mb4 results, UTC sessions, autocommit)."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": self.database or None,
            "charset": "utf8mb4",
            "init_command": SESSION_SQL,
            "autocommit": True,
            "ssl": ssl.create_default_context() if self.ssl else None,
        }


def mysql_params(dsn: str, *, database_required: bool = True) -> MySQLParams:
    """Parse ``dsn``; ConfigError naming what is wrong (never echoing the password)."""
    parts = urlsplit(dsn)
    if parts.scheme not in MYSQL_SCHEMES:
        raise ConfigError(f"not a MySQL DSN (scheme {parts.scheme!r}): use mysql:// or mariadb://")
    database = unquote(parts.path.lstrip("/"))
    if database_required and not database:
        raise ConfigError("MySQL DSN names no database: mysql://user:password@host:3306/<database>")
    options = dict(parse_qsl(parts.query))
    unknown = sorted(set(options) - {"ssl"})
    if unknown:
        raise ConfigError(f"MySQL DSN option(s) not understood: {', '.join(unknown)} (only ssl)")
    use_ssl = options.get("ssl", "false").lower()
    if use_ssl not in _SSL_VALUES:
        raise ConfigError("MySQL DSN option ssl must be true or false")
    try:
        port = parts.port or 3306
    except ValueError as e:
        raise ConfigError(f"MySQL DSN port: {e}") from None
    return MySQLParams(
        host=parts.hostname or "127.0.0.1",
        port=port,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        database=database,
        ssl=_SSL_VALUES[use_ssl],
    )


async def create_mysql_pool(
    dsn: str,
    *,
    name: str,
    max_size: int = 10,
    command_timeout_s: float = 300.0,
    connect_timeout_s: float = 10.0,
) -> Any:
    """An asyncmy pool on ``dsn``; DatabaseUnavailable naming ``name`` if it cannot connect."""
    params = mysql_params(dsn)
    try:
        return await asyncmy.create_pool(
            minsize=1,
            maxsize=max_size,
            connect_timeout=max(1, round(connect_timeout_s)),
            read_timeout=command_timeout_s,
            **params.connect_kwargs(),
        )
    except (OSError, MySQLError, TimeoutError) as e:
        raise DatabaseUnavailable(f"{name} database unreachable: {describe(e)}") from e


async def connect_mysql(dsn: str, *, database_required: bool = True, timeout_s: float = 10.0):
    """One asyncmy connection (migrations, test set-up); the caller closes it."""
    params = mysql_params(dsn, database_required=database_required)
    try:
        return await asyncmy.connect(
            connect_timeout=max(1, round(timeout_s)), read_timeout=300, **params.connect_kwargs()
        )
    except (OSError, MySQLError, TimeoutError) as e:
        raise DatabaseUnavailable(f"source database unreachable: {describe(e)}") from e


def quote_mysql_ident(name: str) -> str:
    """Quote one MySQL identifier. Only for names from our own definitions or the catalog."""
    return "`" + name.replace("`", "``") + "`"
