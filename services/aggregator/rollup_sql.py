"""SQL of the dashboard rollups (``shared.rollups``), for Postgres and Redshift (no I/O).

- :func:`rollup_select_sql`: the 8 dashboard metrics per (root campaign, UTC hour)
  straight from the fact tables whose ``hour`` is in [$1, $2): distinct counts
  (count(DISTINCT ...) over the hour's fact rows), sums summed. The daily rollup is derived
  from the day's hourly rows (:func:`hourly_rows_sql`): sums added, distinct counts the
  cardinality of the union of the day's hourly id sets, which is count(DISTINCT ...) over
  the day's facts without scanning them again.
- :func:`ids_select_sql`: (root, hour, metric number, id) rows of the distinct metrics'
  ids in [$1, $2); the loader builds the roaring bitmaps from them in Python. Neither
  Postgres nor Redshift has bitmap functions for bytea/VARBYTE, so both only store and
  return the serialized bitmaps; unions happen in the dashboard.
- :func:`redshift_rollup_ddl`: the rollup tables on Redshift, sized for 100M+ events.

Identifiers come from ``shared.facts``/``shared.rollups`` and are quoted; values are bind
parameters. Written without FILTER, ON CONFLICT or arrays except where a dialect says.
"""

from __future__ import annotations

from typing import Literal

from services.sync.dialects import redshift_create_sql
from shared.db import quote_ident
from shared.facts import CAMPAIGN_ID, HOUR, DashboardMetric, FactTable
from shared.rollups import (
    DATA_VERSION,
    DISTINCT_METRICS,
    ROLLUP_METRICS,
    Grain,
    bucket_column,
    rollup_table,
)

__all__ = [
    "Dialect",
    "rollup_select_sql",
    "ids_select_sql",
    "delete_sql",
    "insert_sql",
    "hourly_rows_sql",
    "bump_version_sql",
    "redshift_rollup_ddl",
]

Dialect = Literal["postgres", "redshift"]

# One root per campaign id, whatever duplicates campaign_properties holds (a duplicate
# would count a sum twice).
_ROOTS = '(SELECT DISTINCT "campaign_id", "root_campaign_id" FROM "campaign_properties") cp'
_RANGE = 'f."hour" >= $1::timestamptz AND f."hour" < $2::timestamptz'


def _aggregate(metric: DashboardMetric) -> str:
    fact = f"f.{quote_ident(metric.fact.name)}"
    if metric.fact.kind == "sum":
        return f"coalesce(sum({fact}), 0)"
    assert metric.table.dimension is not None, metric
    return f"count(DISTINCT CASE WHEN {fact} > 0 THEN f.{quote_ident(metric.table.dimension.name)} END)"


def _from(table: FactTable) -> str:
    campaign = quote_ident(CAMPAIGN_ID.name)
    return f"FROM {quote_ident(table.name)} f JOIN {_ROOTS} ON cp.{campaign} = f.{campaign}"


def _tables() -> list[FactTable]:
    tables: list[FactTable] = []
    for metric in ROLLUP_METRICS:
        if metric.table not in tables:
            tables.append(metric.table)
    return tables


def rollup_select_sql(dialect: Dialect = "postgres") -> str:
    """(root_campaign_id, hour, the 8 metrics) per root and hour of the facts in [$1, $2).
    One branch per fact table (its metrics, 0 for the others), summed per hour. The same
    on both dialects (``dialect`` names the one it is rendered for)."""
    assert dialect in ("postgres", "redshift"), dialect
    bucket = quote_ident(HOUR.name)
    branches = []
    for table in _tables():
        columns = [
            f"{_aggregate(m) if m.table == table else '0'} AS {quote_ident(m.name)}"
            for m in ROLLUP_METRICS
        ]
        branches.append(
            f'SELECT cp."root_campaign_id", f.{bucket},\n    '
            + ",\n    ".join(columns)
            + f"\n  {_from(table)}\n  WHERE {_RANGE}\n  GROUP BY 1, 2"
        )
    sums = ",\n  ".join(
        f"sum(u.{quote_ident(m.name)})::bigint AS {quote_ident(m.name)}" for m in ROLLUP_METRICS
    )
    union = "\n  UNION ALL\n  ".join(branches)
    return (
        f'SELECT u."root_campaign_id", u.{bucket},\n  {sums}\nFROM (\n  {union}\n) u\nGROUP BY 1, 2'
    )


