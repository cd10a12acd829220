"""A MySQL/MariaDB source against real MariaDB, Postgres, Redis and moto: every mapped type
arrives exactly, latin1 and utf8mb4 text arrive as UTF-8, zero and invalid dates become NULL
and are counted, an unmapped type stops its table with one line, a row too long for
max_allowed_packet is refused, and memory stays flat while uploads lag."""

from __future__ import annotations

import asyncio
import json
import struct
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from services.sync import source
from services.sync.clients import open_clients
from services.sync.errors import SourceRowTooLarge, UnmappedType
from services.sync.export import ExportTarget
from services.sync.mysql_types import key_slices
from services.sync.runner import SyncClients, SyncFailure, sync_all, sync_table
from services.sync.s3 import ensure_bucket
from shared.mysql import connect_mysql
from shared.settings import CoreSettings
from tests.sync.helpers import sync_settings
from tests.sync.sources import T0

BUCKET = "forklift-sync-tests"
ALL_TYPES_SQL = """
CREATE TABLE all_types (
    id int NOT NULL PRIMARY KEY,
    flag tinyint(1), ti tinyint, tiu tinyint unsigned, si smallint, siu smallint unsigned,
    mi mediumint, miu mediumint unsigned, i int, iu int unsigned, bi bigint,
    biu bigint unsigned, dec1 decimal(12,3), dec2 decimal(65,30), fl float, db double,
    d date, dt datetime(6), ts timestamp(6) NULL, tm time(6), y year,
    c char(10), vc varchar(255), tt tinytext, tx text, mt mediumtext, lt longtext,
    en enum('small','medium','large'), st set('a','b','c'), js json,
    bn binary(4), vb varbinary(64), bl blob, lb longblob, b1 bit(1), b10 bit(10),
    lat varchar(64) CHARACTER SET latin1,
    updated datetime(6) NOT NULL
) DEFAULT CHARSET=utf8mb4
"""
TEXTS = [
    "",
    "plain",
    'with "quotes", and, commas',
    "tab\there",
    "multi\nline\r\nvalue",
    "back\\slash \\N and \\.",
    "\\.",
    "ünïcødé ✓ 日本語 🚀👩‍👩‍👧",
    " lead and trail ",
    ",",
    '"',
    "NULL",
]
LATIN = ["", "café crème", "naïve €uro £ ¥ ÿ", 'q"uote,\n\\', "Ærø"]
NUMBERS = {
    "ti": (-128, 127),
    "tiu": (0, 255),
    "si": (-32768, 32767),
    "siu": (0, 65535),
    "mi": (-8388608, 8388607),
    "miu": (0, 16777215),
    "i": (-2147483648, 2147483647),
    "iu": (0, 4294967295),
    "bi": (-9223372036854775808, 9223372036854775807),
    "biu": (0, 18446744073709551615),
}
FLOATS = [0.1, 1.2345678, 3.4028234e38, 1.17549435e-38, -16777217.0, 0.0]
DOUBLES = [0.1 + 0.2, 1.7976931348623157e308, 2.2250738585072014e-308, 5e-324, -1 / 3, 0.0]
BYTES = [b"", b"\x00", b"\x00\x01\\\n\r\t\"',\xff", bytes(range(256)), b"\xf0\x9f\x9a\x80"]


def _float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def _row(k: int) -> dict[str, Any]:
    """Row ``k``: low extremes, high extremes, then cycling through awkward values."""
    row: dict[str, Any] = {"id": k, "updated": T0}
    row["flag"] = k % 2 == 0
    for name, (low, high) in NUMBERS.items():
        row[name] = low if k % 2 else high
    row["dec1"] = Decimal("-999999999.999") if k % 2 else Decimal("123456789.125")
    row["dec2"] = Decimal("12345678901234567890123456789012345.123456789012345678901234567890")
    if k % 3 == 0:
        row["dec2"] = -row["dec2"]
    row["fl"] = FLOATS[k % len(FLOATS)]
    row["db"] = DOUBLES[k % len(DOUBLES)]
    row["d"] = [date(1000, 1, 1), date(9999, 12, 31), date(2024, 2, 29), date(99, 1, 1)][k % 4]
    row["dt"] = [
        datetime(1000, 1, 1),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        datetime(2026, 3, 29, 2, 30, 0, 500000),
    ][k % 3]
    row["ts"] = [
        datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
        datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC),
        T0 + timedelta(microseconds=123456),
    ][k % 3]
    row["tm"] = [time(0, 0), time(23, 59, 59, 999999), time(12, 30, 15, 250000)][k % 3]
    row["y"] = [1901, 2155, 2026][k % 3]
    text = TEXTS[k % len(TEXTS)]
    row["c"] = text[:10].rstrip()  # MySQL drops CHAR's trailing spaces
    for name in ("vc", "tt", "tx", "mt", "lt"):
        row[name] = text
    row["en"] = ["small", "medium", "large"][k % 3]
    row["st"] = ["", "a", "a,c", "a,b,c"][k % 4]
    row["js"] = json.dumps(
        {"k": str(k), "list": [1, 2.5, None, True], "s": 'a"\\\n', "e": "🚀"}, ensure_ascii=False
    )
    blob = BYTES[k % len(BYTES)]
    row["bn"] = (blob[:4]).ljust(4, b"\x00")
    for name in ("vb", "bl", "lb"):
        row[name] = blob[:64]
    row["b1"] = k % 2 == 1
    row["b10"] = format((k * 37) % 1024, "010b")
    row["lat"] = LATIN[k % len(LATIN)]
    return row


