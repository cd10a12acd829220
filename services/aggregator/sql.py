"""SQL of the aggregator, rendered from ``shared.facts`` (no I/O).

Identifiers come from our own definition and are quoted; values are bind parameters. The
fact SELECT covers events with ``created`` in [$1, $2) (half-open), one row per (campaign,
hour[, dimension]), then one text[] of event types per fact, in the table's fact order.
"""

from __future__ import annotations

from shared.db import quote_ident
from shared.facts import CAMPAIGN_ID, EVENT_TYPE, EVENTS, HOUR, Fact, FactTable
from shared.outbox import AGGREGATE_OUTBOX

__all__ = [
    "source_column",
    "hour_expr",
    "select_sql",
    "select_params",
    "load_statements",
    "insert_sql",
    "compare_sql",
]


def source_column(source: str) -> str:
    """``"visits"."ip"`` for ``visits.ip``."""
    table, column = source.split(".")
    return f"{quote_ident(table)}.{quote_ident(column)}"


def hour_expr(column: str) -> str:
    """The UTC hour start of a timestamptz expression, whatever the session time zone."""
    return f"date_trunc('hour', {column}, 'UTC')"


def _fact_expr(fact: Fact, param: int, dimension: str | None, exact: bool) -> str:
    match = f"{source_column(EVENT_TYPE)} = ANY(${param}::text[])"
    if fact.kind == "sum":
        return f"count(*) FILTER (WHERE {match})"
    if dimension is None:
        raise ValueError(f"distinct fact {fact.name} needs a dimension")
    if exact:
        return f"count(DISTINCT CASE WHEN {match} THEN {dimension} END)"
    # The row is grouped by the dimension itself, so the distinct count is 1 when any of
    # the row's events matches and 0 otherwise: no per-group sort needed.
    return f"(count(*) FILTER (WHERE {match}) > 0)::integer"


def _from_clause(table: FactTable) -> str:
    sql, left = quote_ident(EVENTS), EVENTS
    for joined, left_column, right_column in table.joins:
        sql += (
            f" JOIN {quote_ident(joined)} ON {quote_ident(left)}.{quote_ident(left_column)}"
            f" = {quote_ident(joined)}.{quote_ident(right_column)}"
        )
        left = joined
    return sql


def select_sql(table: FactTable, *, exact: bool = False) -> str:
    """SELECT of the table's rows for the hours [$1, $2), columns in table order.

    ``exact`` renders each distinct fact as the definition's literal count(DISTINCT ...)
    (what ``verify`` recomputes with); the load uses an equivalent form that needs no sort.
    """
    dimension = source_column(table.dimension.source) if table.dimension else None
    created = source_column(HOUR.source)
    campaign = source_column(CAMPAIGN_ID.source)
    keys = [campaign, hour_expr(created)]
    where = [
        f"{created} >= $1::timestamptz",
        f"{created} < $2::timestamptz",
        f"{campaign} IS NOT NULL",
    ]
    if dimension is not None:
        keys.append(dimension)
        where.append(f"{dimension} IS NOT NULL")
    facts = [_fact_expr(f, i + 3, dimension, exact) for i, f in enumerate(table.facts)]
    columns = ", ".join(
        f"{sql} AS {quote_ident(name)}"
        for sql, name in zip(keys + facts, _names(table), strict=True)
    )
    group = ", ".join(str(i + 1) for i in range(len(keys)))
    return (
        f"SELECT {columns}\nFROM {_from_clause(table)}\n"
        f"WHERE {' AND '.join(where)}\nGROUP BY {group}"
    )


def _names(table: FactTable) -> list[str]:
    """The fact table's columns: campaign_id, hour, the dimension if any, the facts."""
    keys = [CAMPAIGN_ID.name, HOUR.name] + ([table.dimension.name] if table.dimension else [])
    return keys + [f.name for f in table.facts]


def select_params(table: FactTable, start: object, end: object) -> list[object]:
    """Bind parameters of :func:`select_sql`."""
    return [start, end, *(list(f.event_types) for f in table.facts)]


def load_statements(table: FactTable) -> tuple[str, str, str, str]:
    """(lock, acknowledge, clear, fill): replace the hours [start, end) of ``table``, run in
    one transaction in this order.

    - lock: $1 = the table's lock name, $2/$3 = first/last+1 hour number; takes every
      hour's lock in ascending order (overlapping ranges wait for each other, never
      deadlock; a dead connection's locks vanish with it);
    - acknowledge: $1 = table slug, $2/$3 = range; deletes the outbox rows this load answers
      (before the fill reads the events, so a row committed later stays for the next load);
    - clear: $1/$2 = range; fill: :func:`select_params`.
    """
    name, outbox = quote_ident(table.name), quote_ident(AGGREGATE_OUTBOX.name)
    return (
        "SELECT pg_advisory_xact_lock(hashtext($1), h)"
        " FROM generate_series($2::integer, $3::integer - 1) AS h",
        f'DELETE FROM {outbox} WHERE "fact_table" = $1'  # noqa: S608 our identifiers
        ' AND "hour" >= $2::timestamptz AND "hour" < $3::timestamptz',
        f'DELETE FROM {name} WHERE "hour" >= $1::timestamptz AND "hour" < $2::timestamptz',  # noqa: S608
        insert_sql(table, table.name, key_order=True),
    )


def insert_sql(
    table: FactTable, target: str, *, exact: bool = False, key_order: bool = False
) -> str:
    """INSERT of :func:`select_sql` into ``target`` (the fact table or one shaped like it).

    ``key_order`` inserts the rows sorted by the primary key: consecutive rows land in the
    same b-tree leaf instead of a random one each, which costs a day's load of the fact
    table (and its indexes) about a fifth less than the hash aggregate's order does.
    """
    columns = ", ".join(map(quote_ident, _names(table)))
    order = ""
    if key_order:
        keys = len(_names(table)) - len(table.facts)
        order = "\nORDER BY " + ", ".join(str(i + 1) for i in range(keys))
    return f"INSERT INTO {quote_ident(target)} ({columns})\n{select_sql(table, exact=exact)}{order}"  # noqa: S608


def compare_sql(table: FactTable, fresh: str) -> str:
    """Stored rows of ``table`` in [$1, $2) against the recomputed table ``fresh``:
    ``missing`` (only in fresh), ``extra`` (only stored), ``changed`` (same key, other
    facts) and ``rows`` (of fresh)."""
    names = _names(table)
    keys, facts = names[: len(names) - len(table.facts)], [f.name for f in table.facts]
    on = " AND ".join(f"s.{quote_ident(k)} = f.{quote_ident(k)}" for k in keys)
    first = quote_ident(keys[0])

    def row(alias: str) -> str:
        return "ROW(" + ", ".join(f"{alias}.{quote_ident(c)}" for c in facts) + ")"

    return (
        f"SELECT count(*) FILTER (WHERE s.{first} IS NULL) AS missing,"  # noqa: S608 ours
        f" count(*) FILTER (WHERE f.{first} IS NULL) AS extra,"
        f" count(*) FILTER (WHERE {row('s')} IS DISTINCT FROM {row('f')}"
        f" AND s.{first} IS NOT NULL AND f.{first} IS NOT NULL) AS changed,"
        f" count(f.{first}) AS rows"
        f" FROM (SELECT * FROM {quote_ident(table.name)}"
        ' WHERE "hour" >= $1::timestamptz AND "hour" < $2::timestamptz) s'
        f" FULL JOIN {quote_ident(fresh)} f ON {on}"
    )
