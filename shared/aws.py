"""aioboto3 session and client factories honouring the configured endpoint (moto in dev)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aioboto3
from botocore.config import Config

__all__ = ["AwsConfig", "aws_client"]


@dataclass(frozen=True)
class AwsConfig:
    """What it takes to reach AWS: region, optional endpoint and static keys, timeouts."""

    region: str = "us-east-1"
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    timeout_s: float = 30.0
    max_attempts: int = 4

    @classmethod
    def from_settings(cls, settings: Any) -> AwsConfig:
        """Build from a CoreSettings-like object."""
        secret = settings.aws_secret_access_key
        return cls(
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
            access_key_id=settings.aws_access_key_id,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
            timeout_s=settings.network_timeout_s,
        )


@asynccontextmanager
async def aws_client(aws: AwsConfig, service: str, **config: Any) -> AsyncIterator[Any]:
    """An aioboto3 client for ``service`` ("s3", "dynamodb") with timeouts and bounded retries."""
    session = aioboto3.Session(
        aws_access_key_id=aws.access_key_id,
        aws_secret_access_key=aws.secret_access_key,
        region_name=aws.region,
    )
    botocore_config = Config(
        connect_timeout=aws.timeout_s,
        read_timeout=aws.timeout_s,
        retries={"max_attempts": aws.max_attempts, "mode": "standard"},
        **config,
    )
    async with session.client(
        service, endpoint_url=aws.endpoint_url, config=botocore_config
    ) as client:
        yield client
