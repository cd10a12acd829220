"""compose.yaml is valid for docker-compose (validated without a Docker engine)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not installed (.ci/run installs it)")
        pytest.skip("docker-compose not installed: apt-get install docker-compose")
    return path


def test_compose_file_is_valid() -> None:
    result = subprocess.run(
        [_docker_compose(), "-f", str(ROOT / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_invalid_compose_file_is_rejected(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        "services:\n  web:\n    image: x\n    restart: sometimes-maybe\n    ports: 12\n"
    )
    result = subprocess.run(
        [_docker_compose(), "-f", str(broken), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "ports" in result.stderr


def test_every_service_runs_in_compose() -> None:
    from services import SERVERS, SERVICES

    config = yaml.safe_load((ROOT / "compose.yaml").read_text())
    commands = [tuple(s.get("command", ())) for s in config["services"].values()]
    for service in SERVICES:
        assert ("worker", service) in commands or any(
            c[:2] == ("serve", service) for c in commands
        ), service
    for server, port in SERVERS.items():
        assert f"{port}:{port}" in config["services"][server]["ports"]
    for infra in ("postgres", "redis"):
        assert "healthcheck" in config["services"][infra]


def _known_settings() -> set[str]:
    """Every FORKLIFT_* variable some settings class reads."""
    import importlib

    from pydantic_settings import BaseSettings

    from services import SERVICES
    from shared.settings import CoreSettings

    classes: list[type[BaseSettings]] = [CoreSettings]
    for service in SERVICES:
        module = importlib.import_module(f"services.{service}.settings")
        classes += [
            c
            for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, BaseSettings) and c is not BaseSettings
        ]
    return {
        f"{c.model_config['env_prefix']}{name}".upper() for c in classes for name in c.model_fields
    }


def test_compose_sets_only_settings_that_exist() -> None:
    config = yaml.safe_load((ROOT / "compose.yaml").read_text())
    known = _known_settings()
    for name, service in config["services"].items():
        environment = service.get("environment") or {}
        names = (
            environment if isinstance(environment, dict) else [e.split("=")[0] for e in environment]
        )
        unknown = {n for n in names if n.startswith("FORKLIFT_")} - known
        assert not unknown, f"{name}: no setting reads {sorted(unknown)}"


def test_mysql_source_profile() -> None:
    """``COMPOSE_PROFILES=mysql`` adds a MariaDB source; FORKLIFT_SOURCE_DSN points at it."""
    config = yaml.safe_load((ROOT / "compose.yaml").read_text())
    mariadb = config["services"]["mariadb"]
    assert mariadb["profiles"] == ["mysql"] and "healthcheck" in mariadb
    assert "mariadbdata" in config["volumes"]
    assert config["x-forklift-env"]["FORKLIFT_SOURCE_DSN"].startswith(
        "${FORKLIFT_SOURCE_DSN:-postgresql://"
    )
    assert config["services"]["migrate"]["command"][-2:] == ["--wait", "120"]
    for name, service in config["services"].items():  # absent without the profile
        assert "mariadb" not in (service.get("depends_on") or {}), name
    env = {
        **os.environ,
        "COMPOSE_PROFILES": "mysql",
        "FORKLIFT_SOURCE_DSN": "mysql://forklift:forklift@mariadb:3306/forklift_source",
    }
    result = subprocess.run(
        [_docker_compose(), "-f", str(ROOT / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    sync_env = resolved["services"]["sync"]["environment"]
    assert sync_env["FORKLIFT_SOURCE_DSN"] == env["FORKLIFT_SOURCE_DSN"]
