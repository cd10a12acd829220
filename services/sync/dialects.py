"""SQL rendering for the warehouse dialects (``postgres`` and ``redshift``). No I/O.

Identifiers come from our settings validated against the catalogs, always quoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.db import quote_ident

__all__ = [
    "RedshiftAuth",
    "staging_name",
    "delta_name",
    "select_sql",
    "row_hash_sql",
    "checksum_sql",
    "postgres_staging_sql",
    "postgres_delta_sql",
    "postgres_index_renames",
    "redshift_create_sql",
    "redshift_copy_sql",
    "swap_sql",
    "merge_sql",
    "analyze_delta_sql",
    "merge_planner_sql",
    "changed_hours_sql",
    "outbox_insert_sql",
]


def staging_name(table: str) -> str:
    """The table a full sync loads before swapping it in."""
    return f"{table}__sync_staging"


def delta_name(table: str) -> str:
    """The table an incremental sync loads before merging it."""
    return f"{table}__sync_delta"


def _cols(columns: Sequence[str], alias: str | None = None) -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + quote_ident(c) for c in columns)


def select_sql(table: str, columns: Sequence[str], cursor: str | None = None) -> str:
    """The export query; with ``cursor``, rows with ``$1 < cursor <= $2``."""
    sql = f"SELECT {_cols(columns)} FROM {quote_ident(table)}"  # noqa: S608
    if cursor:
        sql += f" WHERE {quote_ident(cursor)} > $1 AND {quote_ident(cursor)} <= $2"
    return sql


def row_hash_sql(dialect: str, columns: Sequence[str], alias: str = "t") -> str:
    """A 60-bit hash of one row's values (order-independent checksums sum it)."""
    if dialect == "redshift":
        text = " || '|' || ".join(
            f"coalesce({alias}.{quote_ident(c)}::varchar, '\\\\N')" for c in columns
        )
        return f"strtol(left(md5({text}), 15), 16)"
    return f"('x' || left(md5(ROW({_cols(columns, alias)})::text), 15))::bit(60)::bigint"


def checksum_sql(dialect: str, table: str, columns: Sequence[str]) -> str:
    """``(rows, checksum)`` of ``table``: equal on two tables when they hold the same rows."""
    return (
        f"SELECT count(*) AS rows, coalesce(sum({row_hash_sql(dialect, columns)}::numeric), 0)"  # noqa: S608
        f" AS checksum FROM {quote_ident(table)} t"
    )


def postgres_staging_sql(table: str) -> str:
    """A staging table shaped exactly like the live one, indexes and defaults included."""
    return (
        f"CREATE TABLE {quote_ident(staging_name(table))} (LIKE {quote_ident(table)} INCLUDING ALL)"
    )


def postgres_delta_sql(table: str) -> str:
    """An unindexed, unlogged table for an incremental batch."""
    return (
        f"CREATE UNLOGGED TABLE {quote_ident(delta_name(table))} "
        f"(LIKE {quote_ident(table)} INCLUDING DEFAULTS)"
    )


def postgres_index_renames(
    live: Sequence[tuple[str, str]], staging: Sequence[tuple[str, str]]
) -> list[str]:
    """After a swap, give the new table's indexes the old ones' names (``migrate`` and
    readers know indexes by name). Each argument: ``(index name, signature)`` pairs."""
    free: dict[str, list[str]] = {}
    for name, signature in live:
        free.setdefault(signature, []).append(name)
    renames = []
    for name, signature in staging:
        names = free.get(signature)
        if names:
            renames.append(f"ALTER INDEX {quote_ident(name)} RENAME TO {quote_ident(names.pop(0))}")
    return renames


def redshift_create_sql(
    name: str,
    columns: Sequence[tuple[str, str, bool]],
    primary_key: Sequence[str],
    distkey: str | None = None,
    sortkeys: Sequence[str] = (),
) -> str:
    """CREATE TABLE for Redshift from ``(name, redshift type, not null)`` columns."""
    parts = [f"{quote_ident(c)} {t}{' NOT NULL' if nn else ''}" for c, t, nn in columns]
    if primary_key:
        parts.append(f"PRIMARY KEY ({_cols(primary_key)})")
    sql = f"CREATE TABLE {quote_ident(name)} (\n    " + ",\n    ".join(parts) + "\n)"
    sql += f"\nDISTSTYLE KEY DISTKEY ({quote_ident(distkey)})" if distkey else "\nDISTSTYLE AUTO"
    if sortkeys:
        sql += f"\nCOMPOUND SORTKEY ({_cols(sortkeys)})"
    return sql