COLUMNS = list(_row(0))
ROWS = 24


async def _insert(conn: Any, table: str, rows: list[dict[str, Any]]) -> None:
    names = list(rows[0])
    values = []
    for row in rows:
        out = []
        for name in names:
            value = row[name]
            if isinstance(value, datetime) and value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            out.append(value.hex() if isinstance(value, bytes) else value)
        values.append(tuple(out))

    def mark(name: str) -> str:  # bytes go as hex, bits as '0101' text
        if name in ("bn", "vb", "bl", "lb"):
            return "UNHEX(%s)"
        return "CAST(CONV(%s, 2, 10) AS UNSIGNED)" if name == "b10" else "%s"

    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(map(mark, names))})"
    async with conn.cursor() as cursor:
        await cursor.executemany(sql, values)
    await conn.commit()


@pytest_asyncio.fixture
async def my(mysql_core: CoreSettings) -> AsyncIterator[Any]:
    """A plain connection to the test's MySQL source (for setting it up)."""
    conn = await connect_mysql(mysql_core.source_dsn or "")
    yield conn
    conn.close()


@pytest_asyncio.fixture
async def my_clients(mysql_core: CoreSettings) -> AsyncIterator[SyncClients]:
    async with open_clients(mysql_core) as opened:
        await ensure_bucket(opened.s3, BUCKET)
        yield opened


def _settings(prefix: str, tables: list[str], **overrides: Any):
    return sync_settings(prefix, tables=tables, modes={}, **overrides)


