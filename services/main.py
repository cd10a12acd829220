"""The ``forklift`` command: platform commands (db, worker, serve, demo) plus one group per
service, each registered from ``services/<name>/cli.py``."""

from __future__ import annotations

import asyncio
import errno
import gc
import signal
from contextlib import AsyncExitStack

import click
from aiohttp import web
from redis.asyncio import Redis

from services import SERVERS, SERVICES, service_module
from services.demo import demo
from services.migrations import migrate_waiting
from shared.cli import core_settings, main_entry, run_async
from shared.errors import PortInUseError
from shared.heartbeat import Heartbeat
from shared.logging import get_logger
from shared.settings import CoreSettings, load_settings
from shared.webapi import EdgeRunner
from shared.worker import run_worker

log = get_logger("forklift")

EXAMPLES = """
\b
Examples:
  forklift demo                         # embedded stack, demo data, every service
  forklift demo --check                 # boot, verify every service produced data, stop
  forklift db migrate --source          # create/update source (demo) and warehouse tables
  forklift worker sync                  # run one service's arq worker
  forklift serve dashboard_api --port 8080
  forklift sync table events --mode incremental
  forklift aggregate queue --days-back 3
  forklift dynamo status
  forklift piwik import www.example.org 2026-11-20 --dry-run
  forklift rainforest users
"""


@click.group(
    help="forklift: move an application's data into a warehouse and serve it back.\n" + EXAMPLES
)
def cli() -> None:
    pass


@cli.group(help="Database schema commands.")
def db() -> None:
    pass


@db.command(
    help="Create or update the warehouse tables (and with --source the demo source "
    "tables) from their definitions in code. Idempotent."
)
@click.option(
    "--source",
    "with_source",
    is_flag=True,
    help="Also create/update the source application tables (demo and tests only; Postgres "
    "or MySQL, by FORKLIFT_SOURCE_DSN).",
)
@click.option(
    "--wait",
    "wait_s",
    type=float,
    default=0.0,
    show_default=True,
    help="Keep retrying this many seconds while a database is unreachable (compose start-up).",
)
def migrate(with_source: bool, wait_s: float) -> None:
    core = core_settings()
    core.require("warehouse_dsn", *(["source_dsn"] if with_source else []))
    source = core.source_dsn if with_source else None

    def waiting(message: str) -> None:
        click.echo(f"migrate: {message}", err=True)

    changes = run_async(migrate_waiting(source, core.warehouse_dsn or "", wait_s, waiting))
    for change in changes:
        click.echo(change)
    click.echo(f"migrate: {len(changes)} change(s)" if changes else "migrate: up to date")


@cli.command(
    help="Run a service's arq worker until SIGTERM.\n\nExample: forklift worker aggregator"
)
@click.argument("service", type=click.Choice(SERVICES))
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
def worker(service: str, burst: bool) -> None:
    core = core_settings()
    run_async(run_worker(service_module(service, "worker").WorkerSettings, core, burst=burst))


async def serve_app(
    app: web.Application, host: str, port: int, what: str, core: CoreSettings
) -> None:
    """Serve ``app`` on host:port until cancelled, beating a heartbeat for ``what`` when Redis
    is configured; a taken port is a PortInUseError."""
    runner = EdgeRunner(app, access_log=None)
    await runner.setup()
    # What is alive now (modules, settings, pools) lives as long as the server: out of the
    # cycle collector's full collections, which walk every tracked object (~70,000 after
    # the imports, about 1 us each on a 2-core machine: a 70 ms pause every few seconds).
    gc.collect()
    gc.freeze()
    async with AsyncExitStack() as cleanup:
        cleanup.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise PortInUseError(host, port, what) from None
            raise
        if core.redis_url:
            redis = Redis.from_url(core.redis_url, socket_timeout=core.network_timeout_s)
            cleanup.push_async_callback(redis.aclose)
            heartbeat = Heartbeat(redis, what, core.heartbeat_interval_s)
            await heartbeat.start()
            cleanup.push_async_callback(heartbeat.stop)
        log.info("serve.listening", service=what, url=f"http://{host}:{port}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("serve.stopping", service=what)


@cli.command(help="Run a service's HTTP API.\n\nExample: forklift serve rainforest --port 8000")
@click.argument("service", type=click.Choice(sorted(SERVERS)))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port", type=int, default=None, help="Default: 8000 rainforest, 8080 dashboard_api."
)
@click.option(
    "--no-poller",
    "--no-background",
    "no_background",
    is_flag=True,
    help="Serve the API only, without the service's background tasks (the poller).",
)
def serve(service: str, host: str, port: int | None, no_background: bool) -> None:
    core = core_settings()
    api = service_module(service, "api")
    settings = load_settings(api.settings_cls)

    async def _serve() -> None:
        app = await api.create_app(core, settings, background=not no_background)
        await serve_app(app, host, port or SERVERS[service], service, core)

    run_async(_serve(), uvloop_loop=True)


cli.add_command(demo)
for _service in SERVICES:
    cli.add_command(service_module(_service, "cli").group)


def main() -> None:
    main_entry(cli)
