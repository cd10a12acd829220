"""The piwik service's warehouse tables: ``web_hits`` and the import ledger."""

from shared.schema import Column, Index, Table

__all__ = ["WAREHOUSE_TABLES", "WEB_HITS", "LEDGER", "FILE_DAYS", "WEB_HITS_COLUMNS"]

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

# One row per (site, day, s3 key, etag), for the days the file's lines belong to (the day of
# each line's own time in the site's timezone): a file holding hits of two days has two
# rows, each with that day's share of the file. s3_key is the local path for local files.
LEDGER = Table(
    name="piwik_ledger",
    columns=(
        Column("site", "text", nullable=False),
        Column("day", "date", nullable=False),
        Column("s3_key", "text", nullable=False),
        Column("etag", "text", nullable=False),
        Column("status", "text", nullable=False),  # running | partial | done | failed
        Column("size_bytes", "bigint", nullable=False, default="0"),  # the day's share
        Column("lines", "bigint", nullable=False, default="0"),  # the day's lines
        Column("hits", "bigint", nullable=False, default="0"),
        Column("tracked", "bigint", nullable=False, default="0"),
        Column("invalid", "bigint", nullable=False, default="0"),
        Column("bad_lines", "bigint", nullable=False, default="0"),
        Column("bad_samples", "text[]", nullable=False, default="'{}'"),
        # parsed hits not sent under the site's options (import_logs.py's --enable-*)
        Column("skipped_http_errors", "bigint", nullable=False, default="0"),
        Column("skipped_http_redirects", "bigint", nullable=False, default="0"),
        Column("skipped_static", "bigint", nullable=False, default="0"),
        Column("skipped_bots", "bigint", nullable=False, default="0"),
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

# The days each log file holds, so files are picked by the days of their lines: exact
# once a file was read whole, else from its first and last lines (a probe).
FILE_DAYS = Table(
    name="piwik_file_days",
    columns=(
        Column("site", "text", nullable=False),
        Column("s3_key", "text", nullable=False),
        Column("etag", "text", nullable=False),
        Column("first_day", "date"),  # NULL: no line with a time (nothing to import)
        Column("last_day", "date"),
        Column("exact", "boolean", nullable=False),
        Column("updated_at", "timestamptz", nullable=False, default="now()"),
    ),
    primary_key=("site", "s3_key", "etag"),
)

WAREHOUSE_TABLES: tuple[Table, ...] = (WEB_HITS, LEDGER, FILE_DAYS)
