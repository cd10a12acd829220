"""The source dialect from the DSN, MySQL DSN parsing and ``$n`` -> ``%s`` rewriting."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.errors import ConfigError
from shared.mysql import mysql_params
from shared.source import mysql_query, source_dialect


@pytest.mark.parametrize(
    ("dsn", "dialect"),
    [
        ("postgresql://u@h/db", "postgres"),
        ("postgres://u@h/db", "postgres"),
        ("mysql://u:p@h:3306/db", "mysql"),
        ("mariadb://u@h/db", "mysql"),
    ],
)
def test_dialect_follows_the_scheme(dsn: str, dialect: str) -> None:
    assert source_dialect(dsn) == dialect


def test_unknown_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="source DSN scheme 'sqlite' is not one of"):
        source_dialect("sqlite:///x.db")


def test_mysql_params() -> None:
    params = mysql_params("mysql://fork%40lift:s%3Acret@db.example:3307/edge%2Dflip?ssl=true")
    assert (params.user, params.password, params.host, params.port) == (
        "fork@lift",
        "s:cret",
        "db.example",
        3307,
    )
    assert (params.database, params.ssl) == ("edge-flip", True)
    kwargs = params.connect_kwargs()
    assert kwargs["charset"] == "utf8mb4" and kwargs["init_command"] == "SET time_zone = '+00:00'"
    assert mysql_params("mariadb://root@127.0.0.1/db").port == 3306


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("mysql://root@h:3306/", "names no database"),
        ("mysql://root@h/db?charset=latin1", "not understood: charset"),
        ("mysql://root@h/db?ssl=maybe", "ssl must be true or false"),
        ("mysql://root:secret@h:99999/db", "port"),
    ],
)
def test_bad_mysql_dsn_names_the_problem_not_the_password(dsn: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        mysql_params(dsn)
    assert "secret" not in str(e.value)


def test_placeholders_become_positional_and_percent_is_escaped() -> None:
    sql, args = mysql_query(
        "SELECT a FROM t WHERE b = $2 AND c LIKE 'x%' AND d = $1 OR e = $2", (1, "two")
    )
    assert sql == "SELECT a FROM t WHERE b = %s AND c LIKE 'x%%' AND d = %s OR e = %s"
    assert args == ("two", 1, "two")
    assert mysql_query("SELECT '100%'", ()) == ("SELECT '100%'", None)
    paris = timezone(timedelta(hours=1))
    _, (when,) = mysql_query("SELECT $1", (datetime(2026, 1, 1, 13, tzinfo=paris),))
    assert when == datetime(2026, 1, 1, 12) and when.tzinfo is None  # UTC, as sessions are
    assert mysql_query("SELECT $1", (datetime(2026, 1, 1, tzinfo=UTC),))[1] == (
        datetime(2026, 1, 1),
    )
