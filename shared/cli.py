"""CLI glue: the error boundary that turns failures into one line and an exit code,
settings loaded once per command, and running coroutines from click commands."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import click
import uvloop

from shared.errors import ForkliftError, describe
from shared.logging import configure_logging, get_logger
from shared.settings import CoreSettings, load_settings

__all__ = ["CliState", "core_settings", "run_async", "run_cli"]

T = TypeVar("T")

log = get_logger("forklift.cli")


class CliState:
    """What a command invocation shares: settings, loaded once and on first use."""

    def __init__(self) -> None:
        self._core: CoreSettings | None = None

    @property
    def core(self) -> CoreSettings:
        if self._core is None:
            self._core = load_settings(CoreSettings)
            configure_logging(self._core.log_format, self._core.log_level)
        return self._core


def core_settings() -> CoreSettings:
    """The CoreSettings of the running command (loaded from the environment on first use)."""
    ctx = click.get_current_context()
    state = ctx.find_object(CliState)
    if state is None:
        state = ctx.ensure_object(CliState)
    return state.core


def run_async(coro: Coroutine[Any, Any, T], *, uvloop_loop: bool = False) -> T:
    """Run a coroutine from a click command; ``uvloop_loop``: on uvloop (servers: an event
    loop iteration costs a fraction of asyncio's)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop if uvloop_loop else None) as runner:
        return runner.run(coro)


def run_cli(group: click.Group, args: Sequence[str] | None = None) -> int:
    """Invoke ``group``; every error becomes one line on stderr and an exit code
    (2 for bad input or configuration, 1 for failures, 130 when interrupted)."""
    try:
        result = group.main(
            args=list(args) if args is not None else None,
            prog_name="forklift",
            standalone_mode=False,
            obj=CliState(),
        )
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("forklift: interrupted", err=True)
        return 130
    except ForkliftError as e:
        click.echo(f"forklift: error: {e}", err=True)
        return e.exit_code
    except Exception as e:  # the boundary: an unexpected error is one line, traceback at DEBUG
        log.debug("cli.error.traceback", exc_info=True)
        click.echo(
            f"forklift: error: {describe(e)} (FORKLIFT_LOG_LEVEL=DEBUG shows where)", err=True
        )
        return 1
    return result if isinstance(result, int) else 0


def main_entry(group: click.Group) -> None:
    """Console-script entry: run ``group`` and exit with its code."""
    sys.exit(run_cli(group))
