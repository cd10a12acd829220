"""Tracking requests parameter by parameter, the site options that drop hits, visitor
partitioning, batches, times and offsets, day bounds, archive keys, the sites config
(key dates included), COPY escaping and date arguments."""

from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import pytest

from services.piwik.chunks import ChunkPlan, copy_escape, process_chunk
from services.piwik.dates import DateParser, cdt_text, tz_offset
from services.piwik.days import day_range, parse_day, yesterday
from services.piwik.errors import BadDate, UnknownSite
from services.piwik.formats import FormatSpec
from services.piwik.hits import Event, Hit
from services.piwik.s3logs import archive_key
from services.piwik.sites import find_site, parse_sites
from services.piwik.tracking import (
    ImportOptions,
    RequestBuilder,
    day_bounds_utc,
    extension,
    is_bot,
    visitor_key,
)
from shared.errors import ConfigError

T = datetime(2026, 11, 20, 8, 5, 9, tzinfo=UTC)
BROWSER = "Mozilla/5.0 (X11)"
BASE = {"rec", "apiv", "idsite", "url", "urlref", "cip", "ua", "cdt", "queuedtracking", "dp"}


def _hit(path: str = "/p", status: str = "200", **fields) -> Hit:
    path, _, query = path.partition("?")
    values = dict(
        time=T,
        ip="1.2.3.4",
        method="GET",
        host=None,
        path=path,
        query=query,
        status=status,
        length=0,
        referrer="",
        user_agent=BROWSER,
        userid=None,
        generation_ms=0.0,
        event=None,
        line_no=1,
    )
    values.update(fields)
    return Hit(**values)


def _params(hit: Hit, options: ImportOptions | None = None) -> dict[str, str]:
    request, skip = RequestBuilder(
        7, "https://www.example.org", options or ImportOptions()
    ).request(hit)
    assert skip is None and request is not None and request.startswith("?rec=1&")
    return dict(parse_qsl(request[1:], keep_blank_values=True))


def test_page_view_parameters() -> None:
    assert _params(_hit("/p?a=1", referrer="https://r/", length=512)) == {
        "rec": "1",
        "apiv": "1",
        "idsite": "7",
        "url": "https://www.example.org/p?a=1",
        "urlref": "https://r/",
        "cip": "1.2.3.4",
        "ua": BROWSER,
        "cdt": "2026-11-20 08:05:09",
        "queuedtracking": "0",
        "dp": "1",
        "cvar": '{"1": ["HTTP-code", "200"]}',
        "_cvar": '{"1": ["Not-Bot", "Mozilla/5.0 (X11)"]}',
        "bots": "1",
        "bw_bytes": "512",
    }


@pytest.mark.parametrize(
    ("hit", "extra"),
    [
        (_hit("/files/r.PDF"), {"download": "https://www.example.org/files/r.PDF"}),
        (_hit("/static/app.js"), {"download": "https://www.example.org/static/app.js"}),
        (_hit("/robots.txt"), {"download": "https://www.example.org/robots.txt"}),
        (_hit("/v1.2/data"), {}),  # "2/data" is no extension
        (_hit("/api/feed.json?x"), {"download": "https://www.example.org/api/feed.json?x"}),
        (_hit("/x", "404"), {"action_name": "404/URL = https%3A%2F%2Fwww.example.org%2Fx"}),
        (
            _hit("/x", "301", referrer="https://r/é"),
            {
                "action_name": "301/URL = https%3A%2F%2Fwww.example.org%2Fx/From = https%3A%2F%2Fr%2F%C3%A9"
            },
        ),
        (_hit("/x", "304"), {}),
        (_hit(generation_ms=1.99), {"pf_srv": "1"}),
        (_hit(generation_ms=0.5), {"pf_srv": "0"}),  # > 0, truncated: as import_logs.py
        (_hit(userid="alice"), {"uid": "alice"}),
        (_hit(length=-5), {"bw_bytes": "-5"}),
        (
            _hit(event=Event("cloudfront_rtmp", "play", "video")),
            {"e_c": "cloudfront_rtmp", "e_a": "play", "e_n": "video"},
        ),
    ],
)
def test_hit_kinds(hit: Hit, extra: dict[str, str]) -> None:
    params = _params(hit)
    assert {k: v for k, v in params.items() if k not in BASE | {"cvar", "_cvar", "bots"}} == extra


