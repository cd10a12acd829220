"""Mapping source Postgres column types (``format_type`` text) to a warehouse dialect. No I/O."""

from __future__ import annotations

import re

from services.sync.errors import UnmappedType

__all__ = ["map_type"]

# Types the postgres warehouse takes as they are (base name, without modifiers or []).
_POSTGRES_TYPES = frozenset(
    {
        "smallint",
        "integer",
        "bigint",
        "real",
        "double precision",
        "numeric",
        "boolean",
        "text",
        "character varying",
        "character",
        "date",
        "time without time zone",
        "timestamp without time zone",
        "timestamp with time zone",
        "interval",
        "json",
        "jsonb",
        "uuid",
        "bytea",
        "inet",
        "bit",
    }
)
_REDSHIFT_MAX_VARCHAR = 65535
_REDSHIFT_TYPES = {
    "smallint": "SMALLINT",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "real": "REAL",
    "double precision": "DOUBLE PRECISION",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "time without time zone": "TIME",
    "timestamp without time zone": "TIMESTAMP",
    "timestamp with time zone": "TIMESTAMPTZ",
    "uuid": "CHAR(36)",
    "inet": "VARCHAR(64)",
    # Redshift has no native type for these: their Postgres text form, as VARCHAR.
    "text": f"VARCHAR({_REDSHIFT_MAX_VARCHAR})",
    "json": f"VARCHAR({_REDSHIFT_MAX_VARCHAR})",
    "jsonb": f"VARCHAR({_REDSHIFT_MAX_VARCHAR})",
    "bytea": f"VARCHAR({_REDSHIFT_MAX_VARCHAR})",
    "interval": "VARCHAR(64)",
}
_TYPE_RE = re.compile(r"^(?P<base>[a-z ]+?)(?:\((?P<mods>[0-9, ]+)\))?(?P<array>(\[\])*)$")


def _split(pg_type: str) -> tuple[str, list[int], bool] | None:
    match = _TYPE_RE.match(pg_type.strip().lower())
    if match is None:
        return None
    mods = [int(m) for m in match["mods"].split(",")] if match["mods"] else []
    base = match["base"].strip()
    return base, mods, bool(match["array"])


def _redshift(base: str, mods: list[int], is_array: bool) -> str | None:
    if is_array:
        return f"VARCHAR({_REDSHIFT_MAX_VARCHAR})"  # arrays land as their Postgres text form
    if base == "numeric":
        precision, scale = (mods + [0])[:2] if mods else (38, 10)
        return f"NUMERIC({min(precision, 38)},{min(scale, 37)})"
    if base == "bit":
        return f"VARCHAR({mods[0] if mods else 1})"  # the bits as '0'/'1' text
    if base in ("character varying", "character"):
        # Redshift lengths are bytes; a UTF-8 character takes up to 4.
        length = min(4 * mods[0], _REDSHIFT_MAX_VARCHAR) if mods else _REDSHIFT_MAX_VARCHAR
        return f"VARCHAR({length})"
    return _REDSHIFT_TYPES.get(base)


def map_type(table: str, column: str, pg_type: str, dialect: str) -> str:
    """The ``dialect`` ("postgres" or "redshift") type for source column ``table.column`` of
    Postgres type ``pg_type``; UnmappedType naming the column and type when there is none."""
    # format_type puts a precision mid-name: "timestamp(3) with time zone"
    normalized = re.sub(r"\((\d+)\) with", " with", pg_type.strip().lower())
    parts = _split(normalized)
    mapped: str | None = None
    if parts is not None:
        base, mods, is_array = parts
        if dialect == "postgres":
            mapped = pg_type if base in _POSTGRES_TYPES else None
        elif dialect == "redshift":
            mapped = _redshift(base, mods, is_array) if base in _POSTGRES_TYPES else None
    if mapped is None:
        raise UnmappedType(
            f"{table}.{column}: no {dialect} warehouse type for source type {pg_type}"
        )
    return mapped
