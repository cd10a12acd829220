"""Typed settings read from the environment (prefix ``FORKLIFT_``) and an optional ``.env``.

``CoreSettings`` holds what every process needs (where the databases, Redis and AWS are).
Each service has its own settings class next to its code, with the prefix
``FORKLIFT_<SERVICE>_``. Build settings once, in an entry point, with :func:`load_settings`,
then pass them down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ConfigError

__all__ = ["CoreSettings", "load_settings", "forklift_config"]


def forklift_config(prefix: str = "FORKLIFT_") -> SettingsConfigDict:
    """The settings config every forklift settings class uses, with its own env prefix."""
    return SettingsConfigDict(
        env_prefix=prefix, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )


def _check_dsn(value: str | None, schemes: tuple[str, ...]) -> str | None:
    if value is None or value == "":
        return None
    scheme = value.split("://", 1)[0]
    if "://" not in value or scheme not in schemes:
        raise ValueError(
            f"must be a URL starting with one of {', '.join(s + '://' for s in schemes)}"
        )
    return value


class CoreSettings(BaseSettings):
    """Where forklift's databases, Redis and AWS live, and how it logs.

    Unset DSNs/URLs mean "not configured": ``forklift demo`` then boots embedded servers,
    every other command stops with an error naming the missing setting.
    """

    model_config = forklift_config()

    source_dsn: str | None = Field(
        None, description="Source (RDS) DSN: postgresql://... or mysql:// (mariadb://)..."
    )
    warehouse_dsn: str | None = Field(None, description="Warehouse Postgres/Redshift DSN")
    warehouse_dialect: Literal["postgres", "redshift"] = "postgres"
    redis_url: str | None = Field(None, description="Redis URL for queues, locks, heartbeats")
    aws_endpoint_url: str | None = Field(None, description="S3/DynamoDB endpoint (moto in dev)")
    aws_region: str = "us-east-1"
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    log_format: Literal["json", "console"] = "console"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    data_dir: Path = Path(".forklift")
    db_pool_max_size: int = Field(10, ge=1, le=200)
    db_command_timeout_s: float = Field(300.0, gt=0)
    network_timeout_s: float = Field(30.0, gt=0)
    heartbeat_interval_s: float = Field(
        2.0, gt=0, description="process heartbeat period; 3 missed beats mean dead"
    )
    redis_retry_s: float = Field(
        300.0, ge=0, description="how long a worker keeps retrying an unreachable Redis"
    )
    shutdown_grace_s: float = Field(
        20.0, ge=0, description="how long a stopping worker lets running jobs finish"
    )

    @field_validator("source_dsn")
    @classmethod
    def _source_dsn(cls, value: str | None) -> str | None:
        return _check_dsn(value, ("postgres", "postgresql", "mysql", "mariadb"))

    @field_validator("warehouse_dsn")
    @classmethod
    def _postgres_dsn(cls, value: str | None) -> str | None:
        return _check_dsn(value, ("postgres", "postgresql", "redshift"))

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        return _check_dsn(value, ("redis", "rediss", "unix"))

    @field_validator("aws_endpoint_url")
    @classmethod
    def _endpoint_url(cls, value: str | None) -> str | None:
        return _check_dsn(value, ("http", "https"))

    def require(self, *names: str) -> None:
        """Raise ConfigError naming the first of ``names`` that is not set."""
        for name in names:
            if getattr(self, name) in (None, ""):
                raise ConfigError(f"FORKLIFT_{name.upper()} is not set")


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S], **overrides: object) -> S:
    """Build ``cls`` from the environment, turning validation errors into one ConfigError line."""
    try:
        return cls(**overrides)
    except ValidationError as e:
        prefix = cls.model_config.get("env_prefix", "")
        first = e.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "?"
        extra = f" (+{len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
        raise ConfigError(f"{prefix}{field.upper()}: {first['msg']}{extra}") from None
