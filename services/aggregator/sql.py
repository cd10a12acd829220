"""Load SQL of one (fact table, hour), rendered from ``shared.facts`` (no I/O).

Identifiers come from our own definition and are quoted; values (hour bounds, event types)
are bind parameters: $1 = hour start, $2 = hour end (half-open on events.created), then one
text[] of event types per fact, in the table's fact order.
"""

from __future__ import annotations

from shared.db import quote_ident
from shared.facts import Fact, FactTable

__all__ = ["select_sql", "load_statements", "load_params", "source_column"]


def source_column(source: str) -> str:
    """``"visits"."ip"`` for ``visits.ip``."""
    table, column = source.split(".")
    return f"{quote_ident(table)}.{quote_ident(column)}"


def _fact_expr(fact: Fact, param: int, dimension: str | None) -> str:
    match = f'"events"."type" = ANY(${param}::text[])'
    if fact.kind == "sum":
        return f"count(*) FILTER (WHERE {match})"
    if dimension is None:
        raise ValueError(f"distinct fact {fact.name} needs a dimension")
    return f"count(DISTINCT CASE WHEN {match} THEN {dimension} END)"


def _from_clause(table: FactTable) -> str:
    sql, left = '"events"', "events"
    for joined, left_column, right_column in table.joins:
        sql += (
            f" JOIN {quote_ident(joined)} ON {quote_ident(left)}.{quote_ident(left_column)}"
            f" = {quote_ident(joined)}.{quote_ident(right_column)}"
        )
        left = joined
    return sql


def select_sql(table: FactTable) -> str:
    """SELECT of the table's rows for the hour [$1, $2), columns in table order."""
    dimension = source_column(table.dimension.source) if table.dimension else None
    columns = ['"events"."campaign_id"', "$1::timestamptz"]
    where = [
        '"events"."created" >= $1::timestamptz',
        '"events"."created" < $2::timestamptz',
        '"events"."campaign_id" IS NOT NULL',
    ]
    if dimension is not None:
        columns.append(dimension)
        where.append(f"{dimension} IS NOT NULL")
    facts = [_fact_expr(f, i + 3, dimension) for i, f in enumerate(table.facts)]
    group = "1" if dimension is None else "1, 3"  # column 2 is the constant hour
    return (
        f"SELECT {', '.join(columns + facts)}\nFROM {_from_clause(table)}\n"
        f"WHERE {' AND '.join(where)}\nGROUP BY {group}"
    )


def load_statements(table: FactTable) -> tuple[str, str, str, str]:
    """(create staging, fill staging, delete the hour, insert from staging), to run in one
    transaction; the fill takes :func:`load_params`, the delete takes $1 = hour start."""
    name = quote_ident(table.name)
    staging = quote_ident(f"staging_{table.slug}")
    return (
        f"CREATE TEMP TABLE {staging} (LIKE {name}) ON COMMIT DROP",
        f"INSERT INTO {staging}\n{select_sql(table)}",
        f'DELETE FROM {name} WHERE "hour" = $1::timestamptz',  # noqa: S608 our identifiers
        f"INSERT INTO {name} SELECT * FROM {staging}",  # noqa: S608 our identifiers
    )


def load_params(table: FactTable, start: object, end: object) -> list[object]:
    """Bind parameters of the fill statement."""
    return [start, end, *(list(f.event_types) for f in table.facts)]
