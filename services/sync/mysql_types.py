"""MySQL/MariaDB source columns: their warehouse types and the SQL that renders each row as
one line of Postgres-style CSV on the server. No I/O.

A column's ``COLUMN_TYPE`` (from ``information_schema``) chooses a Postgres type, which is
also the ``postgres`` warehouse type; ``redshift`` maps that Postgres type the way it maps a
Postgres source's (``services.sync.types``). The server renders every field: NULL as an
unquoted empty field, text always quoted (so the empty string is ``""``), text converted to
utf8mb4 whatever the column's character set, bytes as ``\\x`` hex, TIMESTAMP in UTC (the
session's zone) with ``+00``. Zero and invalid dates, and times outside 00:00-24:00, become
NULL (Postgres time stops at 24:00, Python's before it); a per-row bit mask says which
columns were nulled so the export can count them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from services.sync.errors import UnmappedType
from services.sync.types import map_type
from shared.mysql import quote_mysql_ident

__all__ = [
    "MySQLColumn",
    "parse_column_type",
    "mysql_column",
    "row_select_sql",
    "key_span_sql",
    "key_slices",
    "INTEGER_TYPES",
    "MASK_BITS",
]

# Bits of one mask column (a signed BIGINT holds 63).
MASK_BITS = 63

_TYPE_RE = re.compile(r"^(?P<base>[a-z]+)(?:\((?P<args>.*)\))?(?P<flags>(?: [a-z]+)*)$")
_INTEGERS = {
    # base: (signed Postgres type, unsigned Postgres type)
    "tinyint": ("smallint", "smallint"),
    "smallint": ("smallint", "integer"),
    "mediumint": ("integer", "integer"),
    "int": ("integer", "bigint"),
    "integer": ("integer", "bigint"),
    "bigint": ("bigint", "numeric(20)"),  # unsigned bigint reaches 18446744073709551615
}
INTEGER_TYPES = frozenset(t for pair in _INTEGERS.values() for t in pair)
"""The Postgres types of MySQL integer columns (a key that can be cut into ranges)."""
_TEXTS = {"tinytext", "text", "mediumtext", "longtext"}
_BYTES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}


@dataclass(frozen=True)
class MySQLColumn:
    """How one source column leaves MySQL: its Postgres type, the SQL of its CSV field
    (never NULL), and the SQL condition under which a non-NULL value is sent as NULL."""

    name: str
    pg_type: str
    field_sql: str
    nulled_sql: str | None = None


def parse_column_type(column_type: str) -> tuple[str, list[str], set[str]] | None:
    """``bigint(20) unsigned`` -> ("bigint", ["20"], {"unsigned"}); enum/set labels stay
    quoted. None when the text is not a column type."""
    match = _TYPE_RE.match(column_type.strip().lower())
    if match is None:
        return None
    raw = match["args"]
    args = [a.strip() for a in raw.split(",")] if raw and not raw.startswith("'") else []
    if raw and raw.startswith("'"):
        args = _labels(raw)
    return match["base"], args, set(match["flags"].split())


def _labels(raw: str) -> list[str]:
    """The labels of ``'a','b''c'`` (enum/set), unquoted."""
    return [m.replace("''", "'") for m in re.findall(r"'((?:[^']|'')*)'", raw)]


def _quoted_text(c: str) -> str:
    return f"IF({c} IS NULL, '', CONCAT('\"', REPLACE(CONVERT({c} USING utf8mb4), '\"', '\"\"'), '\"'))"


def _plain(expr: str) -> str:
    return f"IFNULL({expr}, '')"


def _boolean(c: str) -> str:
    return f"CASE WHEN {c} IS NULL THEN '' WHEN {c} + 0 <> 0 THEN 't' ELSE 'f' END"


def _bad_date(c: str) -> str:
    # Functions return 0s for zero dates and zero parts; a day past the month's end exists
    # only under ALLOW_INVALID_DATES. Whatever the functions cannot judge counts as bad.
    first_of_month = f"MAKEDATE(YEAR({c}), 1) + INTERVAL (MONTH({c}) - 1) MONTH"
    return (
        f"({c} IS NOT NULL AND IFNULL(YEAR({c}) = 0 OR MONTH({c}) = 0 OR DAYOFMONTH({c}) = 0"
        f" OR (DAYOFMONTH({c}) > 28 AND DAYOFMONTH({c}) > DAYOFMONTH(LAST_DAY({first_of_month}))),"
        " TRUE))"
    )


def _bad_time(c: str) -> str:
    return f"({c} IS NOT NULL AND (TIME_TO_SEC({c}) < 0 OR TIME_TO_SEC({c}) >= 86400))"


def _temporal(name: str, c: str, pg_type: str, bad: str, text: str) -> MySQLColumn:
    return MySQLColumn(name, pg_type, f"IF({bad} OR {c} IS NULL, '', {text})", bad)


def _length(args: list[str]) -> int | None:
    return int(args[0]) if args and args[0].isdigit() else None


def mysql_column(table: str, name: str, column_type: str) -> MySQLColumn:
    """The mapping of ``table.name`` of MySQL type ``column_type`` (``COLUMN_TYPE`` text, or
    ``json`` for a MariaDB JSON column); UnmappedType naming table, column and type."""
    parsed = parse_column_type(column_type)
    c = quote_mysql_ident(name)
    base, args, flags = parsed if parsed else ("", [], set())
    length = _length(args)
    if base == "tinyint" and length == 1:
        return MySQLColumn(name, "boolean", _boolean(c))
    if base in _INTEGERS:
        signed, unsigned = _INTEGERS[base]
        return MySQLColumn(name, unsigned if "unsigned" in flags else signed, _plain(c))
    if base in ("decimal", "numeric", "dec", "fixed"):
        precision, scale = (args + ["0"])[:2] if args else ("10", "0")
        return MySQLColumn(name, f"numeric({precision},{scale})", _plain(c))
    if base == "float" and not (length and length > 24 and len(args) == 1):
        # Widened to double on the server: the exact float32 value, which real keeps.
        return MySQLColumn(name, "real", _plain(f"{c} + 0e0"))
    if base in ("float", "double", "real"):
        return MySQLColumn(name, "double precision", _plain(c))
    if base == "bit":
        bits = length or 1
        if bits == 1:
            return MySQLColumn(name, "boolean", _boolean(c))
        return MySQLColumn(name, f"bit({bits})", _plain(f"LPAD(BIN({c} + 0), {bits}, '0')"))
    if base == "date":
        return _temporal(name, c, "date", _bad_date(c), c)
    if base == "datetime":
        return _temporal(name, c, "timestamp without time zone", _bad_date(c), c)
    if base == "timestamp":
        return _temporal(name, c, "timestamp with time zone", _bad_date(c), f"CONCAT({c}, '+00')")
    if base == "time":
        return _temporal(name, c, "time without time zone", _bad_time(c), c)
    if base == "year":
        return MySQLColumn(name, "smallint", _plain(f"{c} + 0"))
    if base in ("char", "varchar") and length:
        # MySQL strips CHAR's trailing pad on reading: varchar keeps exactly those values.
        return MySQLColumn(name, f"character varying({length})", _quoted_text(c))
    if base in ("enum", "set") and args:
        longest = max(len(label) for label in args)
        size = longest if base == "enum" else sum(len(label) for label in args) + len(args) - 1
        return MySQLColumn(name, f"character varying({max(size, 1)})", _quoted_text(c))
    if base in _TEXTS:
        return MySQLColumn(name, "text", _quoted_text(c))
    if base == "json":
        return MySQLColumn(name, "json", _quoted_text(c))
    if base in _BYTES:
        hex_text = f"CONCAT(CHAR(92 USING ascii), 'x', HEX({c}))"
        return MySQLColumn(name, "bytea", f"IF({c} IS NULL, '', {hex_text})")
    raise UnmappedType(f"{table}.{name}: no warehouse type for MySQL source type {column_type}")


def warehouse_type(table: str, column: MySQLColumn, dialect: str) -> str:
    """The ``dialect`` type of a mapped column (``postgres`` keeps the Postgres type)."""
    return map_type(table, column.name, column.pg_type, dialect)


KeySlice = tuple[int | None, int | None]


def row_select_sql(
    table: str,
    columns: Sequence[MySQLColumn],
    cursor: str | None = None,
    key: str | None = None,
    key_slice: KeySlice = (None, None),
) -> tuple[str, int]:
    """The export query: one CSV line per row, then the nulled-columns masks (bit i of
    mask k is column ``k * MASK_BITS + i`` of those that can null values); with ``cursor``,
    rows with ``%s < cursor <= %s``; with ``key``, also ``%s <= key`` and/or ``key < %s``
    for the bounds of ``key_slice`` that are not None (the arguments follow in that
    order). Returns the SQL and the number of mask columns."""
    line = "CONCAT(" + ", ',', ".join(c.field_sql for c in columns) + ")"
    nullable = [c.nulled_sql for c in columns if c.nulled_sql]
    masks = [
        " + ".join(f"({bad} << {bit})" for bit, bad in enumerate(nullable[k : k + MASK_BITS]))
        for k in range(0, len(nullable), MASK_BITS)
    ]
    sql = f"SELECT {', '.join([line, *masks])} FROM {quote_mysql_ident(table)}"  # noqa: S608
    conditions = []
    if cursor:
        column = quote_mysql_ident(cursor).replace("%", "%%")
        conditions.append(f"{column} > %s AND {column} <= %s")
    if key:
        column = quote_mysql_ident(key).replace("%", "%%")
        low, high = key_slice
        conditions += [f"{column} >= %s"] if low is not None else []
        conditions += [f"{column} < %s"] if high is not None else []
    if conditions:  # the driver %-formats the query when it has arguments
        sql = sql.replace("%", "%%") + " WHERE " + " AND ".join(conditions)
    return sql, len(masks)


def key_span_sql(table: str, cursor: str, key: str) -> str:
    """The lowest and highest ``key`` and the ``count`` of rows with ``$1 < cursor <= $2``
    (``shared.source`` placeholders; read from the cursor's index alone when ``key`` is the
    primary key, which InnoDB keeps in every secondary index)."""
    column, at = quote_mysql_ident(key), quote_mysql_ident(cursor)
    return (
        f"SELECT MIN({column}) AS lowest, MAX({column}) AS highest, COUNT(*) AS count"  # noqa: S608
        f" FROM {quote_mysql_ident(table)} WHERE {at} > $1 AND {at} <= $2"
    )


def key_slices(
    lowest: int, highest: int, count: int, streams: int, per_stream: int
) -> list[KeySlice]:
    """Cut the keys [lowest, highest] of ``count`` rows into at most ``streams`` ranges of
    about ``per_stream`` rows or more, evenly in key space. The first range is open below
    and the last open above, so together they cover every key whatever was written since
    the bounds were read."""
    n = max(1, min(streams, count // per_stream, highest - lowest + 1))
    cuts = [lowest + (highest - lowest + 1) * i // n for i in range(1, n)]
    bounds: list[int | None] = [None, *cuts, None]
    return list(zip(bounds, bounds[1:], strict=False))
