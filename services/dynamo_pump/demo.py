"""The dynamo_pump service in ``forklift demo``: DynamoDB tables in moto holding a user and
a few edges for every demo fbid, the pump worker, and the check that they reached the
warehouse."""

from __future__ import annotations

from services.dynamo_pump.settings import DynamoSettings
from services.dynamo_pump.tables import create_tables, edge_item, put_items, user_item
from shared.aws import aws_client
from shared.demo import CheckResult, DemoContext
from shared.settings import load_settings

PROCESSES: tuple[tuple[str, ...], ...] = (("worker", "dynamo_pump"),)

EDGES_PER_FBID = 3
DEMO_ENV = {
    # sync fills the warehouse user_clients/visitors while the demo runs: re-plan often.
    "FORKLIFT_DYNAMO_PLAN_INTERVAL_MINUTES": "1",
    "FORKLIFT_DYNAMO_RCU_PER_SECOND": "500",
    "FORKLIFT_DYNAMO_USE_CONSUMED_CAPACITY": "false",  # moto's figures are not DynamoDB's
}


async def seed(demo: DemoContext) -> None:
    """Create the tables and put what the app would have fetched from Facebook: a user for
    every fbid that authorized a client (user_clients) and up to EDGES_PER_FBID friend
    edges among them. Visitors who never authorized have neither, so the pump records
    their edges as missing and retries them, as it would against the real table."""
    demo.env.update(DEMO_ENV)
    settings = load_settings(DynamoSettings)
    rows = await demo.source.fetch("SELECT DISTINCT fbid FROM user_clients WHERE fbid > 0")
    fbids = sorted(r["fbid"] for r in rows)
    friends = min(EDGES_PER_FBID, len(fbids) - 1)
    edges = [
        edge_item(target, fbids[(i + k) % len(fbids)])
        for i, target in enumerate(fbids)
        for k in range(1, friends + 1)
    ]
    async with aws_client(demo.aws, "dynamodb") as client:
        await create_tables(client, settings)
        await put_items(client, settings.table("users"), [user_item(f) for f in fbids])
        await put_items(client, settings.table("edges"), edges)


async def check(demo: DemoContext) -> CheckResult:
    """OK when every user_clients fbid in the warehouse has a users row and edges landed."""
    row = await demo.warehouse.fetchrow(
        """SELECT
             (SELECT count(DISTINCT fbid) FROM user_clients) AS wanted,
             (SELECT count(DISTINCT uc.fbid) FROM user_clients uc
                JOIN users u ON u.fbid = uc.fbid AND NOT u.not_found) AS users,
             (SELECT count(*) FROM edges) AS edges"""
    )
    ok = row["wanted"] > 0 and row["users"] == row["wanted"] and row["edges"] > 0
    detail = f"users {row['users']}/{row['wanted']} user_clients fbids, {row['edges']} edges"
    return CheckResult("dynamo_pump", ok=ok, produced=row["users"] + row["edges"], detail=detail)
