"""``forklift demo`` end to end, on the embedded stack with nothing configured: ``--check``
passes for every service, then a second start reuses the data folder and Ctrl-C leaves no
process behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services import SERVICES
from shared.embedded import free_port

pytestmark = pytest.mark.demo


def _demo_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORKLIFT_")}
    env["FORKLIFT_DATA_DIR"] = str(data_dir)
    return env


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


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo") / ".forklift"


@pytest.mark.timeout(480)
def test_demo_check_passes_on_embedded_stack(demo_dir: Path) -> None:
    ports = ["--dashboard-port", str(free_port()), "--rainforest-port", str(free_port())]
    result = subprocess.run(
        [sys.executable, "-m", "services", "demo", "--check", "--timeout", "240", *ports],
        env=_demo_env(demo_dir),
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "demo check passed" in result.stdout
    for service in SERVICES:
        assert any(
            line.startswith(f"{service} ") and " ok " in line for line in result.stdout.splitlines()
        ), service
    assert "superuser     : admin / forklift-admin" in result.stdout
    assert not _processes_using(demo_dir)


@pytest.mark.timeout(240)
def test_second_start_reuses_data_and_ctrl_c_stops_everything(demo_dir: Path) -> None:
    assert (demo_dir / "postgres").is_dir()  # left by the first test
    ports = ["--dashboard-port", str(free_port()), "--rainforest-port", str(free_port())]
    started = time.monotonic()
    demo = subprocess.Popen(
        [sys.executable, "-m", "services", "demo", *ports],
        env=_demo_env(demo_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in demo.stdout:
            if line.startswith("Press Ctrl-C"):
                break
        seconds = time.monotonic() - started
        assert demo.poll() is None
        assert seconds < 60, f"second start took {seconds:.0f}s"
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=90)
    assert demo.returncode == 0
    time.sleep(1)
    assert not _processes_using(demo_dir)
