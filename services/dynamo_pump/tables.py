"""The DynamoDB side: creating the users/edges tables and writing items (demo, tests, bench)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from services.dynamo_pump.settings import DynamoSettings

__all__ = ["create_tables", "put_items", "user_item", "edge_item"]


async def create_tables(client: Any, settings: DynamoSettings) -> None:
    """Create the users (hash fbid) and edges (hash fbid_target, range fbid_source) tables
    if they do not exist yet (on-demand billing)."""
    existing = set((await client.list_tables()).get("TableNames", []))
    specs = {
        settings.table("users"): [("fbid", "HASH")],
        settings.table("edges"): [("fbid_target", "HASH"), ("fbid_source", "RANGE")],
    }
    for name, keys in specs.items():
        if name in existing:
            continue
        await client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": a, "KeyType": t} for a, t in keys],
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "N"} for a, _ in keys],
            BillingMode="PAY_PER_REQUEST",
        )


async def put_items(
    client: Any, table: str, items: Iterable[dict[str, Any]], concurrency: int = 8
) -> int:
    """BatchWriteItem ``items`` (wire format) in chunks of 25; the count written."""
    batch = list(items)
    chunks = [batch[i : i + 25] for i in range(0, len(batch), 25)]
    semaphore = asyncio.Semaphore(concurrency)

    async def write(chunk: list[dict[str, Any]]) -> None:
        requests = [{"PutRequest": {"Item": item}} for item in chunk]
        async with semaphore:
            while requests:
                response = await client.batch_write_item(RequestItems={table: requests})
                requests = response.get("UnprocessedItems", {}).get(table, [])

    await asyncio.gather(*(write(c) for c in chunks))
    return len(batch)


def user_item(fbid: int, updated_epoch: int = 1700000000) -> dict[str, Any]:
    """A realistic user item in wire format."""
    return {
        "fbid": {"N": str(fbid)},
        "fname": {"S": f"First{fbid % 997}"},
        "lname": {"S": f"Last{fbid % 991}"},
        "email": {"S": f"user{fbid}@example.com"},
        "gender": {"S": "female" if fbid % 2 else "male"},
        "birthday": {"N": str(315532800 + fbid % 10000 * 86400)},
        "city": {"S": "Chicago"},
        "state": {"S": "IL"},
        "country": {"S": "United States"},
        "interests": {"SS": ["hiking", "jazz", f"topic{fbid % 50}"]},
        "likes_count": {"N": str(fbid % 500)},
        "has_timeline": {"BOOL": True},
        "profile_update_time": {"N": str(updated_epoch - 86400)},
        "updated": {"N": str(updated_epoch)},
    }


def edge_item(target: int, source: int, updated_epoch: int = 1700000000) -> dict[str, Any]:
    """A realistic edge item in wire format."""
    return {
        "fbid_target": {"N": str(target)},
        "fbid_source": {"N": str(source)},
        "post_likes": {"N": str(source % 7)},
        "post_comms": {"N": str(source % 3)},
        "stat_likes": {"N": str(source % 5)},
        "mut_friends": {"N": str(source % 40)},
        "updated": {"N": str(updated_epoch)},
    }
