"""The embedded default stack boots and answers with no server configured."""

import asyncio
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from shared.embedded import (
    ChildProcess,
    EmbeddedError,
    ensure_port_free,
    free_port,
    python_module,
    start_postgres,
    start_redis,
    wait_for_http,
)
from shared.errors import PortInUseError


async def test_embedded_postgres_and_redis_boot_and_persist(tmp_path: Path) -> None:
    server, dsn = await asyncio.to_thread(start_postgres, tmp_path)
    try:
        conn = await asyncpg.connect(dsn)
        await conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
        await conn.close()
    finally:
        server.cleanup()
    # A second start reuses the data folder.
    server, dsn = await asyncio.to_thread(start_postgres, tmp_path)
    try:
        conn = await asyncpg.connect(dsn)
        assert await conn.fetchval("SELECT x FROM kept") == 42
        await conn.close()
    finally:
        server.cleanup()

    redis_server, url = await asyncio.to_thread(start_redis, tmp_path, free_port())
    client = Redis.from_url(url)
    try:
        assert await client.ping()
        await client.set("kept", "yes")
    finally:
        await client.aclose()
        redis_server.terminate()
        redis_server.wait_stopped(timeout_s=10)
    redis_server, url = await asyncio.to_thread(start_redis, tmp_path, free_port())
    client = Redis.from_url(url)
    try:
        assert await client.get("kept") == b"yes"
    finally:
        await client.aclose()
        redis_server.terminate()
        redis_server.wait_stopped(timeout_s=10)


def test_moto_server_child_answers_and_stops(tmp_path: Path) -> None:
    port = free_port()
    child = ChildProcess(
        "moto", python_module("moto.server", "-H", "127.0.0.1", "-p", str(port)), {}, tmp_path
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/moto-api/", child, timeout_s=60)
    finally:
        child.terminate()
        child.wait_stopped(timeout_s=10)
    assert not child.running


def test_child_that_dies_at_start_is_reported(tmp_path: Path) -> None:
    child = ChildProcess("broken", python_module("no_such_module_here"), {}, tmp_path)
    with pytest.raises(EmbeddedError, match="broken exited at start"):
        wait_for_http(f"http://127.0.0.1:{free_port()}/", child, timeout_s=30)
    child.wait_stopped(timeout_s=5)


def test_taken_port_is_named() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(
            PortInUseError, match=f"dashboard API: port 127.0.0.1:{port} is already in use"
        ):
            ensure_port_free("127.0.0.1", port, "dashboard API")