@dataclass(frozen=True)
class RedshiftAuth:
    """How Redshift reads S3: an IAM role, or static keys (never logged)."""

    iam_role: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None

    def clause(self, *, redact: bool) -> str:
        if self.iam_role:
            return f"IAM_ROLE '{_literal(self.iam_role)}'"
        if self.access_key_id and self.secret_access_key:
            secret = "***" if redact else _literal(self.secret_access_key)
            return f"ACCESS_KEY_ID '{_literal(self.access_key_id)}' SECRET_ACCESS_KEY '{secret}'"
        return ""


def _literal(value: str) -> str:
    return value.replace("'", "''")


def redshift_copy_sql(
    table: str, columns: Sequence[str], manifest_url: str, auth: RedshiftAuth, *, redact: bool
) -> str:
    """COPY of gzip CSV parts listed in a manifest; ``redact`` hides the secret key."""
    return (
        f"COPY {quote_ident(table)} ({_cols(columns)})\n"
        f"FROM '{_literal(manifest_url)}'\n"
        f"{auth.clause(redact=redact)}\n"
        "MANIFEST GZIP CSV TIMEFORMAT 'auto' DATEFORMAT 'auto' ACCEPTINVCHARS COMPUPDATE OFF"
        " STATUPDATE OFF"
    )


def swap_sql(table: str) -> list[str]:
    """Statements (run in one transaction) replacing ``table`` by its staging table."""
    return [
        f"DROP TABLE {quote_ident(table)}",
        f"ALTER TABLE {quote_ident(staging_name(table))} RENAME TO {quote_ident(table)}",
    ]


