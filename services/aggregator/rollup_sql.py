"""SQL of the dashboard rollups (``shared.rollups``), for Postgres and Redshift (no I/O).

- :func:`sums_select_sql`, :func:`ids_select_sql`: one fact table's dashboard metrics per
  (root campaign, UTC hour) of its facts whose ``hour`` is in [$1, $2): its sum metrics
  summed, and the ids its distinct metrics count (an array per metric on Postgres, flagged
  rows on Redshift). The loader builds a roaring bitmap per (root, hour, distinct metric)
  from those ids; the hour's
  distinct count is its cardinality (count(DISTINCT ...) over the hour's facts). Neither
  Postgres nor Redshift has bitmap functions for bytea/VARBYTE, so both only store and
  return the serialized bitmaps; unions happen in the loader (days) and the dashboard.
- The daily rollup is derived from the day's hourly rows (those just computed, and the
  day's other hours read back with :func:`rollup_rows_sql`): sums added, distinct counts
  the cardinality of the union of the day's hourly id sets, which is count(DISTINCT ...)
  over the day's facts without scanning them again.
- :func:`redshift_rollup_ddl`: the rollup tables on Redshift, sized for 100M+ events.

Identifiers come from ``shared.facts``/``shared.rollups`` and are quoted; values are bind
parameters. Written without FILTER, ON CONFLICT or arrays except where a dialect says.
"""

from __future__ import annotations

from typing import Literal

from services.sync.dialects import redshift_create_sql
from shared.db import quote_ident
from shared.facts import CAMPAIGN_ID, HOUR, ROOTS, DashboardMetric, FactTable
from shared.rollups import (
    DATA_VERSION,
    ROLLUP_METRICS,
    Grain,
    bucket_column,
    ids_column,
    rollup_table,
)

__all__ = [
    "Dialect",
    "table_metrics",
    "sums_select_sql",
    "ids_select_sql",
    "delete_sql",
    "rollup_rows_sql",
    "bump_version_sql",
    "redshift_rollup_ddl",
]

Dialect = Literal["postgres", "redshift"]

# One root per campaign id, whatever duplicates campaign_properties holds (a duplicate
# would count a sum twice).
_ROOTS = f'(SELECT DISTINCT "campaign_id", "root_campaign_id" FROM {quote_ident(ROOTS)}) cp'  # noqa: S608
_RANGE = 'f."hour" >= $1::timestamptz AND f."hour" < $2::timestamptz'


def _from(table: FactTable) -> str:
    campaign = quote_ident(CAMPAIGN_ID.name)
    return f"FROM {quote_ident(table.name)} f JOIN {_ROOTS} ON cp.{campaign} = f.{campaign}"


def table_metrics(table: FactTable) -> tuple[DashboardMetric, ...]:
    """The dashboard metrics ``table`` holds (in ``ROLLUP_METRICS`` order)."""
    return tuple(m for m in ROLLUP_METRICS if m.table == table)


def sums_select_sql(table: FactTable) -> str | None:
    """(root_campaign_id, hour, the table's sum metrics) per root and hour of its facts in
    [$1, $2); None when the table holds no sum metric."""
    metrics = [m for m in table_metrics(table) if m.fact.kind == "sum"]
    if not metrics:
        return None
    sums = ",\n  ".join(
        f"coalesce(sum(f.{quote_ident(m.fact.name)}), 0)::bigint AS {quote_ident(m.name)}"
        for m in metrics
    )
    hour = quote_ident(HOUR.name)
    return (
        f'SELECT cp."root_campaign_id", f.{hour},\n  {sums}\n'
        f"{_from(table)}\nWHERE {_RANGE}\nGROUP BY 1, 2"
    )


def ids_select_sql(table: FactTable, dialect: Dialect = "postgres") -> str | None:
    """The ids the table's distinct metrics count in [$1, $2); None when it holds none.

    Postgres: one row per (root_campaign_id, hour) with one id array per distinct metric
    (``array_agg ... FILTER``), so the loader builds each bitmap in one call instead of a
    Python step per fact row. Redshift, which has neither: (root_campaign_id, hour, id, one
    flag per distinct metric), the fact rows counted by at least one metric."""
    metrics = [m for m in table_metrics(table) if m.fact.kind == "distinct"]
    if not metrics:
        return None
    assert table.dimension is not None, table
    dimension = f"f.{quote_ident(table.dimension.name)}"
    any_flag = " OR ".join(f"f.{quote_ident(m.fact.name)} > 0" for m in metrics)
    where = f"{_from(table)}\nWHERE {_RANGE} AND ({any_flag})"
    if dialect == "postgres":
        arrays = ",\n  ".join(
            f"array_agg({dimension}) FILTER (WHERE f.{quote_ident(m.fact.name)} > 0)"
            f" AS {quote_ident(m.name)}"
            for m in metrics
        )
        hour = quote_ident(HOUR.name)
        return f'SELECT cp."root_campaign_id", f.{hour},\n  {arrays}\n{where}\nGROUP BY 1, 2'
    flags = ", ".join(f"f.{quote_ident(m.fact.name)} > 0 AS {quote_ident(m.name)}" for m in metrics)
    return f'SELECT cp."root_campaign_id", f.{quote_ident(HOUR.name)}, {dimension} AS "id", {flags}\n{where}'


def delete_sql(grain: Grain) -> str:
    """Delete the rollup rows of the buckets in [$1, $2)."""
    bucket = quote_ident(bucket_column(grain))
    return (
        f"DELETE FROM {quote_ident(rollup_table(grain).name)}"  # noqa: S608 our identifiers
        f" WHERE {bucket} >= $1::timestamptz AND {bucket} < $2::timestamptz"
    )


def rollup_rows_sql(grain: Grain, table: FactTable | None = None) -> str:
    """(root_campaign_id, bucket, the 8 metrics, the bitmap columns) of the ``grain``
    rollup in [$1, $2); with ``table``, only the metrics (and bitmaps) it holds."""
    rollup = rollup_table(grain)
    if table is None:
        names = rollup.column_names[2:]
    else:
        mine = table_metrics(table)
        names = [m.name for m in mine] + [ids_column(m) for m in mine if m.fact.kind == "distinct"]
    bucket = quote_ident(bucket_column(grain))
    return (
        f'SELECT "root_campaign_id", {bucket}, {", ".join(map(quote_ident, names))}'  # noqa: S608
        f" FROM {quote_ident(rollup.name)}"
        f" WHERE {bucket} >= $1::timestamptz AND {bucket} < $2::timestamptz"
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
