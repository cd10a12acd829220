"""Reading log files: unpacking, decoding, the NCSA fast path against its expression,
W3C directives, JSON formats, custom regexes, malformed lines, chunked processing (in
processes too) and which day each line is counted on."""

import bz2
import gzip
import io
import zipfile
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime

import pytest

from services.piwik.chunks import ChunkPlan, process_chunk
from services.piwik.errors import BadLogFile
from services.piwik.formats import DIRECTIVE, FormatSpec, UnknownFormat, line_parser, resolve
from services.piwik.parse_ncsa import TEXT_FORMATS
from services.piwik.parse_regex import RegexFormat
from services.piwik.parse_w3c import W3cOptions
from services.piwik.parsing import decode_lines, detect, parse_file, unpack
from services.piwik.samples import combined_lines, w3c_lines
from services.piwik.tracking import ImportOptions

T = datetime(2026, 11, 20, 20, 55, 36, tzinfo=UTC)
COMBINED = (
    '1.2.3.4 - frank [20/Nov/2026:13:55:36 -0700] "GET /a.html?x=1 HTTP/1.1" 200 2326 '
    '"http://ref.example/" "Mozilla/5.0 (X11)"'
)


def _zip(*members: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for n, data in enumerate(members):
            archive.writestr(f"access{n}.log", data)
    return out.getvalue()


@pytest.mark.parametrize(
    "pack",
    [
        lambda b: b,
        gzip.compress,
        lambda b: gzip.compress(b[:2]) + gzip.compress(b[2:]),  # two gzip members
        bz2.compress,
        lambda b: _zip(b[:2], b[2:]),  # members concatenated
    ],
    ids=["plain", "gzip", "gzip-members", "bzip2", "zip"],
)
def test_unpack_plain_gzip_bzip2_zip(pack) -> None:
    assert unpack("k", pack(b"a\nb\n")) == b"a\nb\n"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (gzip.compress(b"x" * 1000)[:20], "cannot unpack"),
        (bz2.compress(b"x" * 1000)[:20], "cannot unpack"),
        (b"PK\x03\x04broken", "cannot unpack"),
        (b"\x00\x01\x02binary", "binary"),
    ],
)
def test_unpack_rejects_truncated_and_binary(raw: bytes, reason: str) -> None:
    with pytest.raises(BadLogFile, match=reason):
        unpack("logs/k.gz", raw)


def test_decode_lines_encodings_bom_and_line_ends() -> None:
    assert decode_lines("\ufeffa\r\nb\rc\nd".encode(), "utf-8") == ["a", "b", "c", "d"]
    assert decode_lines("/新聞\n".encode("big5"), "big5") == ["/新聞"]
    assert decode_lines(b"caf\xe9\n", "utf-8") == ["caf\ufffd"]  # unreadable: U+FFFD
    assert decode_lines(b"caf\xe9\n", "latin-1") == ["café"]
    assert decode_lines(b"a\x0cb\x1ec\n", "utf-8") == ["a\x0cb\x1ec"]  # only \n, \r end lines


@pytest.mark.parametrize(
    "line",
    [
        COMBINED,
        COMBINED.replace(" ", "  "),
        COMBINED + " trailing junk",
        COMBINED.replace("frank", "-").replace("2326", "-"),
        COMBINED.replace("/a.html?x=1", "http://other.example/x"),
        COMBINED.replace("Mozilla/5.0 (X11)", 'A \\"quoted\\" agent'),
        COMBINED.replace("Mozilla/5.0 (X11)", "ends with \\\\"),
        COMBINED.replace("Mozilla/5.0 (X11)", "ends with \\"),
        COMBINED.replace('"GET /a.html?x=1 HTTP/1.1"', '"-"'),
        COMBINED.replace('"GET /a.html?x=1 HTTP/1.1"', '"GET /no-protocol"'),
        COMBINED.replace("1.2.3.4", "2001:db8::1"),
        COMBINED.replace("1.2.3.4", "host\u00e9"),
        COMBINED.replace("200", "2\u00b200"),
        COMBINED.replace(" 200 ", "\t200\t"),
        COMBINED.replace("-0700", "+05:30"),
        COMBINED.replace("20/Nov", "20/nov"),
        COMBINED.replace("20/Nov", "31/Nov"),
        COMBINED.replace("[20", "[ 20"),
        "",
        "garbage",
    ],
)
@pytest.mark.parametrize("name", ["combined", "common", "vhost_combined", "vhost_common"])
def test_ncsa_fast_path_reads_every_line_as_its_expression_does(name: str, line: str) -> None:
    if name.startswith("vhost"):
        line = f"Shop.Example.COM.:443 {line}"
    fast = TEXT_FORMATS[name]
    plain = RegexFormat(name, fast.pattern, fast.date_format)  # the expression alone
    assert fast.parse(line, 3) == plain.parse(line, 3)


