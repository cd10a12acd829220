"""``forklift sync``: sync one table or every configured table now."""

from __future__ import annotations

import click

from services.sync.clients import open_clients
from services.sync.runner import SyncFailure, TableReport, check_table, sync_all, sync_table
from services.sync.settings import SyncSettings
from shared.cli import core_settings, run_async
from shared.settings import load_settings

__all__ = ["group"]


@click.group(
    name="sync",
    help="RDS (source Postgres or MySQL, by FORKLIFT_SOURCE_DSN) -> gzip CSV on S3 -> "
    "warehouse, with atomic swap or merge.\n\n"
    "Examples:\n\n"
    "  forklift sync table events\n\n"
    "  forklift sync table visits --mode full\n\n"
    "  forklift sync all",
)
def group() -> None:
    pass


@group.command(
    name="table",
    help="Sync one configured table now, in its configured mode unless --mode says.\n\n"
    "Example: forklift sync table visits --mode full",
)
@click.argument("name")
@click.option(
    "--mode",
    type=click.Choice(["full", "incremental"]),
    default=None,
    help="full: reload and swap; incremental: merge rows changed since the last run.",
)
def table_command(name: str, mode: str | None) -> int:
    settings = load_settings(SyncSettings)
    check_table(settings, name)
    core = core_settings()

    async def _run() -> TableReport:
        async with open_clients(core) as clients:
            return await sync_table(clients, settings, name, mode)  # type: ignore[arg-type]

    click.echo(run_async(_run()).line())
    return 0


@group.command(
    name="all",
    help="Sync every configured table (FORKLIFT_SYNC_TABLES); a failure does not stop the "
    "others, and exit status 1 names every table that failed.\n\nExample: forklift sync all",
)
def all_command() -> int:
    settings = load_settings(SyncSettings)
    core = core_settings()

    async def _run() -> list[TableReport | SyncFailure]:
        async with open_clients(core) as clients:
            return await sync_all(clients, settings)

    results = run_async(_run())
    for result in results:
        click.echo(result.line(), err=isinstance(result, SyncFailure))
    return 1 if any(isinstance(r, SyncFailure) for r in results) else 0
