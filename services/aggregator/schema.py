"""The aggregator's warehouse tables, rendered from the definition in ``shared.facts``.

Each fact table has campaign_id, hour, its extra dimension (if any) and one integer column
per fact; primary key (campaign_id, hour[, dimension]), which also serves the dashboard's
(campaign_id, hour range) reads, and an index on (hour) for the loader's delete. Adding a
fact adds a column on migrate.
The aggregator also owns ``aggregate_outbox`` (``shared.outbox``), where sync leaves the
hours it made stale, and the dashboard rollups and data version (``shared.rollups``).
"""

from __future__ import annotations

from shared.facts import FACT_TABLES, FactTable
from shared.outbox import AGGREGATE_OUTBOX
from shared.rollups import ROLLUP_TABLES
from shared.schema import Column, Index, Table

__all__ = ["WAREHOUSE_TABLES", "fact_schema"]


def fact_schema(table: FactTable) -> Table:
    """The :class:`Table` of one fact table."""
    keys = [Column("campaign_id", "bigint", nullable=False), Column("hour", "timestamptz", False)]
    if table.dimension is not None:
        keys.append(Column(table.dimension.name, table.dimension.type, nullable=False))
    facts = [Column(f.name, "integer", nullable=False, default="0") for f in table.facts]
    return Table(
        table.name,
        (*keys, *facts),
        primary_key=tuple(c.name for c in keys),
        indexes=(Index(("hour",)),),
    )


WAREHOUSE_TABLES: tuple[Table, ...] = (
    *(fact_schema(t) for t in FACT_TABLES),
    AGGREGATE_OUTBOX,
    *ROLLUP_TABLES,
)