@pytest.mark.parametrize("name", ["combined", "common", "vhost_combined", "vhost_common"])
def test_ncsa_fast_path_reads_plain_lines(name: str) -> None:
    line = COMBINED if name.endswith("combined") else COMBINED.rpartition(' "http')[0]
    if name.startswith("vhost"):
        line = f"Shop.Example.COM.:443 {line}"
    fast = TEXT_FORMATS[name]
    hit = fast._fast(line, 3)
    assert hit is not None and hit == fast.parse(line, 3)
    assert (hit.ip, hit.path, hit.status, hit.length) == ("1.2.3.4", "/a.html", "200", 2326)


def test_combined_fields() -> None:
    hit = TEXT_FORMATS["combined"].parse(COMBINED, 7)
    assert hit is not None
    assert tuple(hit) == (
        T,
        "1.2.3.4",
        "GET",
        None,
        "/a.html",
        "x=1",
        "200",
        2326,
        "http://ref.example/",
        "Mozilla/5.0 (X11)",
        "frank",
        0.0,
        None,
        7,
    )
    vhost = TEXT_FORMATS["vhost_combined"].parse("WWW.Example.COM.:443 " + COMBINED, 1)
    assert vhost is not None and vhost.host == "www.example.com"


def test_w3c_directives_and_fields_changing_midway() -> None:
    lines = [
        "#Software: Microsoft Internet Information Services 10.0",
        "#Fields: date time c-ip cs-method cs-uri-stem cs-uri-query sc-status sc-bytes cs(User-Agent) cs(Cookie)",
        '2026-11-20 20:55:36 1.2.3.4 GET /p a=1 200 10 Mozilla/5.0+(X11) "a=1; b=2"',
        "#Fields: cs(User-Agent) sc-status c-ip time date cs-uri-stem cs-host",
        "UA+2 500 5.6.7.8 20:55:36 2026-11-20 /q WWW.Example.org",
        "2026-11-20 20:55:36 1.2.3.4 GET /p a=1 200 10 X",  # old columns: not these
    ]
    parser = line_parser(resolve(FormatSpec("w3c"), lines))
    results = [parser.parse(line, n) for n, line in enumerate(lines, 1)]
    assert results[0] is DIRECTIVE and results[1] is DIRECTIVE and results[3] is DIRECTIVE
    first, second = results[2], results[4]
    assert (first.path, first.query, first.status, first.user_agent) == (
        "/p",
        "a=1",
        "200",
        "Mozilla/5.0+(X11)",  # IIS's + for spaces is sent as written, as import_logs.py does
    )
    assert (second.ip, second.host, second.status, second.line_no) == (
        "5.6.7.8",
        "www.example.org",
        "500",
        5,
    )
    assert results[5] is None


def test_w3c_without_fields_line_uses_the_configured_one() -> None:
    line = "2026-11-20 20:55:36 1.2.3.4 /p 200"
    assert line_parser(FormatSpec("w3c_extended")).parse(line, 1) is None
    fields = W3cOptions(fields_line="date time c-ip cs-uri-stem sc-status")
    hit = line_parser(FormatSpec("w3c_extended", w3c=fields)).parse(line, 1)
    assert (hit.time, hit.ip, hit.path, hit.status) == (T, "1.2.3.4", "/p", "200")


def test_iis_time_taken_is_milliseconds_w3c_seconds() -> None:
    head = "#Fields: date time c-ip cs-uri-stem sc-status time-taken"
    line = "2026-11-20 20:55:36 1.2.3.4 /p 200 250"
    iis = line_parser(FormatSpec("iis"), head).parse(line, 1)
    w3c = line_parser(FormatSpec("w3c_extended"), head).parse(line, 1)
    assert (iis.generation_ms, w3c.generation_ms) == (250.0, 250000.0)


def test_json_formats_and_nginx_variable_names() -> None:
    nginx = line_parser(FormatSpec("nginx_json"))
    reference_keys = nginx.parse(
        '{"ip": "1.2.3.4", "host": "X.org.", "path": "/j?q=2", "status": "502", "referrer": "-",'
        ' "user_agent": "curl/8", "length": 12, "generation_time_milli": 0.0125,'
        ' "date": "2026-11-20T21:55:36+01:00"}',
        1,
    )
    assert tuple(reference_keys)[:12] == (
        T,
        "1.2.3.4",
        "",
        "x.org",
        "/j",
        "q=2",
        "502",
        12,
        "",
        "curl/8",
        None,
        12.0,
    )
    variables = nginx.parse(
        '{"time_iso8601": "2026-11-20T20:55:36Z", "remote_addr": "1.2.3.4", '
        '"request_method": "GET", "request_uri": "/v", "status": 200, "body_bytes_sent": "9",'
        ' "http_referer": "-", "http_user_agent": "UA", "request_time": "0.5"}',
        2,
    )
    assert (variables.time, variables.path, variables.status, variables.generation_ms) == (
        T,
        "/v",
        "200",
        500.0,
    )
    assert nginx.parse('{"ip": "1.2.3.4"}', 3) is None
    assert nginx.parse("{not json", 4) is None


