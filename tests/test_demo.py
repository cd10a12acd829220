"""``forklift demo`` end to end, on the embedded stack with nothing configured.

A data folder made with the clock ten days back (libfaketime) still passes ``--check`` today,
because every start tops the demo events up to now. A second start is quick, the CLI reaches
the running demo through ``forklift demo env``, and Ctrl-C stops everything within 5 s with
no error logged and no process left behind."""

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services import SERVICES
from shared.demo import DEMO_CLIENT_USERS, DEMO_SUPERUSER
from shared.embedded import free_port

pytestmark = pytest.mark.demo


def _demo_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORKLIFT_")}
    env["FORKLIFT_DATA_DIR"] = str(data_dir)
    return env


def _ports() -> list[str]:
    return ["--dashboard-port", str(free_port()), "--rainforest-port", str(free_port())]


def _processes_using(data_dir: Path) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if str(data_dir) in cmdline or str(data_dir).encode() in environ:
            found.append(f"{pid}: {cmdline[:120]}")
    return found


def _check(data_dir: Path, *clock: str) -> subprocess.CompletedProcess:
    """``forklift demo --check`` (under ``clock``, a faketime prefix, when given)."""
    argv = [*clock, sys.executable, "-m", "services", "demo", "--check", "--timeout", "240"]
    return subprocess.run(
        [*argv, *_ports()], env=_demo_env(data_dir), capture_output=True, text=True, timeout=420
    )


def _assert_passed(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "demo check passed" in result.stdout
    for service in SERVICES:
        assert any(
            line.startswith(f"{service} ") and " ok " in line for line in result.stdout.splitlines()
        ), service


def _events_seeded(result: subprocess.CompletedProcess) -> int:
    return int(re.search(r"demo\.seeded\.source .*events=(\d+)", result.stderr).group(1))


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo") / ".forklift"


@pytest.mark.timeout(600)
def test_a_data_folder_ten_days_old_passes_check_today(demo_dir: Path) -> None:
    faketime = shutil.which("faketime")
    assert faketime, "this test needs libfaketime: apt-get install faketime"
    aged = _check(demo_dir, faketime, "-f", "-10d")
    _assert_passed(aged)
    assert _events_seeded(aged) > 50_000

    today = _check(demo_dir)
    _assert_passed(today)
    assert _events_seeded(today) > 50_000  # the last 7 days, topped up
    assert f"superuser     : {DEMO_SUPERUSER[0]} / {DEMO_SUPERUSER[1]}" in today.stdout
    for user, (password, client_id) in DEMO_CLIENT_USERS.items():
        assert f"client login  : {user} / {password} (client {client_id})" in today.stdout
    assert re.search(r"rainforest token: \S{20,}", today.stdout)
    assert not _processes_using(demo_dir)


def _log_sizes(data_dir: Path) -> dict[Path, int]:
    return {p: p.stat().st_size for p in (data_dir / "logs").glob("*.log")}


def _errors_logged_since(sizes: dict[Path, int], data_dir: Path) -> list[str]:
    errors = []
    for path in (data_dir / "logs").glob("*.log"):
        with path.open("rb") as f:
            f.seek(sizes.get(path, 0))
            new = f.read().decode(errors="replace")
        errors += [
            f"{path.name}: {line}" for line in new.splitlines() if '"level": "error"' in line
        ]
    return errors


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.timeout(300)
def test_second_start_cli_beside_it_and_ctrl_c_within_5s(demo_dir: Path) -> None:
    assert (demo_dir / "postgres").is_dir()  # left by the first test
    sizes = _log_sizes(demo_dir)
    started = time.monotonic()
    demo = subprocess.Popen(
        [sys.executable, "-m", "services", "demo", *_ports()],
        env=_demo_env(demo_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        for line in demo.stdout:
            if line.startswith("Press Ctrl-C"):
                break
        assert demo.poll() is None
        assert time.monotonic() - started < 60, "second start took over 60 s"

        # The printed line: `source <data dir>/demo.env`; `forklift demo env` prints the same.
        printed = _cli(_demo_env(demo_dir), "demo", "env")
        assert printed.returncode == 0, printed.stderr
        assert printed.stdout == (demo_dir / "demo.env").read_text()
        env = dict(_demo_env(Path("/nonexistent")))
        for line in printed.stdout.splitlines():
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                env[name] = shlex.split(value)[0] if value else ""
        # the CLI reaches the demo at once; the aggregator's first heartbeat may follow the
        # banner by a few seconds on a loaded machine
        deadline = time.monotonic() + 30
        while True:
            status = _cli(env, "aggregate", "status")
            assert status.returncode == 0 and "queued=" in status.stdout, status.stderr
            if "worker_alive=True" in status.stdout or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert "worker_alive=True" in status.stdout, status.stdout
        users = _cli(env, "rainforest", "users")
        assert users.returncode == 0 and re.search(r"^\d+ users$", users.stdout, re.M), users
        stopping = time.monotonic()
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=90)
    assert time.monotonic() - stopping < 5, "Ctrl-C took over 5 s"
    assert demo.returncode == 0
    assert not (demo_dir / "demo.env").exists()
    assert not _errors_logged_since(sizes, demo_dir)
    time.sleep(1)
    assert not _processes_using(demo_dir)
