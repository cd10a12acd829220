"""The CLI's error boundary: a server that accepts connections but never answers gives one
line that names the timeout (its exception has no message of its own)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


async def test_a_silent_warehouse_port_is_one_line_naming_the_timeout() -> None:
    held: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        held.append(writer)

    server = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FORKLIFT_")},
        "FORKLIFT_WAREHOUSE_DSN": f"postgresql://postgres@127.0.0.1:{port}/silent",
        "FORKLIFT_REDIS_URL": "redis://127.0.0.1:1/0",  # never reached: the warehouse fails first
        "FORKLIFT_NETWORK_TIMEOUT_S": "1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services", "aggregate", "status",
        cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    server.close()
    lines = stderr.decode().strip().splitlines()
    assert process.returncode in (1, 2)
    assert len(lines) == 1, lines
    assert lines[0].startswith("forklift: error: warehouse database unreachable: TimeoutError")
