"""The running demo's settings as a shell file, so the CLI in another shell reaches it:
``forklift demo`` writes ``<data dir>/demo.env`` at start (removed at stop) and
``forklift demo env`` prints it for ``eval "$(forklift demo env)"``."""

from __future__ import annotations

import shlex
from pathlib import Path

from shared.errors import ConfigError

__all__ = ["ENV_FILE", "write_env_file", "read_env_file"]

ENV_FILE = "demo.env"


def write_env_file(data_dir: Path, env: dict[str, str]) -> Path:
    """Write ``export NAME=value`` lines (owner-only: they hold the demo's secrets)."""
    path = data_dir / ENV_FILE
    lines = [f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items())]
    path.touch(mode=0o600)
    path.write_text("# written by `forklift demo` while it runs\n" + "\n".join(lines) + "\n")
    return path


def read_env_file(data_dir: Path) -> str:
    """The running demo's env file, or ConfigError saying how to start one."""
    path = data_dir.resolve() / ENV_FILE
    try:
        return path.read_text()
    except FileNotFoundError:
        raise ConfigError(
            f"no demo is running with data dir {data_dir.resolve()} (no {ENV_FILE}):"
            " start one with `make demo` or `forklift demo`"
        ) from None
