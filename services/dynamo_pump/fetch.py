"""DynamoDB reads under the shared budget: BatchGetItem for users, paginated Query for edges.

Every request reserves an estimate from the limiter, then settles the capacity really
consumed (``ConsumedCapacity`` when returned, else computed from item sizes). A throttle
cuts the shared rate and is retried after an exponential backoff; other failures raise
:class:`DynamoUnavailable`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from services.dynamo_pump.convert import item_size_bytes, read_units
from services.dynamo_pump.errors import DynamoUnavailable
from services.dynamo_pump.limiter import RcuLimiter
from shared.errors import describe
from shared.logging import get_logger

__all__ = ["Fetcher", "Fetched", "THROTTLE_CODES"]

log = get_logger("forklift.dynamo")

THROTTLE_CODES = {"ProvisionedThroughputExceededException", "ThrottlingException"}
MAX_THROTTLE_RETRIES = 12


@dataclass
class Fetched:
    """Items read for a batch of keys, the keys DynamoDB does not have, the RCU used."""

    items: list[dict[str, Any]] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    rcu: float = 0.0
    throttles: int = 0


def _consumed(response: dict[str, Any], computed_rcu: float) -> float:
    """ConsumedCapacity when DynamoDB returned it, else the RCU computed from item sizes."""
    consumed = response.get("ConsumedCapacity")
    if isinstance(consumed, list):
        consumed = {"CapacityUnits": sum(c.get("CapacityUnits", 0) for c in consumed)}
    if isinstance(consumed, dict) and consumed.get("CapacityUnits"):
        return float(consumed["CapacityUnits"])
    return computed_rcu


class Fetcher:
    """Reads users and edges with one aioboto3 DynamoDB client and the shared limiter."""

    def __init__(
        self,
        client: Any,
        limiter: RcuLimiter,
        users_table: str,
        edges_table: str,
        *,
        ask_consumed_capacity: bool = True,
    ) -> None:
        self.client = client
        self.consumed_capacity = "TOTAL" if ask_consumed_capacity else "NONE"
        self.limiter = limiter
        self.users_table = users_table
        self.edges_table = edges_table

    async def _request(
        self,
        call: Callable[..., Awaitable[dict[str, Any]]],
        estimate_rcu: float,
        cost: Callable[[dict[str, Any]], float],
        fetched: Fetched,
        **params: Any,
    ) -> dict[str, Any]:
        for attempt in range(MAX_THROTTLE_RETRIES):
            await self.limiter.acquire(estimate_rcu)
            try:
                response = await call(ReturnConsumedCapacity=self.consumed_capacity, **params)
            except ClientError as e:
                await self.limiter.settle(estimate_rcu, 0.0)
                code = e.response.get("Error", {}).get("Code", "")
                if code not in THROTTLE_CODES:
                    raise DynamoUnavailable(f"dynamodb {code}: {e}") from e
                fetched.throttles += 1
                factor = await self.limiter.throttled()
                delay_s = min(5.0, 0.05 * 2**attempt) * (0.5 + random.random())
                log.warning("dynamo.throttled", attempt=attempt, factor=factor, delay_s=delay_s)
                await asyncio.sleep(delay_s)
                continue
            except (BotoCoreError, OSError) as e:
                await self.limiter.settle(estimate_rcu, 0.0)
                raise DynamoUnavailable(f"dynamodb unreachable: {describe(e)}") from e
            consumed_rcu = cost(response)
            if self.consumed_capacity == "TOTAL":
                consumed_rcu = _consumed(response, consumed_rcu)
            await self.limiter.settle(estimate_rcu, consumed_rcu)
            fetched.rcu += consumed_rcu
            return response
        raise DynamoUnavailable(f"dynamodb throttled {MAX_THROTTLE_RETRIES} times in a row")

    async def users(self, fbids: list[int]) -> Fetched:
        """BatchGetItem for up to 100 fbids, retrying UnprocessedKeys until all are read."""
        fetched = Fetched()
        fbids = list(dict.fromkeys(fbids))
        pending: list[dict[str, Any]] = [{"fbid": {"N": str(f)}} for f in fbids]
        found: set[int] = set()
        while pending:
            response = await self._request(
                self.client.batch_get_item,
                0.5 * len(pending),
                _users_rcu(self.users_table),
                fetched,
                RequestItems={self.users_table: {"Keys": pending}},
            )
            items = response.get("Responses", {}).get(self.users_table, [])
            fetched.items.extend(items)
            found.update(int(i["fbid"]["N"]) for i in items if "N" in i.get("fbid", {}))
            unprocessed = response.get("UnprocessedKeys", {}).get(self.users_table, {})
            pending = unprocessed.get("Keys", [])
        fetched.missing = [f for f in fbids if f not in found]
        return fetched

    async def edges(self, fbid: int, fetched: Fetched) -> int:
        """Query every page of edges whose target is ``fbid`` into ``fetched``; item count."""
        params: dict[str, Any] = {
            "TableName": self.edges_table,
            "KeyConditionExpression": "fbid_target = :t",
            "ExpressionAttributeValues": {":t": {"N": str(fbid)}},
        }
        count = 0
        while True:
            response = await self._request(self.client.query, 0.5, _query_rcu, fetched, **params)
            items = response.get("Items", [])
            fetched.items.extend(items)
            count += len(items)
            if "LastEvaluatedKey" not in response:
                return count
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _users_rcu(table: str) -> Callable[[dict[str, Any]], float]:
    def cost(response: dict[str, Any]) -> float:
        items = response.get("Responses", {}).get(table, [])
        return sum(read_units(item_size_bytes(i)) for i in items) or 0.5

    return cost


def _query_rcu(response: dict[str, Any]) -> float:
    return read_units(sum(item_size_bytes(i) for i in response.get("Items", [])))
