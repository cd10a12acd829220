"""The sync service's warehouse tables: one bookkeeping row per synced table."""

from shared.schema import Column, Table

__all__ = ["SYNC_STATE", "WAREHOUSE_TABLES"]

# The incremental watermark (highest cursor value merged) and the last run's outcome.
SYNC_STATE = Table(
    "sync_state",
    (
        Column("table_name", "text", nullable=False),
        Column("watermark", "timestamptz"),
        Column("mode", "text", nullable=False),
        Column("run_id", "text", nullable=False),
        Column("rows", "bigint", nullable=False),
        Column("synced_at", "timestamptz", nullable=False, default="now()"),
    ),
    primary_key=("table_name",),
)

WAREHOUSE_TABLES: tuple[Table, ...] = (SYNC_STATE,)
