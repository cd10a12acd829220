"""The RCU limiter on the embedded Redis 6.2 that ``forklift demo`` runs: its scripts must
leave the server healthy (INCRBYFLOAT inside a script once corrupted that server's heap)."""

import asyncio
from pathlib import Path

from redis.asyncio import Redis

from services.dynamo_pump.limiter import RcuLimiter, measured_rcu_per_s
from shared.embedded import free_port, start_redis


async def test_limiter_scripts_keep_the_embedded_redis_alive(tmp_path: Path) -> None:
    server, url = await asyncio.to_thread(start_redis, tmp_path, free_port())
    redis = Redis.from_url(url)
    try:
        limiter = RcuLimiter(redis, rcu_per_s=1000.0)
        for _ in range(40):
            await limiter.acquire(12.5)
            await limiter.settle(12.5, 12.5)
        await limiter.throttled()
        for i in range(200):  # short-lived keys so the active expire cycle runs over the heap
            await redis.set(f"short:{i}", "x", px=20)
        await asyncio.sleep(1.2)
        assert await redis.ping()
        assert await measured_rcu_per_s(redis, window_s=5) == 40 * 12.5 / 5
    finally:
        await redis.aclose()
        server.terminate()
        await asyncio.to_thread(server.wait_stopped, 10)
    assert server.process.returncode == 0, server.log_tail(20)
