"""The hand-off from sync to the aggregator: the ``aggregate_outbox`` warehouse table.

Sync inserts a row per (fact table, hour) its load made stale in the same transaction as
the data, so a commit and its consequence cannot be separated by a crash. The aggregator
reads the table to queue loads and deletes a row in the transaction of the load that
recomputed its hour (the acknowledgement); until then, the row is delivered again.
"""

from __future__ import annotations

from shared.schema import Column, Index, Table

__all__ = ["AGGREGATE_OUTBOX"]

AGGREGATE_OUTBOX = Table(
    "aggregate_outbox",
    (
        Column("fact_table", "text", nullable=False),  # a fact table's slug
        Column("hour", "timestamptz", nullable=False),
        Column("source", "text", nullable=False),  # who wrote it, e.g. sync:visits
        Column("run_id", "text", nullable=False),
        Column("queued_at", "timestamptz", nullable=False, default="now()"),
    ),
    indexes=(Index(("fact_table", "hour")),),
)
