"""Sessions end with the account (issue #12, finding 5): deactivation, a group, superuser or
password change ends them on the next request; ``forklift dashboard sessions revoke``."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from services.dashboard_api.context import APP_CONTEXT
from services.dashboard_api.passwords import make_django_hash
from services.dashboard_api.sessions import USER_SESSIONS_PREFIX, claimed_user_id
from services.main import cli
from shared.cli import run_cli
from tests.clock import iso_z
from tests.dashboard_api.conftest import T0, login

RANGE = {"start": iso_z(T0), "end": iso_z(T0.replace(hour=23))}


async def _reads(client: TestClient, headers: dict[str, str]) -> int:
    return (await client.get("/api/campaigns", params=RANGE, headers=headers)).status


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE auth_user SET is_active = false WHERE username = 'acme'",
        "DELETE FROM auth_user_groups WHERE user_id = (SELECT id FROM auth_user WHERE username = 'acme')",
        "UPDATE auth_user_groups SET group_id = 102 WHERE user_id = 2",
        "UPDATE auth_user SET is_superuser = true WHERE username = 'acme'",
        "UPDATE auth_user SET password = $1 WHERE username = 'acme'",
        "DELETE FROM auth_user WHERE username = 'acme'",
    ],
    ids=["deactivated", "left-group", "other-group", "made-superuser", "new-password", "deleted"],
)
async def test_an_account_change_ends_its_sessions(
    client: TestClient, source: asyncpg.Pool, redis: Redis, change: str
) -> None:
    headers = await login(client, "acme")
    other = await login(client, "globex")
    assert await _reads(client, headers) == 200
    args = [make_django_hash("new-pw", "x", 1000)] if "$1" in change else []
    if "DELETE FROM auth_user " in change:
        await source.execute("DELETE FROM auth_user_groups WHERE user_id = 2")
    await source.execute(change, *args)
    resp = await client.get("/api/campaigns", params=RANGE, headers=headers)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"
    if "is_active" in change:  # reactivated: the ended session stays ended
        await source.execute("UPDATE auth_user SET is_active = true WHERE username = 'acme'")
    assert await _reads(client, headers) == 401
    assert await _reads(client, other) == 200  # other users keep theirs


async def test_cli_revokes_every_session_of_a_user(
    client: TestClient,
    cli_env: dict[str, str],
    redis: Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, second = await login(client, "acme"), await login(client, "acme")
    other = await login(client, "globex")
    assert await _reads(client, first) == 200 and await _reads(client, second) == 200
    code = await asyncio.to_thread(run_cli, cli, ["dashboard", "sessions", "revoke", "acme"])
    assert code == 0
    assert "revoked 2 session(s) of acme" in capsys.readouterr().out
    assert await _reads(client, first) == 401 and await _reads(client, second) == 401
    assert await _reads(client, other) == 200
    assert await redis.exists(USER_SESSIONS_PREFIX + "acme") == 0
    code = await asyncio.to_thread(run_cli, cli, ["dashboard", "sessions", "revoke", "acme"])
    assert code == 0 and "revoked 0 session(s)" in capsys.readouterr().out
    # the user logs in again as usual
    assert await _reads(client, await login(client, "acme")) == 200


async def test_logout_removes_the_session_from_the_user_index(
    client: TestClient, redis: Redis
) -> None:
    headers = await login(client, "acme")
    assert await redis.scard(USER_SESSIONS_PREFIX + "acme") == 1
    assert 0 < await redis.ttl(USER_SESSIONS_PREFIX + "acme") <= 8 * 3600
    assert (await client.post("/api/logout", headers=headers)).status == 200
    assert await redis.scard(USER_SESSIONS_PREFIX + "acme") == 0


async def test_a_token_names_its_user_and_is_believed_only_with_its_session(
    client: TestClient, redis: Redis
) -> None:
    """The user read starts from the id a token names; a token naming someone else, or none,
    is no session; a session stored under a token of the older form (no id) still works."""
    headers = await login(client, "acme")
    token = headers["Authorization"].removeprefix("Bearer ")
    user_id, _, secret_part = token.partition(".")
    assert claimed_user_id(token) == int(user_id) == 2
    for forged in (f"3.{secret_part}", secret_part, f"02.{secret_part}"):
        resp = await client.get(
            "/api/campaigns", params=RANGE, headers={"Authorization": f"Bearer {forged}"}
        )
        assert resp.status == 401, forged
    assert await _reads(client, headers) == 200
    store = client.app[APP_CONTEXT].sessions
    await redis.set(store._key(secret_part), await redis.get(store._key(token)))
    assert await _reads(client, {"Authorization": f"Bearer {secret_part}"}) == 200


@pytest.mark.parametrize(
    ("token", "claimed"),
    [("42.abc", 42), ("abc", None), (".abc", None), ("4x.abc", None), ("١.abc", None),
     ("1234567890123456789.a", None), ("7.", 7)],
)  # fmt: skip
def test_claimed_user_id(token: str, claimed: int | None) -> None:
    assert claimed_user_id(token) == claimed
