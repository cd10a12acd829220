"""``forklift dynamo`` commands (sync tests: the CLI runs its own event loop)."""

import asyncio

import asyncpg
import pytest

from services.dynamo_pump.settings import DynamoSettings
from services.dynamo_pump.tables import create_tables, edge_item, put_items, user_item
from services.main import cli
from shared.aws import AwsConfig, aws_client
from shared.cli import run_cli


async def _seed(aws: AwsConfig, settings: DynamoSettings, warehouse_dsn: str) -> None:
    async with aws_client(aws, "dynamodb") as client:
        await create_tables(client, settings)
        await put_items(client, settings.table("users"), [user_item(11)])
        await put_items(client, settings.table("edges"), [edge_item(11, 12), edge_item(11, 13)])
    conn = await asyncpg.connect(warehouse_dsn)
    await conn.execute(
        "INSERT INTO user_clients (user_client_id, fbid, client_id) VALUES (1, 11, 1)"
    )
    await conn.close()


@pytest.fixture
def env(
    cli_env: dict, settings: DynamoSettings, aws: AwsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORKLIFT_DYNAMO_TABLE_PREFIX", settings.table_prefix)
    monkeypatch.setenv("FORKLIFT_DYNAMO_USE_CONSUMED_CAPACITY", "false")
    asyncio.run(_seed(aws, settings, cli_env["FORKLIFT_WAREHOUSE_DSN"]))


def test_plan_status_fetch(env: None, capsys: pytest.CaptureFixture) -> None:
    assert run_cli(cli, ["dynamo", "plan"]) == 0
    out = capsys.readouterr().out
    assert "primary    added=1 queued=1" in out and "edges      added=1 queued=1" in out
    assert run_cli(cli, ["dynamo", "status"]) == 0
    out = capsys.readouterr().out
    assert "queue primary    1" in out and "rcu_per_s        0.0 of 50" in out
    assert run_cli(cli, ["dynamo", "fetch-user", "11"]) == 0
    assert '[11, "First11"' in capsys.readouterr().out
    assert run_cli(cli, ["dynamo", "fetch-edges", "11"]) == 0
    assert capsys.readouterr().out.count("[11, 1") == 2
    assert run_cli(cli, ["dynamo", "fetch-user", "999"]) == 0
    assert "null" in capsys.readouterr().out  # a blank, not-found row


@pytest.mark.parametrize("fbid", ["abc", "0", "1.5", "99999999999999999999"])
def test_bad_fbid_is_a_usage_error(env: None, capsys: pytest.CaptureFixture, fbid: str) -> None:
    assert run_cli(cli, ["dynamo", "fetch-user", fbid]) == 2
    assert "forklift: error: fbid must be a positive integer" in capsys.readouterr().err
