"""Reads from the source (Django auth, Postgres or MySQL) and the warehouse. A missing table
reads as empty."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any

import asyncpg

from services.dashboard_api.cache import VersionedCache
from services.dashboard_api.metrics import (
    CAMPAIGNS_OF_ROOTS,
    Grouping,
    merge_rows,
    metric_queries,
)
from services.dashboard_api.rollup_metrics import (
    BLOCKS_SQL,
    DATA_VERSION_SQL,
    DAY,
    DAYS_SQL,
    LAST_DAY_SQL,
    ROOTS_OF_DAY_SQL,
    DayBlock,
    block_key,
    build_blocks,
    day_span,
)
from shared.source import SourceDatabase, SourceTableMissing

__all__ = [
    "fetch_user_by_name",
    "fetch_user_by_id",
    "fetch_clients",
    "fetch_root_campaigns",
    "fetch_campaign_client",
    "fetch_metrics",
    "fetch_campaign",
    "fetch_blocks",
    "fetch_data_version",
    "warm_blocks",
    "site_known",
    "fetch_edgeplorer",
    "fetch_event_counts",
    "fetch_web_daily",
]

ROW_LIMIT = 1000


async def _fetch(pool: asyncpg.Pool, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Rows of ``sql``; none when a table it reads does not exist yet."""
    try:
        return await pool.fetch(sql, *args)
    except asyncpg.UndefinedTableError:
        return []


_USER_SQL = "SELECT id, username, password, is_superuser, is_active FROM auth_user WHERE "
# MySQL compares by the column's collation, usually blind to case and trailing spaces: the
# UTF-8 bytes must match too, so a username logs in exactly as it would on Postgres.
_BY_NAME = {
    "postgres": _USER_SQL + "username = $1",
    "mysql": _USER_SQL
    + "username = $1 AND CAST(CONVERT(username USING utf8mb4) AS BINARY) = CAST($1 AS BINARY)",
}
# the per-request session check in one round trip: the user's row once per client its
# groups grant (client_id NULL when none)
_USER_AND_CLIENTS_SQL = (
    "SELECT u.id, u.username, u.password, u.is_superuser, u.is_active, cag.client_id"
    " FROM auth_user u LEFT JOIN auth_user_groups ug ON ug.user_id = u.id"
    " LEFT JOIN clients_auth_groups cag ON cag.group_id = ug.group_id WHERE u.id = $1"
)
_CLIENTS_SQL = (
    "SELECT DISTINCT cag.client_id FROM auth_user_groups ug "
    "JOIN clients_auth_groups cag ON cag.group_id = ug.group_id "
    "WHERE ug.user_id = $1 ORDER BY 1"
)


async def _fetch_source(source: SourceDatabase, sql: str, *args: Any) -> list[Any]:
    """Rows of ``sql`` from the source; none when a table it reads does not exist yet."""
    try:
        return await source.fetch(sql, *args)
    except SourceTableMissing:
        return []


async def _with_clients(source: SourceDatabase, rows: list[Any]) -> dict[str, Any] | None:
    """The user of ``rows`` (if any) with ``client_ids``: the clients its groups grant."""
    if not rows:
        return None
    user = dict(rows[0])
    granted = await _fetch_source(source, _CLIENTS_SQL, user["id"])
    return {**user, "client_ids": [r["client_id"] for r in granted]}


async def fetch_user_by_name(source: SourceDatabase, username: str) -> dict[str, Any] | None:
    """The Django user ``username`` (exact match) and its clients, or None."""
    rows = await _fetch_source(source, _BY_NAME[source.dialect], username)
    return await _with_clients(source, rows)


async def fetch_user_by_id(source: SourceDatabase, user_id: int) -> dict[str, Any] | None:
    """The user a session belongs to, as it is now (None once deleted)."""
    try:
        rows = await source.fetch(_USER_AND_CLIENTS_SQL, user_id)
    except SourceTableMissing:  # no group tables yet: the user alone, without clients
        return await _with_clients(
            source, await _fetch_source(source, _USER_SQL + "id = $1", user_id)
        )
    if not rows:
        return None
    user = {k: v for k, v in dict(rows[0]).items() if k != "client_id"}
    granted = sorted({r["client_id"] for r in rows if r["client_id"] is not None})
    return {**user, "client_ids": granted}


async def fetch_clients(warehouse: asyncpg.Pool) -> list[asyncpg.Record]:
    return await _fetch(warehouse, "SELECT client_id, name FROM clients ORDER BY client_id")