def _key_match(primary_key: Sequence[str], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{quote_ident(k)} = {right}.{quote_ident(k)}" for k in primary_key)


def merge_sql(table: str, columns: Sequence[str], primary_key: Sequence[str]) -> list[str]:
    """Statements (run in one transaction) merging the delta table into ``table`` by primary
    key: delete the old versions, insert the new ones, drop the delta."""
    live, delta = quote_ident(table), quote_ident(delta_name(table))
    return [
        f"DELETE FROM {live} USING {delta} d WHERE {_key_match(primary_key, live, 'd')}",  # noqa: S608
        f"INSERT INTO {live} ({_cols(columns)}) SELECT {_cols(columns)} FROM {delta}",  # noqa: S608
        f"DROP TABLE {delta}",
    ]


# Mapped types without a hash function: hashed through their text form.
_UNHASHABLE_TYPES = ("json", "json[]")


def _fast_row_hash(dialect: str, columns: Sequence[tuple[str, str]]) -> str:
    if dialect == "redshift":
        return row_hash_sql(dialect, [name for name, _ in columns])
    # Postgres hashes the binary values: several times faster than hashing row text.
    values = ", ".join(
        f"t.{quote_ident(name)}::text" if pg_type in _UNHASHABLE_TYPES else f"t.{quote_ident(name)}"
        for name, pg_type in columns
    )
    return f"hash_record_extended(ROW({values}), 0)"


def merge_planner_sql(dialect: str) -> list[str]:
    """Planner settings of a merge's transaction. Postgres: index probes priced as the
    cached/SSD reads they are; with the default random_page_cost of 4 a 10,000-row delta
    hash-joins a seq scan of the whole live table (3x slower on 1M rows) in each of the
    changed-hours, DELETE and INSERT steps."""
    return ["SELECT set_config('random_page_cost', '1.1', true)"] if dialect == "postgres" else []


def analyze_delta_sql(table: str) -> str:
    """Statistics for the delta, so joins with the live table probe its key index."""
    return f"ANALYZE {quote_ident(delta_name(table))}"


def _hour(column: str) -> str:
    # The warehouse sessions run in UTC (shared.db), so this is the UTC hour.
    return f"date_trunc('hour', {column})"


def _differs(dialect: str, left: str, right: str) -> str:
    """``left`` and ``right`` differ, NULL equal to NULL (Redshift has no IS DISTINCT FROM)."""
    if dialect == "redshift":
        return f"NOT ({left} = {right} OR ({left} IS NULL AND {right} IS NULL))"
    return f"{left} IS DISTINCT FROM {right}"


def _changed_rows(
    dialect: str, mode: str, table: str, primary_key: Sequence[str], columns: Sequence[str]
) -> str:
    """FROM ... WHERE of the rows inserted, deleted or changed in ``columns`` by this run:
    ``o`` is the live (old) version, ``n`` the loaded (new) one; either may be missing."""
    live, first = quote_ident(table), quote_ident(primary_key[0])
    match = _key_match(primary_key, "o", "n")
    if mode == "full":
        rows = f"{live} o FULL JOIN {quote_ident(staging_name(table))} n ON {match}"
        added_or_gone = f"o.{first} IS NULL OR n.{first} IS NULL"
    else:  # incremental runs never delete
        rows = f"{quote_ident(delta_name(table))} n LEFT JOIN {live} o ON {match}"
        added_or_gone = f"o.{first} IS NULL"
    differ = " OR ".join(
        _differs(dialect, f"o.{quote_ident(c)}", f"n.{quote_ident(c)}") for c in columns
    )
    return f"FROM {rows} WHERE {added_or_gone} OR {differ}"


def _root_full_hours_sql(
    dialect: str, table: str, columns: Sequence[tuple[str, str]], hour_column: str
) -> str:
    """Full mode on the events table: hours whose count or sum of row hashes differ between
    the live and staging tables (two grouped scans; cheaper than a key join of both)."""

    def per_hour(name: str) -> str:
        return (
            f"SELECT {_hour('t.' + quote_ident(hour_column))} AS hour, count(*) AS n,"  # noqa: S608
            f" sum({_fast_row_hash(dialect, columns)}::numeric) AS h"
            f" FROM {quote_ident(name)} t GROUP BY 1"
        )

    return (
        f"SELECT coalesce(a.hour, b.hour) AS hour FROM ({per_hour(table)}) a"  # noqa: S608
        f" FULL JOIN ({per_hour(staging_name(table))}) b ON a.hour = b.hour"
        f" WHERE {_differs(dialect, 'a.n', 'b.n')} OR {_differs(dialect, 'a.h', 'b.h')} ORDER BY 1"
    )


def changed_hours_sql(
    dialect: str,
    mode: str,
    table: str,
    primary_key: Sequence[str],
    columns: Sequence[tuple[str, str]],
    path: Sequence[tuple[str, str, str]],
    hour_source: str,
) -> str:
    """Hours (of ``hour_source``, ``events.created``) of the events whose facts this run of
    ``table`` changes, run before the swap or merge. ``columns`` (name, warehouse type) are
    the ones the facts read; ``path`` the joins from events to ``table`` (empty: ``table``
    is events, and the hours are those of its old and new rows)."""
    root, hour_column = hour_source.split(".")
    names = [name for name, _ in columns]
    if not path:
        if mode == "full":
            return _root_full_hours_sql(dialect, table, columns, hour_column)
        changed = _changed_rows(dialect, mode, table, primary_key, names)
        hour = quote_ident(hour_column)
        # One probe of the live table per loaded row: the CTE, read twice, is computed once.
        return (
            f"WITH changed AS (SELECT {_hour('n.' + hour)} AS new_hour,"  # noqa: S608
            f" {_hour('o.' + hour)} AS old_hour {changed})"
            " SELECT new_hour AS hour FROM changed UNION SELECT old_hour FROM changed ORDER BY 1"
        )
    key = quote_ident(path[-1][2])
    joins, left = "", root
    for joined, left_column, right_column in path[:-1]:
        joins += (
            f" JOIN {quote_ident(joined)} ON {quote_ident(left)}.{quote_ident(left_column)}"
            f" = {quote_ident(joined)}.{quote_ident(right_column)}"
        )
        left = joined
    probe = f"{quote_ident(left)}.{quote_ident(path[-1][1])}"
    return (
        f"WITH changed AS (SELECT o.{key} AS old_key, n.{key} AS new_key"  # noqa: S608
        f" {_changed_rows(dialect, mode, table, primary_key, names)})"
        f" SELECT DISTINCT {_hour(quote_ident(root) + '.' + quote_ident(hour_column))} AS hour"
        f" FROM {quote_ident(root)}{joins}"
        f" WHERE {probe} IN (SELECT old_key FROM changed UNION SELECT new_key FROM changed)"
        " ORDER BY 1"
    )


def outbox_insert_sql(outbox: str) -> str:
    """One outbox row: $1 = fact table slug, $2 = hour, $3 = source, $4 = run id."""
    return (
        f'INSERT INTO {quote_ident(outbox)} ("fact_table", "hour", "source", "run_id")'  # noqa: S608
        " VALUES ($1, $2, $3, $4)"
    )
