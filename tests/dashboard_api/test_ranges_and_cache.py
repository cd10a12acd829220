"""The range rules, exact summaries over arbitrary whole-hour ranges from the rollups, the
data-version cache with ETag/304, child and unknown ids, ISO-8601 times in ops status."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from services.aggregator.rollups import rebuild_rollups
from services.dashboard_api import queries
from services.dashboard_api.cache import JoinedRead, JoinedReads
from services.dashboard_api.context import APP_CONTEXT, AppContext
from services.dashboard_api.rollup_metrics import block_key
from shared.heartbeat import SERVICE_PREFIX
from shared.settings import CoreSettings
from tests.clock import iso_z
from tests.dashboard_api.conftest import T0, dashboard_settings, login, serve
from tests.dashboard_api.rainforest_app import RAINFOREST_TOKEN, start_rainforest
from tests.dashboard_api.test_api import INDEPENDENT_SQL

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
IST = timezone(timedelta(hours=5, minutes=30))


def _range(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": iso_z(start), "end": iso_z(end)}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/campaigns/10", {"start": T0 + 30 * timedelta(minutes=1), "end": T0 + HOUR}, "start"),
        ("/api/campaigns/10", {"start": T0 - HOUR, "end": T0 + timedelta(seconds=1)}, "end"),
        ("/api/campaigns", {"start": T0, "end": T0 + HOUR + timedelta(microseconds=1)}, "end"),
        (
            "/api/campaigns/10/series",
            {"start": T0 + timedelta(seconds=59), "end": T0 + DAY},
            "start",
        ),
        (
            "/api/campaigns/10/series?granularity=day",
            {"start": T0 + HOUR, "end": T0 + DAY},
            "start",
        ),
        ("/api/web/www.example.org/daily", {"start": T0, "end": T0 + DAY + HOUR}, "end"),
    ],
)
async def test_a_bound_off_the_grain_is_400_naming_it(
    client: TestClient, path: str, params: dict[str, datetime], field: str
) -> None:
    query = {k: iso_z(v) for k, v in params.items()}
    resp = await client.get(path, params=query, headers=await login(client, "admin"))
    err = (await resp.json())["error"]
    assert resp.status == 400 and err["field"] == field and "UTC" in err["message"], err


async def test_an_offset_is_converted_and_the_answer_says_utc(client: TestClient) -> None:
    headers = await login(client, "acme")
    utc = await (
        await client.get("/api/campaigns/10", params=_range(T0, T0 + DAY), headers=headers)
    ).json()
    # the same instants written in +05:30: the same answer, the range echoed in UTC
    local = {"start": T0.astimezone(IST).isoformat(), "end": (T0 + DAY).astimezone(IST).isoformat()}
    assert local["start"].endswith("+05:30")
    resp = await client.get("/api/campaigns/10", params=local, headers=headers)
    body = await resp.json()
    assert body == utc and body["start"] == iso_z(T0) and body["end"] == iso_z(T0 + DAY)
    # on the hour in +05:30 is half past in UTC: refused, not shifted
    half = (T0 + 30 * timedelta(minutes=1)).astimezone(IST).isoformat()
    resp = await client.get("/api/campaigns/10", params={**local, "start": half}, headers=headers)
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "start"


RANGES = [
    (T0, T0 + HOUR),  # one hour
    (T0 + HOUR, T0 + 3 * HOUR),  # hours within a day
    (T0, T0 + DAY),  # exactly one day
    (T0 + 2 * HOUR, T0 + 2 * DAY + 3 * HOUR),  # hours, a whole day, hours
    (T0 - DAY, T0 + 2 * DAY),  # whole days only
    (T0 + 25 * HOUR, T0 + 26 * HOUR),
]


async def test_summaries_are_exact_over_any_whole_hour_range(
    client: TestClient, warehouse: asyncpg.Pool
) -> None:
    headers = await login(client, "acme")
    for start, end in RANGES:
        expected = dict(await warehouse.fetchrow(INDEPENDENT_SQL, 10, start, end))
        one = await client.get("/api/campaigns/10", params=_range(start, end), headers=headers)
        body = await one.json()
        assert body["metrics"] == expected, (start, end)
        assert (body["campaign_id"], body["client_id"], body["name"]) == (10, 1, "c10")
        listed = await client.get("/api/campaigns", params=_range(start, end), headers=headers)
        by_id = {c["campaign_id"]: c["metrics"] for c in (await listed.json())["campaigns"]}
        assert by_id[10] == expected
    # the fixture's distinct ids repeat across hours: a sum of hours would overcount
    whole = dict(await warehouse.fetchrow(INDEPENDENT_SQL, 10, T0, T0 + 2 * DAY))
    assert whole["visits"] < 4 * 2 and whole["clicks"] > 0


async def test_etag_304_and_a_new_data_version(client: TestClient, warehouse: asyncpg.Pool) -> None:
    headers = await login(client, "acme")
    params = _range(T0, T0 + 2 * DAY)
    first = await client.get("/api/campaigns/10/series", params=params, headers=headers)
    tag = first.headers["ETag"]
    assert first.status == 200 and first.headers["Last-Modified"].endswith(" GMT")
    assert first.headers["Cache-Control"] == "private, no-cache"
    again = await client.get(
        "/api/campaigns/10/series", params=params, headers={**headers, "If-None-Match": tag}
    )
    assert again.status == 304 and await again.read() == b"" and again.headers["ETag"] == tag
    # another range: another ETag, a full answer
    other = await client.get(
        "/api/campaigns/10/series",
        params=_range(T0, T0 + DAY),
        headers={**headers, "If-None-Match": tag},
    )
    assert other.status == 200 and other.headers["ETag"] != tag
    # late data re-aggregated: a new version, a new answer for the same request
    await warehouse.execute(
        "UPDATE misc_facts_hourly SET clicks = clicks + 100 WHERE campaign_id = 11 AND hour = $1",
        T0,
    )
    await rebuild_rollups(warehouse)
    changed = await client.get(
        "/api/campaigns/10/series", params=params, headers={**headers, "If-None-Match": tag}
    )
    assert changed.status == 200 and changed.headers["ETag"] != tag
    before, after = (await first.json())["points"], (await changed.json())["points"]
    assert after[0]["metrics"]["clicks"] == before[0]["metrics"]["clicks"] + 100
    # a 304 is never an answer to a request the user may not make
    forbidden = await client.get(
        "/api/campaigns/20", params=params, headers={**headers, "If-None-Match": "*"}
    )
    assert forbidden.status == 404


async def test_child_and_unknown_campaigns(client: TestClient) -> None:
    headers = await login(client, "acme")
    params = _range(T0, T0 + DAY)
    for path in ("/api/campaigns/11", "/api/campaigns/11/series"):
        resp = await client.get(path, params=params, headers=headers)
        err = (await resp.json())["error"]
        assert resp.status == 404 and err["field"] == "campaign_id"
        assert "root campaign 10" in err["message"] and "/api/campaigns/10" in err["message"]
    for cid in (20, 999):  # another client's, none
        resp = await client.get(f"/api/campaigns/{cid}", params=params, headers=headers)
        assert resp.status == 404 and (await resp.json())["error"]["message"] == "no such campaign"
    resp = await client.get(
        "/api/web/nowhere.example/daily", params=params, headers=await login(client, "admin")
    )
    err = (await resp.json())["error"]
    assert resp.status == 404 and err["field"] == "site" and "nowhere.example" in err["message"]
    resp = await client.get(
        "/api/web/www.example.org/daily", params=params, headers=await login(client, "admin")
    )
    assert (await resp.json())["days"] == [{"day": str(T0.date()), "hits": 1, "visitors": 1}]


async def test_ops_status_times_are_iso_utc(client: TestClient, redis: Redis) -> None:
    moment = T0 + timedelta(hours=7, seconds=1.5)
    await redis.hset(f"{SERVICE_PREFIX}sync", mapping={"last_ok": str(moment.timestamp())})
    resp = await client.get("/api/ops/status", headers=await login(client, "admin"))
    [sync] = [s for s in (await resp.json())["services"] if s["service"] == "sync"]
    assert sync["last_ok"].endswith("Z") and sync["last_failed"] is None
    assert datetime.fromisoformat(sync["last_ok"]) == moment.astimezone(UTC)


async def test_one_error_shape_across_both_apis(
    client: TestClient, seeded: CoreSettings, tmp_path: Path
) -> None:
    runner, url = await start_rainforest(seeded, tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/api/nope", "/api/user/000999"):
                auth = {"Authorization": f"Bearer {RAINFOREST_TOKEN}"}
                async with http.get(url + path, headers=auth) as resp:
                    rainforest = (resp.status, await resp.json())
                dashboard = await client.get(path, headers=await login(client, "admin"))
                body = await dashboard.json()
                # the same envelope and keys, codes from the same table (shared/webapi.py)
                assert set(rainforest[1]) == set(body) == {"error"}
                assert (
                    {"code", "message"}
                    <= set(rainforest[1]["error"])
                    <= {"code", "message", "field"}
                )
                assert rainforest[0] == 404 and rainforest[1]["error"]["code"] == "not_found"
        assert body["error"] == {"code": "not_found", "message": "no such route"}
    finally:
        await runner.cleanup()


async def _warmed(ctx: AppContext, version: int) -> None:
    """Until the app's warm-up has read ``version`` (bounded: the warm-up runs in the
    background of the app)."""
    for _ in range(500):
        if ctx.warmer is not None and ctx.warmer.warmed == version:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no warm-up of version {version}")


async def test_the_warm_up_reads_the_newest_days_at_start_and_after_a_load(
    seeded: CoreSettings, warehouse: asyncpg.Pool
) -> None:
    client = await serve(seeded, dashboard_settings(warm_days=2, warm_pause_s=0))
    try:
        ctx = client.app[APP_CONTEXT]
        version = await warehouse.fetchval("SELECT version FROM dashboard_data_version")
        await _warmed(ctx, version)
        # the newest 2 days with data (T0 and the day after), of every root with data then
        for root, day in ((10, T0), (10, T0 + DAY), (12, T0), (20, T0)):
            assert ctx.blocks.get(version, block_key(root, day)) is not None, (root, day)
        assert ctx.blocks.get(version, block_key(10, T0 - DAY)) is None
        # and those roots' campaign rows, as a request's campaign check reads them
        row = ctx.campaigns.get(version, 12)
        assert row is not None and row["root_campaign_id"] == 12
        assert dict(row) == dict(await queries.fetch_campaign(warehouse, 12))
        _, buckets, _, _ = ctx.blocks.get(version, block_key(10, T0))
        hours = [at for at, _, _, _ in buckets]
        assert hours == [T0, T0 + HOUR, T0 + 2 * HOUR]
        # a load bumps the version: the first request that reads it starts a new warm-up
        await rebuild_rollups(warehouse)
        new = await warehouse.fetchval("SELECT version FROM dashboard_data_version")
        headers = await login(client, "acme")
        resp = await client.get("/api/campaigns/10", params=_range(T0, T0 + DAY), headers=headers)
        assert resp.status == 200 and new != version
        await _warmed(ctx, new)
        assert ctx.blocks.get(new, block_key(12, T0)) is not None
    finally:
        await client.close()


async def _settle() -> None:
    """Let the started tasks run up to their next wait."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_requests_arriving_together_share_one_version_read_never_an_older_one() -> None:
    reads: list[asyncio.Future[int]] = []

    async def read() -> int:
        reads.append(asyncio.get_running_loop().create_future())
        return await reads[-1]

    joined = JoinedRead(read)
    first = asyncio.create_task(joined.get())
    await _settle()
    # arriving while the first read runs: they wait for the next one, which they share
    second, third = asyncio.create_task(joined.get()), asyncio.create_task(joined.get())
    await _settle()
    assert len(reads) == 1
    reads[0].set_result(1)
    assert await first == 1
    await _settle()
    assert len(reads) == 2 and not second.done()
    reads[1].set_exception(OSError("gone"))  # every waiter of a failed read gets its error
    for waiter in (second, third):
        with pytest.raises(OSError, match="gone"):
            await waiter
    later = asyncio.create_task(joined.get())
    await _settle()
    reads[2].set_result(3)
    assert await later == 3 and len(reads) == 3