async def fetch_root_campaigns(warehouse: asyncpg.Pool, client_id: int) -> list[asyncpg.Record]:
    """The client's live root campaigns (campaign_properties.root_campaign_id)."""
    return await _fetch(
        warehouse,
        "SELECT c.campaign_id, c.name FROM campaigns c WHERE c.client_id = $1 "
        "AND c.delete_dt IS NULL AND c.campaign_id IN "
        "(SELECT root_campaign_id FROM campaign_properties) ORDER BY c.campaign_id",
        client_id,
    )


async def fetch_campaign_client(warehouse: asyncpg.Pool, campaign_id: int) -> int | None:
    rows = await _fetch(
        warehouse,
        "SELECT client_id FROM campaigns WHERE campaign_id = $1 AND delete_dt IS NULL",
        campaign_id,
    )
    return rows[0]["client_id"] if rows else None


# live campaigns $1 (bigint[]): campaign_id, client_id, name, root_campaign_id (None
# without properties)
_CAMPAIGNS_SQL = (
    "SELECT c.campaign_id, c.client_id, c.name, min(cp.root_campaign_id) AS root_campaign_id"
    " FROM campaigns c LEFT JOIN campaign_properties cp ON cp.campaign_id = c.campaign_id"
    " WHERE c.campaign_id = ANY($1::bigint[]) AND c.delete_dt IS NULL GROUP BY 1, 2, 3"
)


async def fetch_campaign(warehouse: asyncpg.Pool, campaign_id: int) -> asyncpg.Record | None:
    """A live campaign's client_id, name and root_campaign_id (None without properties)."""
    rows = await _fetch(warehouse, _CAMPAIGNS_SQL, [campaign_id])
    return rows[0] if rows else None


async def fetch_blocks(
    warehouse: asyncpg.Pool,
    cache: VersionedCache,
    version: int,
    roots: Sequence[int],
    start: datetime,
    end: datetime,
) -> dict[int, list[DayBlock]]:
    """Per root, the rollup blocks of the UTC days [start, end) touches, in day order:
    from ``cache`` (data ``version``), the missing ones read in one query over their span,
    under the missing roots' locks (ascending), so concurrent requests read them once."""
    days = day_span(start, end)

    def lookup() -> dict[int, list[DayBlock | None]]:
        return {root: [cache.get(version, block_key(root, day)) for day in days] for root in roots}

    cached = lookup()
    if all(None not in blocks for blocks in cached.values()):
        return cached  # type: ignore[return-value]
    async with AsyncExitStack() as held:
        if cache.max_entries > 0:  # (without a cache, waiting would gain nothing)
            for root in sorted(root for root, blocks in cached.items() if None in blocks):
                await held.enter_async_context(cache.lock(root))
            cached = lookup()  # what a request holding the locks before us read
        found = {
            (root, day): block
            for root, blocks in cached.items()
            for day, block in zip(days, blocks, strict=True)
        }
        missing = [key for key, block in found.items() if block is None]
        if missing:
            first, last = min(d for _, d in missing), max(d for _, d in missing) + DAY
            wanted = sorted({root for root, _ in missing})
            rows = await _fetch(warehouse, BLOCKS_SQL, first, last, wanted)
            span = [day for day in days if first <= day < last]
            for key, block in build_blocks(rows, wanted, span).items():
                cache.put(version, block_key(*key), block)
                if found.get(key, block) is None:
                    found[key] = block
    return {root: [found[root, day] for day in days] for root in roots}  # type: ignore[misc]


