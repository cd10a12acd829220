"""Settings validation: one clear line naming the setting, exit code 2 from the CLI."""

import subprocess
import sys

import pytest

from shared.errors import ConfigError
from shared.settings import CoreSettings, load_settings


def test_defaults_leave_servers_unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SOURCE_DSN", "WAREHOUSE_DSN", "REDIS_URL", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(f"FORKLIFT_{name}", raising=False)
    settings = load_settings(CoreSettings, _env_file=None)
    assert settings.source_dsn is None
    assert settings.warehouse_dialect == "postgres"
    with pytest.raises(ConfigError, match="^FORKLIFT_SOURCE_DSN is not set$"):
        settings.require("source_dsn")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FORKLIFT_REDIS_URL", "localhost:6379", "FORKLIFT_REDIS_URL: Value error, must be a URL"),
        ("FORKLIFT_SOURCE_DSN", "sqlite://x/y", "FORKLIFT_SOURCE_DSN: Value error, must be a URL"),
        ("FORKLIFT_WAREHOUSE_DSN", "mysql://x/y", "FORKLIFT_WAREHOUSE_DSN: Value error, must be"),
        ("FORKLIFT_WAREHOUSE_DIALECT", "oracle", "FORKLIFT_WAREHOUSE_DIALECT: Input should be"),
        ("FORKLIFT_DB_POOL_MAX_SIZE", "zero", "FORKLIFT_DB_POOL_MAX_SIZE: Input should be a valid"),
        ("FORKLIFT_AWS_ENDPOINT_URL", "moto:5000", "FORKLIFT_AWS_ENDPOINT_URL: Value error"),
    ],
)
def test_bad_setting_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings(CoreSettings, _env_file=None)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_cli_bad_setting_is_one_line_exit_2(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "FORKLIFT_WAREHOUSE_DIALECT": "oracle"}
    result = subprocess.run(
        [sys.executable, "-m", "services", "db", "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "forklift: error: FORKLIFT_WAREHOUSE_DIALECT: Input should be 'postgres' or 'redshift'"
    ]


def test_cli_missing_setting_exit_2(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services", "db", "migrate"],
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "forklift: error: FORKLIFT_WAREHOUSE_DSN is not set"
