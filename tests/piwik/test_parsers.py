"""Parsers per format, malformed lines included; unpacking; chunked parsing keeps order."""

import gzip
import io
import zipfile
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

import pytest

from services.piwik.errors import BadLogFile
from services.piwik.parsing import parse_chunk, parse_lines, unpack
from services.piwik.samples import w3c_lines

T = datetime(2026, 11, 20, 20, 55, 36, tzinfo=UTC)
COMBINED = (
    '1.2.3.4 - frank [20/Nov/2026:13:55:36 -0700] "GET /a.html?x=1 HTTP/1.1" 200 2326 '
    '"http://ref.example/" "Mozilla/5.0 (X11)"'
)


@pytest.mark.parametrize(
    ("log_format", "line", "expected"),
    [
        (
            "combined",
            COMBINED,
            (
                T,
                "1.2.3.4",
                "GET",
                "",
                "/a.html?x=1",
                200,
                2326,
                "http://ref.example/",
                "Mozilla/5.0 (X11)",
            ),
        ),
        (
            "common",
            '1.2.3.4 - - [20/Nov/2026:20:55:36 +0000] "POST /f HTTP/1.0" 404 -',
            (T, "1.2.3.4", "POST", "", "/f", 404, 0, "", ""),
        ),
        (
            "vhost_combined",
            "shop.example.com:443 " + COMBINED.replace('"http://ref.example/"', '"-"'),
            (
                T,
                "1.2.3.4",
                "GET",
                "shop.example.com",
                "/a.html?x=1",
                200,
                2326,
                "",
                "Mozilla/5.0 (X11)",
            ),
        ),
        (
            "vhost_common",
            'h.example 1.2.3.4 - - [20/Nov/2026:20:55:36 +0000] "GET / HTTP/1.1" 301 0',
            (T, "1.2.3.4", "GET", "h.example", "/", 301, 0, "", ""),
        ),
        (
            "nginx_json",
            '{"time_iso8601": "2026-11-20T21:55:36+01:00", "remote_addr": "1.2.3.4", '
            '"request_method": "GET", "request_uri": "/j?q=2", "status": "502", '
            '"body_bytes_sent": "12", "http_referer": "-", "http_user_agent": "curl/8", "host": "x.org"}',
            (T, "1.2.3.4", "GET", "x.org", "/j?q=2", 502, 12, "", "curl/8"),
        ),
    ],
)
def test_ncsa_and_json_formats(log_format: str, line: str, expected: tuple) -> None:
    result = parse_chunk(log_format, [line], 7)
    assert result.bad_lines == 0
    [hit] = result.hits
    assert tuple(hit)[:-1] == expected and hit.line_no == 7


def test_combined_user_agent_with_escaped_quote() -> None:
    line = COMBINED.replace("Mozilla/5.0 (X11)", 'Bot \\"quoted\\" 1')
    [hit] = parse_chunk("combined", [line], 1).hits
    assert hit.user_agent == 'Bot \\"quoted\\" 1'


def test_w3c_fields_in_any_order_and_changing_midway() -> None:
    lines = [
        "#Software: IIS",
        "#Fields: date time c-ip cs-method cs-uri-stem cs-uri-query sc-status sc-bytes cs(User-Agent) cs(Referer)",
        "2026-11-20 20:55:36 1.2.3.4 GET /p a=1 200 10 Mozilla/5.0+(X11) -",
        "#Fields: cs(User-Agent) sc-status c-ip time date cs-uri-stem cs-host",
        "UA+2 500 5.6.7.8 20:55:36 2026-11-20 /q www.example.org",
    ]
    result = parse_chunk("w3c", lines, 1)
    assert result.bad_lines == 0
    first, second = result.hits
    assert tuple(first)[:-1] == (
        T,
        "1.2.3.4",
        "GET",
        "",
        "/p?a=1",
        200,
        10,
        "",
        "Mozilla/5.0 (X11)",
    )
    assert tuple(second)[:-1] == (T, "5.6.7.8", "GET", "www.example.org", "/q", 500, 0, "", "UA 2")
    assert (first.line_no, second.line_no) == (3, 5)


@pytest.mark.parametrize(
    ("log_format", "lines"),
    [
        (
            "combined",
            [
                "garbage",
                '1.2.3.4 - - [bad date] "GET / HTTP/1.1" 200 1 "-" "-"',
                '1.2.3.4 - - [20/Nov/2026:20:55:36 +0000] "GET / HTTP/1.1" 200 1',
            ],
        ),
        ("common", ['1.2.3.4 - - [20/Nov/2026:20:55:36 +0000] "GET / HTTP/1.1" abc 1']),
        ("w3c", ["2026-11-20 20:55:36 1.2.3.4 GET /p"]),  # data before any #Fields
        ("nginx_json", ["{not json", '{"remote_addr": "1.2.3.4"}']),
    ],
)
def test_malformed_lines_are_counted_and_sampled(log_format: str, lines: list[str]) -> None:
    result = parse_chunk(log_format, [*lines, ""], 1)
    assert result.hits == []
    assert result.bad_lines == len(lines)
    assert result.samples[0].startswith("1: ")


def test_w3c_row_with_wrong_width_is_bad() -> None:
    lines = ["#Fields: date time c-ip cs-uri-stem", "2026-11-20 20:55:36 1.2.3.4 /p extra"]
    result = parse_chunk("w3c", lines, 1)
    assert (len(result.hits), result.bad_lines) == (0, 1)


@pytest.mark.parametrize(
    "pack",
    [
        lambda b: b,
        gzip.compress,
        lambda b: _zip(b),
    ],
)
def test_unpack_plain_gzip_zip(pack) -> None:
    assert unpack("k", pack(b"a\nb\n")) == ["a", "b"]


def _zip(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("access.log", data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(gzip.compress(b"x" * 1000)[:20], "cannot unpack"), (b"\x00\x01\x02binary", "binary")],
)
def test_unpack_rejects_truncated_and_binary(raw: bytes, reason: str) -> None:
    with pytest.raises(BadLogFile, match=reason):
        unpack("logs/k.gz", raw)


async def test_chunked_parse_in_processes_keeps_order_and_w3c_fields() -> None:
    lines = w3c_lines(T, 3600, 2500, seed=3)
    lines.insert(1000, "broken line")
    with ProcessPoolExecutor(2) as executor:
        result = await parse_lines("w3c", lines, executor, size=700)
    single = parse_chunk("w3c", lines, 1)
    assert result.hits == single.hits and len(result.hits) == 2500
    assert result.bad_lines == 1 and result.samples == ["1001: broken line"]
