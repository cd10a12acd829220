"""Tracking requests per hit kind, visitor partitioning, batches, day bounds, archive keys,
sites config and date arguments."""

from datetime import UTC, date, datetime
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import pytest

from services.piwik.days import day_range, parse_day, yesterday
from services.piwik.errors import BadDate, UnknownSite
from services.piwik.hits import Hit
from services.piwik.s3logs import archive_key
from services.piwik.sites import find_site, parse_sites
from services.piwik.tracking import (
    batches,
    day_bounds_utc,
    partition,
    tracking_request,
    visitor_key,
)
from shared.errors import ConfigError

T = datetime(2026, 11, 20, 8, 5, 9, tzinfo=UTC)
BROWSER = "Mozilla/5.0 (X11)"


def _hit(path: str = "/p?a=1", status: int = 200, ua: str = BROWSER, ref: str = "") -> Hit:
    return Hit(T, "1.2.3.4", "GET", "", path, status, 10, ref, ua, 1)


def _params(hit: Hit) -> dict[str, str]:
    request = tracking_request(hit, 7, "https", "www.example.org")
    assert request.startswith("?")
    return dict(parse_qsl(request[1:], keep_blank_values=True))


def test_page_view_parameters() -> None:
    assert _params(_hit(ref="https://r/")) == {
        "rec": "1",
        "apiv": "1",
        "idsite": "7",
        "url": "https://www.example.org/p?a=1",
        "urlref": "https://r/",
        "cip": "1.2.3.4",
        "ua": BROWSER,
        "cdt": "2026-11-20 08:05:09",
        "dp": "1",
    }


@pytest.mark.parametrize(
    ("hit", "extra"),
    [
        (_hit("/files/r.PDF"), {"download": "https://www.example.org/files/r.PDF"}),
        (_hit("/static/app.js"), {}),
        (_hit(ua="Googlebot/2.1"), {"bots": "1"}),
        (_hit("/x", 404), {"action_name": "404/URL = https%3A%2F%2Fwww.example.org%2Fx"}),
        (
            _hit("/x", 301, ref="https://r/"),
            {
                "action_name": "301/URL = https%3A%2F%2Fwww.example.org%2Fx/From = https%3A%2F%2Fr%2F"
            },
        ),
        (_hit("/x", 304), {}),
    ],
)
def test_hit_kinds(hit: Hit, extra: dict[str, str]) -> None:
    params = _params(hit)
    base = {"rec", "apiv", "idsite", "url", "urlref", "cip", "ua", "cdt", "dp"}
    assert {k: v for k, v in params.items() if k not in base} == extra


def test_url_uses_log_host_and_is_capped() -> None:
    hit = _hit("/" + "a" * 2000)._replace(host="shop.example.com")
    url = _params(hit)["url"]
    assert url.startswith("https://shop.example.com/aaa") and len(url) == 1024


def test_partition_keeps_each_visitor_on_one_recorder_in_order() -> None:
    hits = [_hit()._replace(ip=f"9.9.9.{i % 5}", line_no=i) for i in range(50)]
    keys = [visitor_key(h) for h in hits]
    parts = partition(keys, 3)
    assert sorted(i for p in parts for i in p) == list(range(50))
    for part in parts:
        assert part == sorted(part)
        for key in {keys[i] for i in part}:
            assert all(i in part for i, k in enumerate(keys) if k == key)
    assert batches(list(range(5)), 2) == [[0, 1], [2, 3], [4]]


def test_day_bounds_follow_the_site_timezone() -> None:
    start, end = day_bounds_utc(date(2026, 11, 20), ZoneInfo("America/New_York"))
    assert start == datetime(2026, 11, 20, 5, tzinfo=UTC)
    assert end == datetime(2026, 11, 21, 5, tzinfo=UTC)
    assert yesterday(ZoneInfo("Asia/Tokyo"), datetime(2026, 11, 20, 16, tzinfo=UTC)) == date(
        2026, 11, 20
    )


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("logs/www/u_ex261120.log", "mtclog/www.example.org/2026/11/20/u_ex261120.log.gz"),
        ("logs/www/u_ex261120.log.gz", "mtclog/www.example.org/2026/11/20/u_ex261120.log.gz"),
        ("a.zip", "mtclog/www.example.org/2026/11/20/a.gz"),
    ],
)
def test_archive_key(key: str, expected: str) -> None:
    assert archive_key("mtclog/", "www.example.org", date(2026, 11, 20), key) == expected


def test_sites_config_and_unknown_site() -> None:
    sites = parse_sites(
        '{"sites": [{"name": "a.org", "id_site": 3, "format": "w3c", "timezone": "Europe/Paris"}]}'
    )
    assert sites["a.org"].prefix == "a.org/" and sites["a.org"].id_site == 3
    with pytest.raises(UnknownSite, match="choose from: a.org"):
        find_site(sites, "b.org")
    with pytest.raises(ConfigError, match="format must be one of"):
        parse_sites('{"sites": [{"name": "a", "id_site": 1, "format": "xml"}]}')
    with pytest.raises(ConfigError, match="no sites"):
        parse_sites('{"sites": []}')


def test_dates() -> None:
    assert day_range(parse_day("2026-11-30"), parse_day("2026-12-01")) == [
        date(2026, 11, 30),
        date(2026, 12, 1),
    ]
    with pytest.raises(BadDate, match="expected YYYY-MM-DD"):
        parse_day("2026-13-01")
    with pytest.raises(BadDate, match="before it starts"):
        day_range(date(2026, 2, 2), date(2026, 2, 1))
