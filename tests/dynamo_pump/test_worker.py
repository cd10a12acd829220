"""``forklift dynamo`` commands and ``forklift worker dynamo_pump`` on the real stack."""

import asyncio
from typing import Any

import asyncpg
import pytest

from services.dynamo_pump.settings import DynamoSettings
from services.dynamo_pump.tables import edge_item, put_items, user_item
from services.dynamo_pump.worker import WorkerSettings
from shared.settings import CoreSettings
from shared.worker import build_worker


@pytest.fixture
def dynamo_env(cli_env: dict, settings: DynamoSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORKLIFT_DYNAMO_TABLE_PREFIX", settings.table_prefix)
    monkeypatch.setenv("FORKLIFT_DYNAMO_USE_CONSUMED_CAPACITY", "false")
    monkeypatch.setenv("FORKLIFT_DYNAMO_IDLE_SLEEP_S", "0.05")


async def _seed(dynamo: Any, settings: DynamoSettings, warehouse: asyncpg.Pool) -> None:
    await put_items(dynamo, settings.table("users"), [user_item(11), user_item(12)])
    await put_items(dynamo, settings.table("edges"), [edge_item(11, 12)])
    await warehouse.execute(
        "INSERT INTO user_clients (user_client_id, fbid, client_id) VALUES (1, 11, 1)"
    )


async def test_worker_plans_and_pumps_in_the_background(
    core: CoreSettings,
    dynamo_env: None,
    dynamo: Any,
    settings: DynamoSettings,
    warehouse: asyncpg.Pool,
) -> None:
    await _seed(dynamo, settings, warehouse)
    worker = build_worker(WorkerSettings, core)
    task = asyncio.create_task(worker.async_run())
    try:
        for _ in range(100):
            await asyncio.sleep(0.1)
            users = await warehouse.fetchval("SELECT count(*) FROM users")
            edges = await warehouse.fetchval("SELECT count(*) FROM edges")
            if users == 1 and edges == 1:  # the start-up plan: primary 11 and the edges of 11
                break
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await worker.close()
    assert (users, edges) == (1, 1)  # 12 (an edge source) waits for the next plan
