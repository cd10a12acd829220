"""Login under attack (issue #12, findings 1-3 and 9): the throttle counts every attempt
before the hash, per (username, client address) with growing delays and a per-address
ceiling; unknown and known users cost the same; the cookie and the answers are hardened."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from services.dashboard_api.passwords import make_django_hash
from services.dashboard_api.throttle import Throttle
from shared.settings import CoreSettings
from tests.dashboard_api.conftest import USERS, dashboard_settings, from_address, serve


def _login(client: TestClient, username: str, password: str, address: str):  # noqa: ANN202
    return client.post(
        "/api/login",
        json={"username": username, "password": password},
        headers=from_address(address),
    )


async def test_a_parallel_burst_is_counted_before_the_hash(
    seeded: CoreSettings, source: asyncpg.Pool, redis: Redis
) -> None:
    """Finding 1: 40 parallel wrong passwords got 40 x 401 and a right one in the burst 200."""
    # slow hashes keep the burst in flight while the right password arrives
    await source.execute(
        "UPDATE auth_user SET password = $1 WHERE username = 'acme'",
        make_django_hash(USERS["acme"][0], "slow", 200_000),
    )
    client = await serve(seeded, dashboard_settings(password_iterations=200_000))
    try:
        address = "198.51.100.7"
        burst = [
            asyncio.ensure_future(_login(client, "acme", f"wrong-{i}", address)) for i in range(40)
        ]
        pair_key = Throttle.keys("acme", address)[0]
        for _ in range(500):  # until the server has counted the first attempts
            if int(await redis.hget(pair_key, "failures") or 0) >= 5:
                break
            await asyncio.sleep(0.01)
        right = await _login(client, "acme", USERS["acme"][0], address)
        assert right.status == 429, await right.text()
        answers = await asyncio.gather(*burst)
        statuses = Counter(a.status for a in answers)
        assert statuses == {401: 5, 429: 35}, statuses
        for answer in answers:
            if answer.status == 429:
                assert int(answer.headers["Retry-After"]) >= 1
                assert (await answer.json())["error"]["code"] == "throttled"
    finally:
        await client.close()


async def test_sequential_failures_wait_longer_and_longer(seeded: CoreSettings) -> None:
    client = await serve(seeded, dashboard_settings(login_delay_s=1.0))
    try:
        address = "198.51.100.8"
        for _ in range(5):
            assert (await _login(client, "acme", "bad", address)).status == 401
        waits = []
        for _ in range(2):
            refused = await _login(client, "acme", "bad", address)
            assert refused.status == 429
            waits.append(int(refused.headers["Retry-After"]))
            await asyncio.sleep(waits[-1] + 0.05)
            assert (await _login(client, "acme", "bad", address)).status == 401
        refused = await _login(client, "acme", "acme-pw", address)
        waits.append(int(refused.headers["Retry-After"]))
        assert refused.status == 429 and waits == [1, 2, 4], waits
        # the right password once the wait is over: in, and the failures are forgiven
        await asyncio.sleep(waits[-1] + 0.05)
        assert (await _login(client, "acme", USERS["acme"][0], address)).status == 200
        assert (await _login(client, "acme", "bad", address)).status == 401
    finally:
        await client.close()


async def test_nobody_locks_out_a_user_from_another_address(client: TestClient) -> None:
    """Finding 3: five failures for acme from one address made acme's right password answer
    429 from everywhere, and the per-IP counter locked out every user behind one proxy."""
    attacker = "203.0.113.66"
    for _ in range(6):
        assert (await _login(client, "acme", "guess", attacker)).status in (401, 429)
    assert (await _login(client, "acme", "acme-pw", attacker)).status == 429
    assert (await _login(client, "acme", "acme-pw", "192.0.2.44")).status == 200
    # another user behind the attacker's proxy is not locked out either
    assert (await _login(client, "globex", "globex-pw", attacker)).status == 200


async def test_an_address_has_a_ceiling_over_all_usernames(seeded: CoreSettings) -> None:
    client = await serve(seeded, dashboard_settings(login_address_max_failures=8))
    try:
        sprayer, office = "203.0.113.9", "192.0.2.10"
        for i in range(8):
            assert (await _login(client, f"user{i}", "password1", sprayer)).status == 401
        refused = await _login(client, "globex", "globex-pw", sprayer)
        assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
        assert (await _login(client, "globex", "globex-pw", "192.0.2.11")).status == 200
        # successful logins never use up an address's ceiling
        for _ in range(12):
            assert (await _login(client, "acme", "acme-pw", office)).status == 200
    finally:
        await client.close()


async def test_untrusted_forwarded_for_is_ignored(seeded: CoreSettings) -> None:
    """Without a trusted proxy, X-Forwarded-For cannot buy an attacker fresh addresses."""
    client = await serve(seeded, dashboard_settings(trusted_proxies=""))
    try:
        for i in range(5):
            assert (await _login(client, "acme", "bad", f"10.9.9.{i}")).status == 401
        assert (await _login(client, "acme", "acme-pw", "10.9.9.200")).status == 429
    finally:
        await client.close()


async def _login_s(client: TestClient, username: str, rounds: int) -> list[float]:
    times = []
    for i in range(rounds):
        started = time.perf_counter()
        resp = await _login(client, username, f"wrong-{i}", "192.0.2.99")
        times.append(time.perf_counter() - started)
        assert resp.status == 401
    return times


async def test_unknown_users_cost_the_same_as_known_ones(
    seeded: CoreSettings, source: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 2: unknown users were verified against a 100k-iteration stand-in hash while
    real hashes had 260k+: 42 ms against 137 ms told who exists. The work (pbkdf2 iterations
    run per login) must be the same, and so the time: the fastest of 18 tries each (load from
    other sessions only ever adds time)."""
    iterations = 250_000
    await source.execute(
        "INSERT INTO auth_user (id, username, password, is_superuser, is_active) "
        "VALUES (50, 'known', $1, false, true), (51, 'bcrypt-user', $2, false, true)",
        make_django_hash("right-password", "salt50", iterations),
        "bcrypt_sha256$$2b$12$abcdefghijklmnopqrstuv",
    )
    settings = dashboard_settings(
        password_iterations=iterations,
        login_max_failures=1000,
        login_address_max_failures=1000,
    )
    client = await serve(seeded, settings)
    work: list[int] = []
    pbkdf2 = hashlib.pbkdf2_hmac

    def counted(name: str, password: bytes, salt: bytes, rounds: int, *args: Any) -> bytes:
        work.append(rounds)
        return pbkdf2(name, password, salt, rounds, *args)

    monkeypatch.setattr(hashlib, "pbkdf2_hmac", counted)
    try:
        names = ("known", "nobody-here", "bcrypt-user")
        for name in names:
            work.clear()
            await _login_s(client, name, 1)
            assert work == [iterations], (name, work)
        times: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(6):  # interleaved, so load from other sessions hits all alike
            for name in names:
                times[name] += await _login_s(client, name, 3)
        fastest = {name: min(samples) for name, samples in times.items()}
        print("fastest login ms:", {name: round(t * 1000, 1) for name, t in fastest.items()})
        for name in ("nobody-here", "bcrypt-user"):
            assert 0.6 < fastest[name] / fastest["known"] < 1.67, fastest
    finally:
        await client.close()


