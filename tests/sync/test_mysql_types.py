"""MySQL column types -> warehouse types for the postgres and redshift dialects (golden),
and the refusal of a type with no mapping. No I/O."""

import pytest

from services.sync.errors import UnmappedType
from services.sync.mysql_types import (
    key_slices,
    key_span_sql,
    mysql_column,
    parse_column_type,
    row_select_sql,
)
from services.sync.types import map_type


@pytest.mark.parametrize(
    ("column_type", "postgres", "redshift"),
    [
        ("tinyint(1)", "boolean", "BOOLEAN"),
        ("tinyint(1) unsigned", "boolean", "BOOLEAN"),
        ("bit(1)", "boolean", "BOOLEAN"),
        ("tinyint(4)", "smallint", "SMALLINT"),
        ("tinyint(3) unsigned", "smallint", "SMALLINT"),
        ("smallint(6)", "smallint", "SMALLINT"),
        ("smallint(5) unsigned", "integer", "INTEGER"),
        ("mediumint(9)", "integer", "INTEGER"),
        ("mediumint(8) unsigned", "integer", "INTEGER"),
        ("int(11)", "integer", "INTEGER"),
        ("int(10) unsigned", "bigint", "BIGINT"),
        ("int(10) unsigned zerofill", "bigint", "BIGINT"),
        ("bigint(20)", "bigint", "BIGINT"),
        ("bigint(20) unsigned", "numeric(20)", "NUMERIC(20,0)"),
        ("bigint", "bigint", "BIGINT"),  # MySQL 8 shows no display width
        ("decimal(12,3)", "numeric(12,3)", "NUMERIC(12,3)"),
        ("decimal(10,0) unsigned", "numeric(10,0)", "NUMERIC(10,0)"),
        ("decimal(65,30)", "numeric(65,30)", "NUMERIC(38,30)"),
        ("float", "real", "REAL"),
        ("float(7,4)", "real", "REAL"),
        ("double", "double precision", "DOUBLE PRECISION"),
        ("double unsigned", "double precision", "DOUBLE PRECISION"),
        ("date", "date", "DATE"),
        ("datetime", "timestamp without time zone", "TIMESTAMP"),
        ("datetime(6)", "timestamp without time zone", "TIMESTAMP"),
        ("timestamp", "timestamp with time zone", "TIMESTAMPTZ"),
        ("timestamp(3)", "timestamp with time zone", "TIMESTAMPTZ"),
        ("time", "time without time zone", "TIME"),
        ("time(6)", "time without time zone", "TIME"),
        ("year(4)", "smallint", "SMALLINT"),
        ("year", "smallint", "SMALLINT"),
        ("char(10)", "character varying(10)", "VARCHAR(40)"),
        ("varchar(255)", "character varying(255)", "VARCHAR(1020)"),
        ("varchar(20000)", "character varying(20000)", "VARCHAR(65535)"),
        ("tinytext", "text", "VARCHAR(65535)"),
        ("text", "text", "VARCHAR(65535)"),
        ("mediumtext", "text", "VARCHAR(65535)"),
        ("longtext", "text", "VARCHAR(65535)"),
        ("enum('small','medium','large')", "character varying(6)", "VARCHAR(24)"),
        ("enum('it''s','a,b')", "character varying(4)", "VARCHAR(16)"),
        ("set('a','b','c')", "character varying(5)", "VARCHAR(20)"),
        ("json", "json", "VARCHAR(65535)"),
        ("binary(16)", "bytea", "VARCHAR(65535)"),
        ("varbinary(255)", "bytea", "VARCHAR(65535)"),
        ("tinyblob", "bytea", "VARCHAR(65535)"),
        ("blob", "bytea", "VARCHAR(65535)"),
        ("mediumblob", "bytea", "VARCHAR(65535)"),
        ("longblob", "bytea", "VARCHAR(65535)"),
        ("bit(10)", "bit(10)", "VARCHAR(10)"),
        ("bit(64)", "bit(64)", "VARCHAR(64)"),
    ],
)
def test_golden_mapping(column_type: str, postgres: str, redshift: str) -> None:
    column = mysql_column("t", "c", column_type)
    assert map_type("t", "c", column.pg_type, "postgres") == postgres
    assert map_type("t", "c", column.pg_type, "redshift") == redshift


