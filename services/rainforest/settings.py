"""rainforest settings (env prefix ``FORKLIFT_RAINFOREST_``)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

from services.rainforest.hosts import DEFAULT_GATEWAY_NETWORKS
from shared.errors import ConfigError
from shared.networks import IPNetwork, parse_networks
from shared.settings import CoreSettings, forklift_config

__all__ = ["RainforestSettings"]

DEFAULT_RELAY_URL = "https://rainforestcloud.com:9445"


class RainforestSettings(BaseSettings):
    """Poller cadence and limits, API tokens, the secret-encryption key, logs and the bucket."""

    model_config = forklift_config("FORKLIFT_RAINFOREST_")

    api_token: SecretStr | None = Field(
        None, description="Bearer token(s) for the API, comma-separated"
    )
    encryption_key: SecretStr | None = Field(
        None, description="Fernet key encrypting gateway secrets at rest"
    )
    log_dir: Path | None = Field(
        None, description="JSONL log folder (default <data_dir>/rainforest)"
    )
    s3_bucket: str = "forklift-rainforest"
    relay_url: str = DEFAULT_RELAY_URL
    poll_period_s: float = Field(6.0, gt=0)
    concurrency: int = Field(500, ge=1, le=20_000)
    request_timeout_s: float = Field(5.0, gt=0)
    backoff_cap_s: float = Field(300.0, gt=0)
    flush_interval_s: float = Field(0.5, gt=0)
    shards: int = Field(
        1024, ge=1, le=65_536, description="Shards users are split into (same on every poller)"
    )
    heartbeat_interval_s: float = Field(1.0, gt=0, description="Poller membership beat")
    heartbeat_timeout_s: float = Field(
        5.0, gt=0, description="A poller silent this long is dead; others take its users"
    )
    poller_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_.:-]{1,100}$", description="Default: <host>-<pid>-<random>"
    )
    rotate_retry_s: float = Field(60.0, gt=0, description="Retry a rotation S3 stopped after")
    rotate_grace_s: float = Field(60.0, ge=0)
    max_body_bytes: int = Field(16_384, ge=256)
    gateway_networks: str = Field(
        DEFAULT_GATEWAY_NETWORKS,
        description="Comma-separated networks EAGLE-200 hosts may be in (loopback, link-local "
        "and metadata addresses only when a network names them explicitly)",
    )

    @field_validator("gateway_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        if not parse_networks(value):
            raise ValueError("name at least one network (e.g. 192.168.0.0/16)")
        return value

    @cached_property
    def networks(self) -> tuple[IPNetwork, ...]:
        """:attr:`gateway_networks` parsed."""
        return parse_networks(self.gateway_networks)

    @field_validator("encryption_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                Fernet(value.get_secret_value())
            except ValueError:
                raise ValueError(
                    "must be a Fernet key (Fernet.generate_key(): 32 url-safe base64 bytes)"
                ) from None
        return value

    @model_validator(mode="after")
    def _timeout_fits_beats(self) -> RainforestSettings:
        if self.heartbeat_timeout_s < 4 * self.heartbeat_interval_s:
            raise ValueError(
                "FORKLIFT_RAINFOREST_HEARTBEAT_TIMEOUT_S must be at least 4 x HEARTBEAT_INTERVAL_S"
            )
        return self

    @property
    def lease_ttl_s(self) -> float:
        """How long a shard lease (and a membership) lives unless renewed: the heartbeat
        timeout less two beats (one to notice the expiry, one to catch up the users), so a
        dead poller's users are polled again within poll period + heartbeat timeout."""
        return self.heartbeat_timeout_s - 2 * self.heartbeat_interval_s

    def tokens(self) -> list[str]:
        """The accepted API bearer tokens."""
        raw = self.api_token.get_secret_value() if self.api_token else ""
        return [t.strip() for t in raw.split(",") if t.strip()]

    def fernet(self) -> Fernet:
        """The cipher for gateway secrets; raises ConfigError when no key is set."""
        if self.encryption_key is None:
            raise ConfigError("FORKLIFT_RAINFOREST_ENCRYPTION_KEY is not set")
        return Fernet(self.encryption_key.get_secret_value())

    def logs_path(self, core: CoreSettings) -> Path:
        """Where JSONL logs are written."""
        return self.log_dir if self.log_dir is not None else core.data_dir / "rainforest"