def _expected(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["fl"] = _float32(row["fl"])
    out["updated"] = row["updated"].replace(tzinfo=None)  # datetime -> timestamp
    return out


async def test_every_mapped_type_round_trips_exactly(
    my: Any, my_clients: SyncClients, warehouse: asyncpg.Pool, prefix: str
) -> None:
    async with my.cursor() as cursor:
        await cursor.execute(ALL_TYPES_SQL)
    rows = [_row(k) for k in range(1, ROWS + 1)]
    nulls = {name: None for name in COLUMNS} | {"id": ROWS + 1, "updated": T0}
    await _insert(my, "all_types", [*rows, nulls])

    report = await sync_table(my_clients, _settings(prefix, ["all_types"]), "all_types")
    assert (report.rows, report.nulled) == (ROWS + 1, {})
    select = ", ".join(f"{c}::text AS {c}" if c == "b10" else c for c in COLUMNS)
    got = [dict(r) for r in await warehouse.fetch(f"SELECT {select} FROM all_types ORDER BY id")]
    expected = [_expected(r) for r in rows] + [nulls | {"updated": T0.replace(tzinfo=None)}]
    for want, have in zip(expected, got, strict=True):
        assert have.keys() == want.keys()
        js_want, js_have = want.pop("js"), have.pop("js")
        assert js_have == js_want  # json keeps the source's text
        assert have == want, want["id"]
    types = await warehouse.fetch(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_name = 'all_types' ORDER BY ordinal_position"
    )
    kinds = {r["column_name"]: r["data_type"] for r in types}
    assert (kinds["biu"], kinds["flag"], kinds["ts"], kinds["bl"]) == (
        "numeric",
        "boolean",
        "timestamp with time zone",
        "bytea",
    )


async def test_latin1_and_utf8mb4_tables_arrive_as_utf8(
    my: Any, my_clients: SyncClients, warehouse: asyncpg.Pool, prefix: str
) -> None:
    async with my.cursor() as cursor:
        await cursor.execute(
            "CREATE TABLE latin (id int PRIMARY KEY, name varchar(40), note text)"
            " DEFAULT CHARSET=latin1"
        )
        await cursor.execute(
            "CREATE TABLE modern (id int PRIMARY KEY, name varchar(40), note text)"
            " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
        )
        for k, text in enumerate(LATIN):
            await cursor.execute("INSERT INTO latin VALUES (%s, %s, %s)", (k, text, text * 3))
        for k, text in enumerate(TEXTS):
            await cursor.execute("INSERT INTO modern VALUES (%s, %s, %s)", (k, text, text))
        # bytes that are latin1 (cp1252) in the table, whatever the client sent
        await cursor.execute(
            "INSERT INTO latin VALUES (99, CONVERT(UNHEX('80E9FF') USING latin1), NULL)"
        )
    await my.commit()
    settings = _settings(prefix, ["latin", "modern"])
    assert [r.rows for r in await sync_all(my_clients, settings)] == [len(LATIN) + 1, len(TEXTS)]
    latin = await warehouse.fetch("SELECT id, name, note FROM latin ORDER BY id")
    assert [(r["name"], r["note"]) for r in latin] == [(t, t * 3) for t in LATIN] + [("€éÿ", None)]
    modern = await warehouse.fetch("SELECT name, note FROM modern ORDER BY id")
    assert [(r["name"], r["note"]) for r in modern] == [(t, t) for t in TEXTS]


async def _legacy_table(my: Any, definition: str, rows: list[tuple]) -> None:
    """``CREATE TABLE <definition>`` holding ``rows``, inserted as an old MySQL allowed
    (zero and invalid dates)."""
    name = definition.split(" ", 1)[0]
    marks = ", ".join(["%s"] * len(rows[0]))
    async with my.cursor() as cursor:
        await cursor.execute(f"CREATE TABLE {definition}")
        await cursor.execute("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
        await cursor.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)  # noqa: S608
    await my.commit()


async def test_zero_and_invalid_dates_become_null_and_are_counted(
    my: Any, my_clients: SyncClients, warehouse: asyncpg.Pool, prefix: str
) -> None:
    await _legacy_table(
        my,
        "legacy (id int PRIMARY KEY, d date, dt datetime, ts timestamp NULL, tm time,"
        " note varchar(10))",
        [
            (1, "0000-00-00", "0000-00-00 00:00:00", "0000-00-00 00:00:00", "-01:00:00", "a"),
            (2, "2026-02-31", "2026-00-10 10:00:00", "2026-01-02 03:04:05", "838:59:59", "b"),
            (3, "2026-04-00", "0000-01-01 00:00:00", None, "24:00:00", "c"),
            (4, "2024-02-29", "2026-11-20 10:00:00", "1970-01-01 00:00:01", "23:59:59", "d"),
            (5, None, None, None, None, None),
        ],
    )
    report = await sync_table(my_clients, _settings(prefix, ["legacy"]), "legacy")
    assert report.rows == 5
    assert report.nulled == {"d": 3, "dt": 3, "ts": 1, "tm": 3}
    assert report.line().endswith(" invalid_dates=10 (d=3, dt=3, ts=1, tm=3)")
    rows = await warehouse.fetch("SELECT * FROM legacy ORDER BY id")
    assert [tuple(r) for r in rows] == [
        (1, None, None, None, None, "a"),
        (2, None, None, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), None, "b"),
        (3, None, None, None, None, "c"),
        (
            4,
            date(2024, 2, 29),
            datetime(2026, 11, 20, 10),
            datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
            time(23, 59, 59),
            "d",
        ),
        (5, None, None, None, None, None),
    ]


