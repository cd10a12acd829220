"""compose.yaml is valid for docker-compose (validated without a Docker engine), has no
default secret and publishes the APIs on loopback unless told otherwise."""

import os
import re
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


# Every secret compose needs; none has a default.
SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret",
    "FORKLIFT_SOURCE_DSN": "postgresql://postgres:pg-secret@postgres:5432/forklift_source",
    "AWS_ACCESS_KEY_ID": "key-id",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "FORKLIFT_PIWIK_MATOMO_TOKEN": "matomo-secret",
    "FORKLIFT_RAINFOREST_API_TOKEN": "rainforest-secret",
    "FORKLIFT_RAINFOREST_ENCRYPTION_KEY": "fernet-secret",
    "FORKLIFT_DASHBOARD_SESSION_SECRET": "session-secret",
}


def _config(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``docker-compose config`` with exactly ``env`` (no .env file, no inherited secrets)."""
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [_docker_compose(), "--env-file", str(empty_env_file), "-f", str(ROOT / "compose.yaml")]
        + ["config", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**base, **env},
    )


def test_compose_file_is_valid(tmp_path: Path) -> None:
    result = _config(tmp_path, SECRETS, "-q")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_refuses_to_start_without_a_secret(tmp_path: Path, missing: str) -> None:
    env = {k: v for k, v in SECRETS.items() if k != missing}
    result = _config(tmp_path, env, "-q")
    assert result.returncode == 1 and missing in result.stderr, result.stderr


def test_no_secret_has_a_default() -> None:
    text = (ROOT / "compose.yaml").read_text()
    defaults = re.findall(r"\$\{([A-Z0-9_]+):?-", text)
    secretish = [n for n in defaults if re.search("TOKEN|SECRET|KEY|PASSWORD", n)]
    assert not secretish, secretish
    for name in SECRETS:
        assert f"${{{name}:?" in text, name


def test_apis_published_on_loopback_unless_told_otherwise(tmp_path: Path) -> None:
    from services import SERVERS

    rendered = yaml.safe_load(_config(tmp_path, SECRETS).stdout)
    for server, port in SERVERS.items():
        assert rendered["services"][server]["ports"] == [f"127.0.0.1:{port}:{port}/tcp"]
    everywhere = yaml.safe_load(
        _config(tmp_path, {**SECRETS, "FORKLIFT_BIND_ADDRESS": "0.0.0.0"}).stdout
    )
    for server, port in SERVERS.items():
        assert everywhere["services"][server]["ports"] == [f"0.0.0.0:{port}:{port}/tcp"]


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
        assert config["services"][server]["ports"] == [
            f"${{FORKLIFT_BIND_ADDRESS:-127.0.0.1}}:{port}:{port}"
        ]
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
    assert config["x-forklift-env"]["FORKLIFT_SOURCE_DSN"].startswith("${FORKLIFT_SOURCE_DSN:?")
    assert "MARIADB_ROOT_PASSWORD" not in mariadb["environment"]  # no default secret
    assert config["services"]["migrate"]["command"][-2:] == ["--wait", "120"]
    for name, service in config["services"].items():  # absent without the profile
        assert "mariadb" not in (service.get("depends_on") or {}), name
    env = {
        **os.environ,
        **SECRETS,
        "COMPOSE_PROFILES": "mysql",
        "MARIADB_PASSWORD": "maria-secret",
        "FORKLIFT_SOURCE_DSN": "mysql://forklift:maria-secret@mariadb:3306/forklift_source",
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
