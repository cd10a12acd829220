"""Where a run's files go on S3, its manifest, and cutting CSV into parts. No I/O."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime

__all__ = ["new_run_id", "table_prefix", "part_key", "manifest_key", "manifest_json", "record_end"]


def new_run_id(now: datetime) -> str:
    """A run id unique per run and sortable by time: ``20261120T140501Z-1a2b3c4d``."""
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def table_prefix(prefix: str, table: str) -> str:
    """Every run of ``table`` writes under this prefix (cleaned after a successful run)."""
    return f"{prefix.strip('/')}/{table}/" if prefix.strip("/") else f"{table}/"


def part_key(prefix: str, table: str, run_id: str, number: int) -> str:
    """``<prefix>/<table>/<run_id>/part-NNNNN.csv.gz``, numbered from 0."""
    return f"{table_prefix(prefix, table)}{run_id}/part-{number:05d}.csv.gz"


def manifest_key(prefix: str, table: str, run_id: str) -> str:
    return f"{table_prefix(prefix, table)}{run_id}/manifest.json"


def manifest_json(bucket: str, parts: Sequence[tuple[str, int]]) -> bytes:
    """A Redshift COPY manifest for ``(key, gzip size)`` parts, all mandatory."""
    entries = [
        {"url": f"s3://{bucket}/{key}", "mandatory": True, "meta": {"content_length": size}}
        for key, size in parts
    ]
    return json.dumps({"entries": entries}, indent=1).encode()


def record_end(csv: bytes | bytearray) -> int:
    """The length of the longest prefix of ``csv`` (which starts at a record boundary) that
    ends at a record boundary: after a newline outside quotes; 0 when there is none.

    Postgres CSV quotes any field holding a quote, comma or newline and doubles inner
    quotes, so a newline ends a record exactly when the quotes before it are balanced.
    """
    quotes_after = 0
    end = len(csv)
    total = csv.count(b'"')
    while True:
        newline = csv.rfind(b"\n", 0, end)
        if newline < 0:
            return 0
        quotes_after += csv.count(b'"', newline, end)
        if (total - quotes_after) % 2 == 0:
            return newline + 1
        end = newline
