"""Migrations from code are idempotent and add columns when a definition grows."""

import asyncpg

from services.migrations import migrate_source, migrate_warehouse, warehouse_tables
from shared.migrate import ensure_tables
from shared.schema import Column, Index, Table
from shared.settings import CoreSettings
from shared.source_schema import SOURCE_TABLES


async def test_migrations_are_idempotent(core: CoreSettings, warehouse: asyncpg.Pool) -> None:
    # The test databases are clones of already-migrated templates: nothing left to do.
    assert await migrate_source(core.source_dsn) == []
    assert await migrate_warehouse(core.warehouse_dsn) == []
    names = {t.name for t in warehouse_tables()}
    present = {
        r["tablename"]
        for r in await warehouse.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
    }
    assert names <= present


async def test_source_tables_created(source: asyncpg.Pool) -> None:
    present = {
        r["tablename"]
        for r in await source.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
    }
    assert {t.name for t in SOURCE_TABLES} <= present


async def test_growing_definition_adds_column_and_index(warehouse: asyncpg.Pool) -> None:
    v1 = Table("things", (Column("id", "bigint", nullable=False),), primary_key=("id",))
    v2 = Table(
        "things",
        (Column("id", "bigint", nullable=False), Column("weight", "numeric(12,2)", default="0")),
        primary_key=("id",),
        indexes=(Index(("weight",)),),
    )
    async with warehouse.acquire() as conn:
        assert await ensure_tables(conn, [v1]) == ["created table things"]
        await conn.execute("INSERT INTO things (id) VALUES (1)")
        assert await ensure_tables(conn, [v2]) == [
            "added column things.weight",
            "created index things_weight_idx",
        ]
        assert await ensure_tables(conn, [v2]) == []
        assert await conn.fetchval("SELECT weight FROM things WHERE id = 1") == 0


def test_ddl_rendering_quotes_identifiers() -> None:
    table = Table(
        "odd",
        (Column("type", "text", nullable=False), Column('we"ird', "int", default="1")),
        primary_key=("type",),
        indexes=(Index(("type", 'we"ird'), unique=True),),
    )
    assert table.create_sql() == (
        'CREATE TABLE IF NOT EXISTS "odd" (\n    "type" text NOT NULL,\n'
        '    "we""ird" int DEFAULT 1,\n    PRIMARY KEY ("type")\n)'
    )
    assert table.index_sql() == [
        'CREATE UNIQUE INDEX IF NOT EXISTS "odd_type_we""ird_uidx" ON "odd" ("type", "we""ird")'
    ]
