"""Declarative table definitions and the Postgres DDL rendered from them (no I/O).

Services describe their tables as :class:`Table` values; ``forklift db migrate`` creates
missing tables, adds missing columns and indexes from them (see ``shared.migrate``).
Types and defaults are SQL fragments written in our own code, never user input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.db import quote_ident

__all__ = ["Column", "Index", "Table"]


@dataclass(frozen=True)
class Column:
    """One column: name, SQL type, nullability and an optional SQL default expression."""

    name: str
    type: str
    nullable: bool = True
    default: str | None = None

    def definition(self) -> str:
        sql = f"{quote_ident(self.name)} {self.type}"
        if self.default is not None:
            sql += f" DEFAULT {self.default}"
        if not self.nullable:
            sql += " NOT NULL"
        return sql


@dataclass(frozen=True)
class Index:
    """A (possibly unique) b-tree index over ``columns``."""

    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class Table:
    """A table definition from which CREATE TABLE / ADD COLUMN / CREATE INDEX are rendered."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = field(default_factory=tuple)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def create_sql(self) -> str:
        parts = [c.definition() for c in self.columns]
        if self.primary_key:
            parts.append(f"PRIMARY KEY ({', '.join(map(quote_ident, self.primary_key))})")
        body = ",\n    ".join(parts)
        return f"CREATE TABLE IF NOT EXISTS {quote_ident(self.name)} (\n    {body}\n)"

    def add_column_sql(self, column: Column) -> str:
        return (
            f"ALTER TABLE {quote_ident(self.name)} ADD COLUMN IF NOT EXISTS {column.definition()}"
        )

    def index_name(self, index: Index) -> str:
        suffix = "_".join(index.columns)
        return f"{self.name}_{suffix}_{'uidx' if index.unique else 'idx'}"[:63]

    def index_sql(self) -> list[str]:
        return [
            f"CREATE {'UNIQUE ' if index.unique else ''}INDEX IF NOT EXISTS "
            f"{quote_ident(self.index_name(index))} ON {quote_ident(self.name)} "
            f"({', '.join(map(quote_ident, index.columns))})"
            for index in self.indexes
        ]
