"""S3 keys, manifests and cutting CSV at record boundaries."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from services.sync.layout import (
    manifest_json,
    manifest_key,
    new_run_id,
    part_key,
    record_end,
    table_prefix,
)


def test_keys_are_unique_per_run() -> None:
    run_id = new_run_id(datetime(2026, 11, 20, 14, 5, 1, tzinfo=UTC))
    assert run_id.startswith("20261120T140501Z-") and len(run_id) == 25
    assert run_id != new_run_id(datetime(2026, 11, 20, 14, 5, 1, tzinfo=UTC))
    assert part_key("sync", "events", run_id, 7) == f"sync/events/{run_id}/part-00007.csv.gz"
    assert manifest_key("/sync/", "events", "r1") == "sync/events/r1/manifest.json"
    assert table_prefix("", "events") == "events/"


def test_manifest_lists_every_part_as_mandatory() -> None:
    manifest = json.loads(manifest_json("b", [("p/0.csv.gz", 10), ("p/1.csv.gz", 20)]))
    assert manifest == {
        "entries": [
            {"url": "s3://b/p/0.csv.gz", "mandatory": True, "meta": {"content_length": 10}},
            {"url": "s3://b/p/1.csv.gz", "mandatory": True, "meta": {"content_length": 20}},
        ]
    }


@pytest.mark.parametrize(
    ("data", "end"),
    [
        (b"", 0),
        (b"1,a", 0),
        (b"1,a\n", 4),
        (b"1,a\n2,b", 4),
        (b'1,"x\ny"\n2,b', 8),
        (b'1,"x\ny', 0),  # the only newline is inside quotes
        (b'1,"say ""hi""\n"\n2', 16),
        (b'1,""\n2,"\n', 5),
    ],
)
def test_record_end(data: bytes, end: int) -> None:
    assert record_end(data) == end


def test_record_end_splits_real_csv_into_whole_records() -> None:
    rows = [[str(i), f'he said "{i}",\n\\ ünï', ""] for i in range(200)]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
    data = out.getvalue().encode()
    for cut_at in range(1, len(data), 97):
        end = record_end(data[:cut_at])
        head = list(csv.reader(io.StringIO(data[:end].decode())))
        assert head == rows[: len(head)]