async def warm_blocks(
    warehouse: asyncpg.Pool, cache: VersionedCache, campaigns: VersionedCache, days: int
) -> tuple[int, int]:
    """Read the rollups of the newest ``days`` UTC days that have any, of every root, into
    ``cache``, and those roots' campaign rows (``fetch_campaign``) into ``campaigns``: (the
    data version they are of, blocks added). One snapshot (version and rows
    agree), one range read per day (a day's rows of all roots lie together, in load order),
    each decoded before the next is read, so requests are served between days; fewer days
    when they would fill more than half the cache (by the roots of the newest day); a root
    seen on a newer day gets an empty block on the days it has no rows."""
    added = 0
    try:
        async with (
            warehouse.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            rows = await conn.fetch(DATA_VERSION_SQL)
            version = rows[0]["version"] if rows else 0
            last = await conn.fetchval(LAST_DAY_SQL)
            if last is None:
                return version, 0
            roots = set(await conn.fetchval(ROOTS_OF_DAY_SQL, last))
            days = min(days, cache.max_entries // 2 // len(roots))
            for back in range(days):
                day = last - back * DAY
                rows = await conn.fetch(DAYS_SQL, day, day + DAY)
                roots.update(row[1] for row in rows)  # a root without rows: an empty block
                for key, block in build_blocks(rows, roots, [day]).items():
                    if cache.get(version, block_key(*key)) is None:
                        cache.put(version, block_key(*key), block)
                        added += 1
            try:
                async with conn.transaction():  # a savepoint: no campaigns synced yet is fine
                    rows = await conn.fetch(_CAMPAIGNS_SQL, sorted(roots))
            except asyncpg.UndefinedTableError:
                rows = []
            for row in rows:
                campaigns.put(version, row["campaign_id"], row)
    except asyncpg.UndefinedTableError:
        return 0, 0
    return version, added


async def fetch_data_version(warehouse: asyncpg.Pool) -> tuple[int, datetime | None]:
    """(data version, when the aggregator last bumped it); (0, None) before any load."""
    rows = await _fetch(warehouse, DATA_VERSION_SQL)
    return (rows[0]["version"], rows[0]["updated"]) if rows else (0, None)


async def site_known(warehouse: asyncpg.Pool, site: str) -> bool:
    """Whether the piwik importer ever imported (or tried to import) ``site``."""
    for sql in (
        "SELECT 1 FROM piwik_ledger WHERE site = $1 LIMIT 1",
        "SELECT 1 FROM web_hits WHERE site = $1 LIMIT 1",
    ):
        if await _fetch(warehouse, sql, site):
            return True
    return False


async def campaigns_of_roots(warehouse: asyncpg.Pool, roots: Sequence[int]) -> list[int]:
    """Every campaign id whose root is one of ``roots``."""
    rows = await _fetch(warehouse, CAMPAIGNS_OF_ROOTS, list(roots))
    return list(rows[0][0] or []) if rows else []


async def fetch_metrics(
    warehouse: asyncpg.Pool,
    roots: Sequence[int],
    start: datetime,
    end: datetime,
    grouping: Grouping,
) -> dict[Any, dict[str, int]]:
    """The 8 dashboard metrics of ``roots`` over [start, end) straight from the fact tables
    (the reference the rollups are checked against), keyed by root or time bucket."""
    queries = metric_queries(grouping)
    campaigns = await campaigns_of_roots(warehouse, roots)
    results = [(q, await _fetch(warehouse, q.sql, campaigns, start, end)) for q in queries]
    return merge_rows(results, roots if grouping == "root" else ())


async def fetch_edgeplorer(warehouse: asyncpg.Pool, fbid: int) -> dict[str, Any]:
    users = await _fetch(warehouse, "SELECT * FROM users WHERE fbid = $1", fbid)
    events = await _fetch(
        warehouse,
        "SELECT e.* FROM events e JOIN visits v ON v.visit_id = e.visit_id "
        "JOIN visitors vr ON vr.visitor_id = v.visitor_id WHERE vr.fbid = $1 "
        "ORDER BY e.created DESC LIMIT $2",
        fbid,
        ROW_LIMIT,
    )
    edges = await _fetch(
        warehouse,
        "SELECT * FROM edges WHERE fbid_target = $1 ORDER BY fbid_source LIMIT $2",
        fbid,
        ROW_LIMIT,
    )
    return {
        "user": dict(users[0]) if users else None,
        "events": [dict(r) for r in events],
        "edges": [dict(r) for r in edges],
    }


async def fetch_event_counts(warehouse: asyncpg.Pool, since: datetime) -> list[asyncpg.Record]:
    return await _fetch(
        warehouse,
        "SELECT type, date_trunc('hour', created) AS hour, campaign_id, count(*) AS count "
        "FROM events WHERE created >= $1 GROUP BY 1, 2, 3 ORDER BY 2, 1, 3 "
        "LIMIT $2",
        since,
        ROW_LIMIT * 10,
    )


async def fetch_web_daily(
    warehouse: asyncpg.Pool, site: str, start: datetime, end: datetime
) -> list[asyncpg.Record]:
    return await _fetch(
        warehouse,
        "SELECT (date_trunc('day', hit_time))::date AS day, count(*) AS hits, "
        "count(DISTINCT visitor_key) AS visitors FROM web_hits "
        "WHERE site = $1 AND hit_time >= $2 AND hit_time < $3 GROUP BY 1 ORDER BY 1",
        site,
        start,
        end,
    )
