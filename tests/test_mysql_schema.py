"""The source tables as MySQL DDL, and migrating a MySQL source idempotently."""

from __future__ import annotations

from services.migrations import migrate_source
from shared.mysql import connect_mysql
from shared.mysql_schema import mysql_create_sql
from shared.settings import CoreSettings
from shared.source_schema import AUTH_USER, EVENTS, SOURCE_TABLES


def test_ddl_follows_django_on_mysql() -> None:
    sql = mysql_create_sql(EVENTS)
    assert "`created` datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)" in sql
    assert "`content` longtext" in sql and "PRIMARY KEY (`event_id`)" in sql
    assert sql.endswith("ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
    assert "`is_superuser` tinyint(1) NOT NULL DEFAULT 0" in mysql_create_sql(AUTH_USER)


async def test_migrate_is_idempotent_and_repairs(mysql_core: CoreSettings) -> None:
    dsn = mysql_core.source_dsn or ""
    assert await migrate_source(dsn) == []  # the fixture migrated it already
    conn = await connect_mysql(dsn)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute("DROP INDEX events_created_idx ON events")
            await cursor.execute("ALTER TABLE visits DROP COLUMN referer")
            await cursor.execute("DROP TABLE clients_auth_groups")
            await cursor.execute("SHOW TABLES")
            assert len(await cursor.fetchall()) == len(SOURCE_TABLES) - 1
    finally:
        conn.close()
    assert sorted(await migrate_source(dsn)) == [
        "added column visits.referer",
        "created index events_created_idx",
        "created table clients_auth_groups",
    ]
    assert await migrate_source(dsn) == []