def ids_select_sql() -> str:
    """(root_campaign_id, hour, metric, id): ``metric`` numbers :data:`DISTINCT_METRICS`;
    the ids of each distinct metric's facts > 0 in [$1, $2). The same on both dialects."""
    branches = []
    for number, metric in enumerate(DISTINCT_METRICS):
        assert metric.table.dimension is not None, metric
        branches.append(
            f'SELECT cp."root_campaign_id", f."hour", {number} AS "metric",'
            f' f.{quote_ident(metric.table.dimension.name)} AS "id"\n'
            f"  {_from(metric.table)}\n"
            f"  WHERE f.{quote_ident(metric.fact.name)} > 0 AND {_RANGE}"
        )
    return "\nUNION ALL\n".join(branches)


def delete_sql(grain: Grain) -> str:
    """Delete the rollup rows of the buckets in [$1, $2)."""
    bucket = quote_ident(bucket_column(grain))
    return (
        f"DELETE FROM {quote_ident(rollup_table(grain).name)}"  # noqa: S608 our identifiers
        f" WHERE {bucket} >= $1::timestamptz AND {bucket} < $2::timestamptz"
    )


def insert_sql(grain: Grain) -> str:
    """Insert one rollup row: $1 root, $2 bucket, the 8 metrics, then the bitmaps."""
    table = rollup_table(grain)
    columns = table.column_names
    params = ", ".join(f"${i + 1}" for i in range(len(columns)))
    names = ", ".join(map(quote_ident, columns))
    return f"INSERT INTO {quote_ident(table.name)} ({names}) VALUES ({params})"  # noqa: S608


def hourly_rows_sql() -> str:
    """(root_campaign_id, hour, the 8 metrics, the bitmap columns) of the hourly rollup in
    [$1, $2): what the daily rollup is derived from."""
    table = rollup_table("hour")
    columns = ", ".join(quote_ident(c) for c in table.column_names[2:])
    return (
        f'SELECT "root_campaign_id", "hour", {columns} FROM {quote_ident(table.name)}'  # noqa: S608
        ' WHERE "hour" >= $1::timestamptz AND "hour" < $2::timestamptz'
    )


def bump_version_sql(dialect: Dialect = "postgres") -> str:
    """Add $1 (hours loaded) to the data version, stamp it now; returns the new version.
    On Redshift the row is created with the table (:func:`redshift_rollup_ddl`)."""
    name = quote_ident(DATA_VERSION.name)
    if dialect == "redshift":
        return (
            f'UPDATE {name} SET "version" = "version" + $1, "updated" = getdate()'  # noqa: S608
            ' WHERE "id" = 1'
        )
    return (
        f'INSERT INTO {name} ("id", "version", "updated") VALUES (1, $1, now())'  # noqa: S608
        f' ON CONFLICT ("id") DO UPDATE SET "version" = {name}."version" + EXCLUDED."version",'
        ' "updated" = EXCLUDED."updated" RETURNING "version"'
    )


_REDSHIFT_TYPES = {
    "smallint": "SMALLINT",
    "bigint": "BIGINT",
    "timestamptz": "TIMESTAMPTZ",
    "bytea": "VARBYTE(1024000)",
}


def _redshift_type(sql_type: str) -> str:
    return _REDSHIFT_TYPES[sql_type]


def redshift_rollup_ddl() -> list[str]:
    """CREATE TABLEs of the rollups on Redshift. Both are distributed by root campaign (a
    dashboard request reads one root, or one client's roots: one slice each, no
    redistribution) and sorted by (root, bucket) so a range read touches only its blocks.
    A root's 30-day hourly series is 720 rows, whatever the event volume; the bitmaps are
    VARBYTE (up to 1,024,000 bytes: ~250,000 ids a root-hour for dense ids)."""
    ddl = []
    for grain in ("hour", "day"):
        table = rollup_table(grain)
        columns = [(c.name, _redshift_type(c.type), not c.nullable) for c in table.columns]
        ddl.append(
            redshift_create_sql(
                table.name,
                columns,
                table.primary_key,
                distkey="root_campaign_id",
                sortkeys=["root_campaign_id", bucket_column(grain)],
            )
        )
    version = [(c.name, _redshift_type(c.type), True) for c in DATA_VERSION.columns]
    ddl.append(redshift_create_sql(DATA_VERSION.name, version, DATA_VERSION.primary_key))
    ddl.append(
        f'INSERT INTO {quote_ident(DATA_VERSION.name)} ("id", "version", "updated")'  # noqa: S608 our identifier
        " VALUES (1, 0, getdate())"
    )
    return ddl