async def test_cookie_and_auth_answers_are_hardened(seeded: CoreSettings) -> None:
    """Finding 9: no Secure, no Max-Age, no Cache-Control on the token, text/plain and form
    bodies accepted on login/logout."""
    client = await serve(seeded, dashboard_settings())
    try:
        resp = await _login(client, "acme", "acme-pw", "192.0.2.5")
        cookie = resp.headers["Set-Cookie"]
        assert "Secure" in cookie and "Max-Age=28800" in cookie and "HttpOnly" in cookie
        assert resp.headers["Cache-Control"] == "no-store"
        token = (await resp.json())["token"]
        for data, content_type in [
            ('{"username": "acme", "password": "acme-pw"}', "text/plain"),
            ("username=acme&password=acme-pw", "application/x-www-form-urlencoded"),
        ]:
            answer = await client.post(
                "/api/login", data=data, headers={"Content-Type": content_type}
            )
            assert answer.status == 415 and "Set-Cookie" not in answer.headers
            assert (await answer.json())["error"]["field"] == "Content-Type"
            answer = await client.post(
                "/api/logout",
                data=data,
                headers={"Content-Type": content_type, "Cookie": f"forklift_session={token}"},
            )
            assert answer.status == 415
        resp = await client.post("/api/logout", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
        assert "Max-Age=0" in resp.headers["Set-Cookie"]
        wrong_method = await client.put("/api/login", json={})
        assert wrong_method.status == 405 and "POST" in wrong_method.headers["Allow"]
        assert (await wrong_method.json())["error"]["code"] == "method_not_allowed"
    finally:
        await client.close()
    plain = await serve(seeded, dashboard_settings(cookie_secure=False))
    try:
        resp = await _login(plain, "acme", "acme-pw", "192.0.2.5")
        assert "Secure" not in resp.headers["Set-Cookie"]
    finally:
        await plain.close()
