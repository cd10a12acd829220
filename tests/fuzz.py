"""Fuzzing an API with schemathesis, as CI does: the app served through EdgeRunner from its
own thread and event loop, the ``schemathesis run`` CLI in a subprocess with every check on,
bounded by examples per operation and a wall-clock timeout."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from aiohttp import web

from shared.webapi import EdgeRunner

__all__ = ["serve_in_thread", "run_schemathesis", "SCHEMATHESIS_TIMEOUT_S"]

ROOT = Path(__file__).resolve().parent.parent
SCHEMATHESIS_TIMEOUT_S = 600
# examples per operation: CI's bound; FORKLIFT_FUZZ_EXAMPLES=500 digs deeper by hand
MAX_EXAMPLES = int(os.environ.get("FORKLIFT_FUZZ_EXAMPLES", "25"))

AppFactory = Callable[[], Awaitable[web.Application]]


@contextmanager
def serve_in_thread(make_app: AppFactory) -> Iterator[str]:
    """Serve the app ``make_app`` builds (inside the thread's loop) on a free port; its URL."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, object] = {}

    async def start() -> EdgeRunner:
        runner = EdgeRunner(await make_app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        state["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return runner

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            runner = loop.run_until_complete(start())
        except BaseException as e:  # noqa: BLE001 - reported to the test thread
            state["error"] = e
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(60), "the app did not start within 60 s"
    if "error" in state:
        raise state["error"]  # type: ignore[misc]
    try:
        yield str(state["url"])
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)


def run_schemathesis(
    schema_url: str,
    workdir: Path,
    *,
    headers: dict[str, str],
    config: str = "",
    hooks: str | None = None,
    max_examples: int = MAX_EXAMPLES,
    extra: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """``schemathesis run --checks all`` against ``schema_url``; ``config`` is the text of a
    schemathesis.toml (per-operation expectations), ``hooks`` a module path."""
    config_file = workdir / "schemathesis.toml"
    config_file.write_text(config)
    binary = Path(sys.executable).with_name("schemathesis")
    argv = [
        str(binary),
        "--no-color",
        "--config-file",
        str(config_file),
        "run",
        schema_url,
        "--checks",
        "all",
        "--max-examples",
        str(max_examples),
        "--seed",
        "12",
        "--workers",
        "1",
        "--request-timeout",
        "15",
        "--generation-database",
        "none",
        "--suppress-health-check",
        "all",
        *extra,
    ]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    # the fuzzer is a tool, not the code under test: it runs on the real clock even in the
    # floor pass (libfaketime in the fuzzer's process stalls it)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKETIME")}
    env["LD_PRELOAD"] = " ".join(
        lib for lib in env.get("LD_PRELOAD", "").split() if "faketime" not in lib
    )
    env["PYTHONPATH"] = str(ROOT)
    if hooks:
        env["SCHEMATHESIS_HOOKS"] = hooks
    return subprocess.run(
        argv,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=SCHEMATHESIS_TIMEOUT_S,
    )