async def test_incremental_reads_key_ranges_over_several_connections_and_loses_no_row(
    my: Any,
    my_clients: SyncClients,
    warehouse: asyncpg.Pool,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(source, "_MYSQL_STREAM_ROWS", 40)
    cut: list[list[tuple]] = []
    monkeypatch.setattr(source, "key_slices", lambda *a: cut.append(key_slices(*a)) or cut[-1])
    await _legacy_table(
        my,
        "ledger (id bigint unsigned PRIMARY KEY, d date, note varchar(20),"
        " updated datetime(6) NOT NULL)",
        [(k, "0000-00-00" if k % 7 == 0 else "2024-02-29", f"n{k}", T0) for k in range(1, 501)],
    )
    settings = sync_settings(prefix, tables=["ledger"], modes={"ledger": "incremental"})
    assert (await sync_table(my_clients, settings, "ledger")).mode == "full"
    assert cut == []  # a full export is one query: one snapshot

    later = T0 + timedelta(hours=1)
    async with my.cursor() as cursor:  # every 3rd row changes, and one row beyond the keys
        await cursor.execute(
            "UPDATE ledger SET note = CONCAT('u', id), updated = %s WHERE id %% 3 = 0",
            (later.replace(tzinfo=None),),
        )
        await cursor.execute(
            "INSERT INTO ledger VALUES (18446744073709551615, '0000-00-00', 'top', %s)",
            (later.replace(tzinfo=None),),
        )
    await my.commit()
    report = await sync_table(my_clients, settings, "ledger")
    assert (report.mode, report.rows) == ("incremental", 167)
    ((first, *_), *middle, (*_, last)) = slices = cut[0]
    assert len(cut) == 1 and len(slices) == 4 and first is None and last is None
    assert all(a[1] == b[0] for a, b in zip(slices, slices[1:], strict=False))
    assert report.nulled == {"d": 24}  # the 3rd-and-7th rows and the new one, in any stream
    rows = await warehouse.fetch("SELECT id, d, note FROM ledger ORDER BY id")
    assert len(rows) == 501
    for r in rows:
        changed = r["id"] % 3 == 0 or r["id"] == 2**64 - 1
        assert r["note"] == (
            "top" if r["id"] == 2**64 - 1 else f"u{r['id']}" if changed else f"n{r['id']}"
        )
        assert (r["d"] is None) == (r["id"] % 7 == 0 or r["id"] == 2**64 - 1)


async def test_unmapped_type_stops_only_its_table_with_one_line(
    my: Any, my_clients: SyncClients, warehouse: asyncpg.Pool, prefix: str
) -> None:
    async with my.cursor() as cursor:
        await cursor.execute("CREATE TABLE places (id int PRIMARY KEY, shape point)")
        await cursor.execute("INSERT INTO clients (client_id, name) VALUES (7, 'x')")
    await my.commit()
    settings = _settings(prefix, ["places", "clients"])
    with pytest.raises(UnmappedType) as e:
        await sync_table(my_clients, settings, "places")
    assert str(e.value) == "places.shape: no warehouse type for MySQL source type point"
    results = await sync_all(my_clients, settings)
    assert isinstance(results[0], SyncFailure)
    assert results[0].line() == (
        "places: FAILED UnmappedType: places.shape: no warehouse type for MySQL source type point"
    )
    assert results[1].rows == 1
    assert await warehouse.fetchval("SELECT to_regclass('places')") is None


async def test_row_longer_than_max_allowed_packet_is_refused(
    my: Any, my_clients: SyncClients, warehouse: asyncpg.Pool, prefix: str
) -> None:
    async with my.cursor() as cursor:
        await cursor.execute("SELECT @@max_allowed_packet")
        (packet,) = await cursor.fetchone()
        await cursor.execute("CREATE TABLE big (id int PRIMARY KEY, body longtext)")
        await cursor.execute("INSERT INTO big VALUES (1, 'small')")
        # under the packet size as stored, twice over it as CSV (every quote doubled)
        await cursor.execute("INSERT INTO big VALUES (2, REPEAT('\"', %s))", (packet - 1000,))
    await my.commit()
    with pytest.raises(SourceRowTooLarge, match="big: a row's CSV exceeds the server's max_all"):
        await sync_table(my_clients, _settings(prefix, ["big"]), "big")
    assert await warehouse.fetchval("SELECT to_regclass('big')") is not None  # live, empty
    assert await warehouse.fetchval("SELECT count(*) FROM big") == 0


async def test_memory_stays_flat_while_uploads_lag(
    my: Any, my_clients: SyncClients, prefix: str
) -> None:
    async with my.cursor() as cursor:
        await cursor.execute("CREATE TABLE wide (id int PRIMARY KEY, body varchar(1000))")
        await cursor.execute(
            "INSERT INTO wide SELECT seq, REPEAT(MD5(seq), 30) FROM seq_1_to_60000"
        )  # 60,000 rows of ~1 kB: 60 MB of CSV
    await my.commit()
    info = await my_clients.source.describe("wide")
    target = ExportTarget(BUCKET, prefix, "wide", "run", 256 * 1024, 5 * 1024 * 1024, 1, 1)
    slow_parts = 0

    async def slow(key: str) -> None:
        nonlocal slow_parts
        slow_parts += 1
        if slow_parts <= 3:
            await asyncio.sleep(1.0)  # uploads fall behind while MySQL could keep sending

    tracemalloc.start()
    try:
        result = await my_clients.source.export(my_clients.s3, target, info, None, (), slow)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.rows == 60_000 and result.raw_bytes > 58_000_000
    # Parts in flight, a batch and the socket buffers, whatever the table's size. Reading
    # regardless of the slow uploads held the whole table (about 3x its CSV) in memory.
    assert peak < 32 * 1024 * 1024, peak