def test_bots_enabled_every_hit_carries_bots_and_the_visit_variable() -> None:
    bot = _params(_hit(user_agent="Feedfetcher-Google; (+http://www.google.com/feedfetcher.html)"))
    person = _params(_hit())
    assert bot["bots"] == person["bots"] == "1"
    assert bot["_cvar"].startswith('{"1": ["Bot", "Feedfetcher') and '"Not-Bot"' in person["_cvar"]
    assert "_cvar" not in _params(_hit(), ImportOptions(bots=False))
    assert "bots" not in _params(_hit(), ImportOptions(bots=False))


@pytest.mark.parametrize(
    ("hit", "options", "reason"),
    [
        (_hit(user_agent="curl/8.4.0"), ImportOptions(bots=False), "bots"),
        (_hit(user_agent="Mozilla/5.0 YandexBot/3.0"), ImportOptions(bots=False), "bots"),
        (_hit("/a.css"), ImportOptions(static=False), "static"),
        (_hit("/robots.txt"), ImportOptions(static=False), "static"),
        (_hit("/x", "500"), ImportOptions(http_errors=False), "http_errors"),
        (_hit("/x", "302"), ImportOptions(http_redirects=False), "http_redirects"),
        # import_logs.py's order: an error is an error before it is a bot's
        (
            _hit("/a.css", "404", user_agent="curl/8"),
            ImportOptions(False, False, False),
            "http_errors",
        ),
    ],
)
def test_options_off_drop_hits_with_a_reason(hit: Hit, options: ImportOptions, reason: str) -> None:
    assert RequestBuilder(1, "https://x.org", options).request(hit) == (None, reason)
    assert RequestBuilder(1, "https://x.org", ImportOptions()).request(hit)[0] is not None


def test_urls() -> None:
    builder = RequestBuilder(1, "https://www.example.org", ImportOptions())
    assert builder.url("shop.example.com", "/a", "b=1") == "https://shop.example.com/a?b=1"
    assert builder.url("", "/a", "") == builder.url("-", "/a", "") == "https://www.example.org/a"
    assert builder.url(None, "http://other.example/x", "y") == "http://other.example/x?y"
    long = builder.url(None, "/" + "a" * 2000, "")
    assert long == "https://www.example.org/" + "a" * 1023  # path capped, as import_logs.py
    assert (
        RequestBuilder(1, "http://h.org", ImportOptions()).url("v.org", "/", "") == "http://v.org/"
    )


def test_extensions_and_bots() -> None:
    assert [extension(p) for p in ("/a.PDF", "/x.tar.gz", "/v1.2/x", "/plain")] == [
        "pdf",
        "gz",
        "2/x",
        "/plain",
    ]
    assert is_bot("Mozilla/5.0 (compatible; Googlebot/2.1)") and is_bot("Java/1.8.0")
    assert not is_bot("Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0")


def test_recorders_get_whole_visitors_in_file_order() -> None:
    lines = [
        f'9.9.9.{i % 5} - - [20/Nov/2026:08:{i // 60:02d}:{i % 60:02d} +0000] "GET /p{i} HTTP/1.1"'
        f' 200 1 "-" "UA {i % 3}"'
        for i in range(60)
    ]
    plan = ChunkPlan(
        FormatSpec("combined"),
        ImportOptions(),
        1,
        "https://x.org",
        "UTC",
        "s",
        "k",
        None,
        default_recorders=3,
    )
    [part] = process_chunk(plan, lines, 1).days.values()
    seen: dict[str, int] = {}
    for recorder, requests in enumerate(part.requests):
        numbers = [int(dict(parse_qsl(r[1:]))["url"].rpartition("/p")[2]) for r in requests]
        assert numbers == sorted(numbers)
        for n in numbers:
            visitor = visitor_key(f"9.9.9.{n % 5}", f"UA {n % 3}")
            assert seen.setdefault(visitor, recorder) == recorder
    assert sum(len(r) for r in part.requests) == 60 and len(seen) == 15


