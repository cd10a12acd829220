"""The piwik service's warehouse tables: ``web_hits`` and the import ledger."""

from shared.schema import Column, Index, Table

__all__ = ["WAREHOUSE_TABLES", "WEB_HITS", "LEDGER", "WEB_HITS_COLUMNS"]

WEB_HITS = Table(
    name="web_hits",
    columns=(
        Column("site", "text", nullable=False),
        Column("hit_time", "timestamptz", nullable=False),
        Column("ip", "text"),
        Column("method", "text"),
        Column("path", "text"),
        Column("status", "int"),
        Column("bytes", "bigint"),
        Column("referrer", "text"),
        Column("user_agent", "text"),
        Column("visitor_key", "text"),
        Column("s3_key", "text", nullable=False),
        Column("line_no", "bigint", nullable=False),
    ),
    indexes=(Index(("site", "hit_time")), Index(("s3_key",))),
)
WEB_HITS_COLUMNS = WEB_HITS.column_names

# One row per (site, day, s3 key, etag): a file holding hits of two days has two rows.
LEDGER = Table(
    name="piwik_ledger",
    columns=(
        Column("site", "text", nullable=False),
        Column("day", "date", nullable=False),
        Column("s3_key", "text", nullable=False),
        Column("etag", "text", nullable=False),
        Column("status", "text", nullable=False),  # running | partial | done | failed
        Column("size_bytes", "bigint", nullable=False, default="0"),
        Column("lines", "bigint", nullable=False, default="0"),
        Column("hits", "bigint", nullable=False, default="0"),
        Column("tracked", "bigint", nullable=False, default="0"),
        Column("invalid", "bigint", nullable=False, default="0"),
        Column("bad_lines", "bigint", nullable=False, default="0"),
        Column("bad_samples", "text[]", nullable=False, default="'{}'"),
        Column("first_hit", "timestamptz"),
        Column("last_hit", "timestamptz"),
        Column("run_id", "text", nullable=False),
        Column("recorders", "int", nullable=False),
        Column("batch_size", "int", nullable=False),
        # Per recorder: how many of its batches Matomo acknowledged (resume point).
        Column("acked_batches", "int[]", nullable=False, default="'{}'"),
        Column("error", "text"),
        Column("archive_key", "text"),
        Column("updated_at", "timestamptz", nullable=False, default="now()"),
    ),
    primary_key=("site", "day", "s3_key", "etag"),
    indexes=(Index(("site", "day")),),
)

WAREHOUSE_TABLES: tuple[Table, ...] = (WEB_HITS, LEDGER)
