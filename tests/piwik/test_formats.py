"""Every format forklift claims, hit for hit: lines written from each format's
documentation, and the exact tracking parameters Matomo's import_logs.py sends for them
(tests/piwik/data/format_hits.json; forklift's deliberate differences are listed there
with their reason). The lines go through the real path: bytes in the site's encoding,
format detection, chunk processing, request building."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from services.piwik.chunks import ChunkPlan, process_chunk
from services.piwik.formats import FormatSpec
from services.piwik.parse_w3c import W3cOptions
from services.piwik.parsing import decode_lines, detect
from services.piwik.tracking import ImportOptions

DATA = json.loads((Path(__file__).parent / "data" / "format_hits.json").read_text())
MAIN_URL = "https://www.example.org"


def _requests(case: str, fmt: str, site: dict, options: dict) -> list[dict[str, str]]:
    encoding = site.get("encoding", "utf-8")
    raw = ("\n".join(DATA["lines"][case]) + "\n").encode(encoding)
    lines = decode_lines(raw, encoding)
    spec = FormatSpec(
        fmt,
        regex=site.get("regex"),
        date_format=site.get("date_format", "%d/%b/%Y:%H:%M:%S"),
        w3c=W3cOptions(field_map=site.get("w3c_field_map", {})),
    )
    plan = ChunkPlan(
        detect(case, spec, lines), ImportOptions(**options), 1, MAIN_URL, "UTC", "s", case, None
    )
    result = process_chunk(plan, lines, 1)
    requests = [r for part in result.days.values() for recorder in part.requests for r in recorder]
    return [dict(parse_qsl(r[1:], keep_blank_values=True)) for r in requests]


def _key(hit: dict[str, str]) -> str:
    return json.dumps(hit, sort_keys=True, ensure_ascii=False)


@pytest.mark.parametrize(
    "run", DATA["runs"], ids=[f"{r['case']}-{r['options']}" for r in DATA["runs"]]
)
def test_same_hits_as_import_logs(run: dict) -> None:
    sent = _requests(run["case"], run["format"], run["site"], DATA["options"][run["options"]])
    assert sorted(map(_key, sent)) == sorted(map(_key, run["hits"]))


def test_every_claimed_format_is_covered() -> None:
    covered = {r["case"] for r in DATA["runs"]}
    claimed = {
        "common",
        "combined",
        "vhost_common",
        "vhost_combined",
        "icecast2",
        "s3",
        "elb",
        "haproxy",
        "gandi",
        "ovh",
        "w3c",
        "netscaler",
        "amazon_cloudfront",
        "shoutcast",
        "w3c_split",
        "incapsula_w3c",
        "iis_custom",
        "nginx_json",
        "traefik_json",
        "caddy_json",
        "combined_big5",
        "regex",
    }
    assert claimed <= covered
    # every difference from import_logs.py is named and explained
    differing = [r for r in DATA["runs"] if r.get("reference_only") or r.get("forklift_only")]
    assert {r["case"] for r in differing} == {"combined", "w3c", "traefik_json"}
    assert all(r["why"] for r in differing)


@pytest.mark.parametrize(
    ("case", "detected"),
    [
        ("common", "common"),
        ("combined", "combined"),
        ("vhost_common", "vhost_common"),
        ("vhost_combined", "vhost_combined"),
        ("icecast2", "icecast2"),
        ("s3", "s3"),
        ("elb", "elb"),
        ("haproxy", "haproxy"),
        ("gandi", "gandi"),
        ("w3c", "iis"),
        ("netscaler", "w3c_extended"),
        ("amazon_cloudfront", "amazon_cloudfront"),
        ("shoutcast", "shoutcast"),
        ("w3c_split", "w3c_extended"),
        ("incapsula_w3c", "incapsula_w3c"),
        ("nginx_json", "nginx_json"),
        ("traefik_json", "traefik_json"),
        ("caddy_json", "caddy_json"),
    ],
)
def test_format_detection_from_the_first_lines(case: str, detected: str) -> None:
    lines = DATA["lines"][case]
    assert detect(case, FormatSpec("auto"), lines).name == detected