@pytest.mark.parametrize(
    "column_type",
    [
        "geometry",
        "point",
        "linestring",
        "polygon",
        "multipoint",
        "geometrycollection",
        "inet6",
        "uuid",
        "vector(3)",
        "char",
        "enum",
    ],
)
def test_unmapped_type_names_table_column_and_type(column_type: str) -> None:
    with pytest.raises(UnmappedType) as e:
        mysql_column("places", "shape", column_type)
    assert str(e.value) == (f"places.shape: no warehouse type for MySQL source type {column_type}")
    assert e.value.exit_code == 2


def test_parse_column_type_keeps_enum_labels_whole() -> None:
    assert parse_column_type("bigint(20) unsigned zerofill") == (
        "bigint",
        ["20"],
        {"unsigned", "zerofill"},
    )
    assert parse_column_type("enum('a,b','it''s','')") == ("enum", ["a,b", "it's", ""], set())
    assert parse_column_type("decimal(12,3)") == ("decimal", ["12", "3"], set())
    assert parse_column_type("not a type!") is None


def test_row_select_renders_one_line_and_masks_of_nullable_dates() -> None:
    columns = [
        mysql_column("t", name, kind)
        for name, kind in [
            ("id", "int(11)"),
            ("born", "date"),
            ("name", "varchar(10)"),
            ("at", "timestamp"),
        ]
    ]
    sql, masks = row_select_sql("t", columns, "updated")
    assert masks == 1
    assert sql.startswith("SELECT CONCAT(IFNULL(`id`, ''), ',', IF(")
    assert "REPLACE(CONVERT(`name` USING utf8mb4), '\"', '\"\"')" in sql
    assert "CONCAT(`at`, '+00')" in sql
    assert sql.endswith(" FROM `t` WHERE `updated` > %s AND `updated` <= %s")
    assert " << 0) + (" in sql and " << 1) FROM" in sql
    odd = [mysql_column("t", "100%", "int(11)")]
    assert row_select_sql("t", odd)[0] == "SELECT CONCAT(IFNULL(`100%`, '')) FROM `t`"
    assert row_select_sql("t", odd, "up%")[0] == (
        "SELECT CONCAT(IFNULL(`100%%`, '')) FROM `t` WHERE `up%%` > %s AND `up%%` <= %s"
    )
    many = [mysql_column("t", f"d{i}", "date") for i in range(70)]
    assert row_select_sql("t", many)[1] == 2  # 63 columns per mask


def test_row_select_adds_the_bounds_of_a_key_slice() -> None:
    columns = [mysql_column("t", "id", "int(11)")]
    base = "SELECT CONCAT(IFNULL(`id`, '')) FROM `t` WHERE `up` > %s AND `up` <= %s"
    assert row_select_sql("t", columns, "up", "id", (None, None))[0] == base
    assert row_select_sql("t", columns, "up", "id", (None, 5))[0] == base + " AND `id` < %s"
    assert row_select_sql("t", columns, "up", "id", (5, 9))[0] == (
        base + " AND `id` >= %s AND `id` < %s"
    )
    assert row_select_sql("t", columns, "up", "id", (9, None))[0] == base + " AND `id` >= %s"
    assert key_span_sql("t", "up", "id") == (
        "SELECT MIN(`id`) AS lowest, MAX(`id`) AS highest, COUNT(*) AS count"
        " FROM `t` WHERE `up` > $1 AND `up` <= $2"
    )


def test_key_slices_cover_every_key_in_ranges_of_enough_rows() -> None:
    assert key_slices(1, 1000, 10_000, 4, 1000) == [
        (None, 251),
        (251, 501),
        (501, 751),
        (751, None),
    ]
    assert key_slices(1, 1000, 2500, 4, 1000) == [(None, 501), (501, None)]  # 1,000+ rows each
    assert key_slices(1, 1000, 999, 4, 1000) == [(None, None)]
    assert key_slices(7, 8, 10_000, 4, 1) == [(None, 8), (8, None)]  # no more ranges than keys
    assert key_slices(-5, -5, 1, 4, 1) == [(None, None)]