async def test_reads_of_one_key_are_joined_other_keys_read_apart_and_idle_keys_forgotten() -> None:
    reads: list[tuple[str, asyncio.Future[str]]] = []

    async def read(key: str) -> str:
        reads.append((key, asyncio.get_running_loop().create_future()))
        return await reads[-1][1]

    joined: JoinedReads[str, str] = JoinedReads(read)
    a1, b1 = asyncio.create_task(joined.get("a")), asyncio.create_task(joined.get("b"))
    await _settle()
    a2 = asyncio.create_task(joined.get("a"))  # arrives while "a" is read: the next read
    await _settle()
    assert [key for key, _ in reads] == ["a", "b"] and len(joined) == 2
    reads[0][1].set_result("a-1")
    reads[1][1].set_result("b-1")
    assert (await a1, await b1) == ("a-1", "b-1")
    await _settle()
    assert [key for key, _ in reads] == ["a", "b", "a"] and len(joined) == 1
    reads[2][1].set_result("a-2")
    assert await a2 == "a-2"
    await _settle()
    assert len(joined) == 0  # nobody waits: nothing kept


async def test_a_joined_read_starts_before_anyone_awaits_it() -> None:
    """``join()`` (the request's version and user reads, begun beside its session read)
    starts the read at once, with no waiter; its future holds the read's answer or error,
    and a later join is answered by the next read."""
    reads: list[asyncio.Future[int]] = []

    async def read() -> int:
        reads.append(asyncio.get_running_loop().create_future())
        return await reads[-1]

    joined = JoinedRead(read)
    dropped = joined.join()
    await _settle()
    assert len(reads) == 1 and not dropped.done()
    reads[0].set_exception(OSError("gone"))
    await _settle()
    assert dropped.done() and isinstance(dropped.exception(), OSError)
    kept = joined.join()
    await _settle()
    reads[1].set_result(2)
    assert await asyncio.shield(kept) == 2 and len(reads) == 2