def test_times_offsets_and_cdt() -> None:
    assert tz_offset("-0500") == timedelta(hours=-5)
    assert tz_offset("+05:30") == timedelta(hours=5, minutes=30)
    assert tz_offset("") is None and tz_offset(None) is None
    with pytest.raises(ValueError):
        tz_offset("Z")
    parser = DateParser("%d/%b/%Y:%H:%M:%S")
    assert parser.parse("20/Nov/2026:08:05:09") == parser.parse("20/nov/2026:08:05:09")
    with pytest.raises(ValueError):
        parser.parse("30/Feb/2026:08:05:09")
    assert cdt_text(T) == "2026-11-20 08:05:09"
    assert cdt_text(T.replace(microsecond=584000)) == "2026-11-20 08:05:09.584000"


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
        ("a.bz2", "mtclog/www.example.org/2026/11/20/a.gz"),
        ("a.zip", "mtclog/www.example.org/2026/11/20/a.gz"),
    ],
)
def test_archive_key(key: str, expected: str) -> None:
    assert archive_key("mtclog/", "www.example.org", date(2026, 11, 20), key) == expected


def test_copy_escape() -> None:
    assert copy_escape("a\\b\tc\nd\re\x00f") == "a\\\\b\\tc\\nd\\re" + "f"


def test_sites_config() -> None:
    sites = parse_sites(
        '{"sites": [{"name": "a.org", "id_site": 3, "format": "iis", "timezone": "Europe/Paris",'
        ' "encoding": "big5", "enable_bots": false, "main_url": "http://a.org/",'
        ' "w3c_field_map": {"date-local": "date"},'
        ' "key_date": {"regex": "u_ex(?P<year>\\\\d\\\\d)(?P<month>\\\\d\\\\d)(?P<day>\\\\d\\\\d)",'
        ' "first_offset": 0, "last_offset": 1}},'
        ' {"name": "b.org", "id_site": 4}]}'
    )
    a, b = sites["a.org"], sites["b.org"]
    assert (a.prefix, a.id_site, a.log_format.name, a.encoding, a.main_url) == (
        "a.org/",
        3,
        "iis",
        "big5",
        "http://a.org",
    )
    assert a.options == ImportOptions(bots=False) and a.log_format.w3c.field_map == {
        "date-local": "date"
    }
    assert a.key_date.days("logs/u_ex261120.log") == (date(2026, 11, 20), date(2026, 11, 21))
    assert a.key_date.days("logs/other.log") is None
    assert (b.log_format.name, b.main_url, b.options, b.key_date) == (
        "auto",
        "https://b.org",
        ImportOptions(),
        None,
    )
    with pytest.raises(UnknownSite, match="choose from: a.org, b.org"):
        find_site(sites, "c.org")


@pytest.mark.parametrize(
    ("site", "message"),
    [
        ('{"name": "a", "id_site": 1, "format": "xml"}', "unknown log format 'xml'"),
        ('{"name": "a", "id_site": 1, "encoding": "klingon"}', "unknown encoding"),
        ('{"name": "a", "id_site": 1, "enable_bots": "no"}', "enable_bots must be true or false"),
        ('{"name": "a", "id_site": 1, "format": "regex"}', "needs a regex"),
        ('{"name": "a", "id_site": 1, "key_date": "u_ex(\\\\d+)"}', "groups year, month and day"),
        ('{"name": "a", "id_site": 1, "main_url": "ftp://a"}', "main_url must be an http"),
        ('{"name": "a", "id_site": 0}', "id_site must be a positive number"),
        ('{"name": "a", "id_site": 1, "w3c_field_map": {"x": "nope"}}', "unknown field 'nope'"),
    ],
)
def test_bad_sites_config(site: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_sites(f'{{"sites": [{site}]}}')
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