def test_custom_regex_format() -> None:
    spec = FormatSpec(
        "regex",
        regex=r"(?P<ip>\S+) (?P<date>\S+) (?P<time>\S+) (?P<status>\d+) (?P<path>\S+)",
        date_format="%Y/%m/%d %H:%M:%S",
    )
    hit = line_parser(spec).parse("1.2.3.4 2026/11/20 20:55:36 404 /x?y", 1)
    assert (hit.time, hit.status, hit.path, hit.query) == (T, "404", "/x", "y")
    with pytest.raises(ValueError, match="no group named ip"):
        FormatSpec("regex", regex=r"(?P<date>\S+)")
    with pytest.raises(ValueError, match="bad regex"):
        FormatSpec("regex", regex=r"(?P<ip>")


def test_detection_fails_clearly() -> None:
    with pytest.raises(UnknownFormat):
        resolve(FormatSpec("auto"), ["hello", "world"])
    with pytest.raises(BadLogFile, match="no known log format"):
        detect("k", FormatSpec("auto"), ["hello"])
    with pytest.raises(ValueError, match="unknown log format 'xml'"):
        FormatSpec("xml")


def _plan(spec: FormatSpec, **kwargs) -> ChunkPlan:
    return ChunkPlan(
        spec,
        ImportOptions(),
        1,
        "https://x.org",
        "UTC",
        "s",
        "k",
        kwargs.pop("days", None),
        **kwargs,
    )


def test_lines_are_counted_on_the_day_of_the_hit_before_them() -> None:
    lines = [
        "junk before any hit",
        COMBINED.replace("20/Nov/2026:13:55:36 -0700", "20/Nov/2026:23:59:59 +0000"),
        "junk after the 20th's last hit",
        "",
        COMBINED.replace("20/Nov/2026:13:55:36 -0700", "21/Nov/2026:00:00:00 +0000"),
    ]
    result = process_chunk(_plan(FormatSpec("combined")), lines, 1)
    day20, day21 = date(2026, 11, 20).toordinal(), date(2026, 11, 21).toordinal()
    assert (result.lead.lines, result.lead.bad_lines, result.lead.samples) == (
        1,
        1,
        ["1: junk before any hit"],
    )
    assert (result.days[day20].lines, result.days[day20].bad_lines) == (3, 1)
    assert (result.days[day21].lines, result.days[day21].hits) == (1, 1)
    assert result.last_day == day21


def test_days_not_imported_are_only_counted() -> None:
    lines = combined_lines(datetime(2026, 11, 20, 22, tzinfo=UTC), 4 * 3600, 200, seed=5)
    day21 = date(2026, 11, 21).toordinal()
    result = process_chunk(_plan(FormatSpec("combined"), days=frozenset({day21})), lines, 1)
    day20 = result.days[date(2026, 11, 20).toordinal()]
    assert day20.lines > 0 and day20.hits == 0 and day20.requests == [] and day20.rows == []
    assert result.days[day21].hits == result.days[day21].lines > 0


async def test_chunked_processing_in_processes_equals_one_chunk() -> None:
    lines = w3c_lines(T, 3600, 2500, seed=3)
    lines.insert(1000, "broken line")
    lines.insert(1800, "#Fields: date time c-ip cs-uri-stem sc-status")
    plan = _plan(resolve(FormatSpec("w3c"), lines))
    single = await parse_file(plan, lines, None, size=len(lines))
    with ProcessPoolExecutor(2) as executor:
        chunked = await parse_file(plan, lines, executor, size=700)
    [(day, one)] = single.days.items()
    many = chunked.days[day]
    assert many.requests == one.requests and b"".join(many.rows) == b"".join(one.rows)
    assert (many.lines, many.hits, many.bad_lines) == (one.lines, one.hits, one.bad_lines)
    assert one.bad_lines > 1 and one.samples[0] == "1001: broken line"
    assert chunked.lines == single.lines == len(lines)


def test_a_dry_run_counts_what_an_import_sends() -> None:
    lines = combined_lines(T, 3600, 3000, seed=12)
    for options in (ImportOptions(), ImportOptions(False, False, False, False)):
        real = process_chunk(
            ChunkPlan(FormatSpec("combined"), options, 1, "https://x.org", "UTC", "s", "k", None),
            lines,
            1,
        )
        dry = process_chunk(
            ChunkPlan(
                FormatSpec("combined"),
                options,
                1,
                "https://x.org",
                "UTC",
                "s",
                "k",
                None,
                dry_run=True,
            ),
            lines,
            1,
        )
        [(day, sent)] = real.days.items()
        counted = dry.days[day]
        assert (counted.lines, counted.hits, counted.skipped) == (
            sent.lines,
            sent.hits,
            sent.skipped,
        )
        assert sent.hits == sum(len(r) for r in sent.requests) > 0
        assert counted.requests == [[] for _ in sent.requests] and counted.rows == []
