"""Type mapping from the source catalog to each warehouse dialect, and settings checks."""

import pytest

from services.sync.errors import UnmappedType
from services.sync.settings import SyncSettings
from services.sync.types import map_type


@pytest.mark.parametrize(
    ("pg_type", "postgres", "redshift"),
    [
        ("bigint", "bigint", "BIGINT"),
        ("integer", "integer", "INTEGER"),
        ("smallint", "smallint", "SMALLINT"),
        ("numeric(12,3)", "numeric(12,3)", "NUMERIC(12,3)"),
        ("numeric", "numeric", "NUMERIC(38,10)"),
        ("numeric(50,4)", "numeric(50,4)", "NUMERIC(38,4)"),
        ("double precision", "double precision", "DOUBLE PRECISION"),
        ("text", "text", "VARCHAR(65535)"),
        ("character varying(256)", "character varying(256)", "VARCHAR(1024)"),
        ("character varying", "character varying", "VARCHAR(65535)"),
        ("character(2)", "character(2)", "VARCHAR(8)"),
        ("boolean", "boolean", "BOOLEAN"),
        ("date", "date", "DATE"),
        ("timestamp with time zone", "timestamp with time zone", "TIMESTAMPTZ"),
        ("timestamp(3) with time zone", "timestamp(3) with time zone", "TIMESTAMPTZ"),
        ("timestamp without time zone", "timestamp without time zone", "TIMESTAMP"),
        ("json", "json", "VARCHAR(65535)"),
        ("jsonb", "jsonb", "VARCHAR(65535)"),
        ("uuid", "uuid", "CHAR(36)"),
        ("bytea", "bytea", "VARCHAR(65535)"),
        ("integer[]", "integer[]", "VARCHAR(65535)"),
        ("text[]", "text[]", "VARCHAR(65535)"),
    ],
)
def test_map_type(pg_type: str, postgres: str, redshift: str) -> None:
    assert map_type("t", "c", pg_type, "postgres") == postgres
    assert map_type("t", "c", pg_type, "redshift") == redshift


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
@pytest.mark.parametrize("pg_type", ["tsvector", "point", "mood", "int4range"])
def test_unmapped_type_names_table_column_and_type(dialect: str, pg_type: str) -> None:
    with pytest.raises(UnmappedType) as e:
        map_type("events", "shape", pg_type, dialect)
    assert str(e.value) == f"events.shape: no {dialect} warehouse type for source type {pg_type}"
    assert e.value.exit_code == 2


def test_settings_reject_modes_for_unconfigured_tables() -> None:
    assert SyncSettings(_env_file=None, tables=["clients"]).mode_for("clients") == "full"
    with pytest.raises(ValueError, match="modes names tables not in tables: events"):
        SyncSettings(_env_file=None, tables=["clients"], modes={"events": "full"})
