"""``PiwikSettings``: where logs, sites and Matomo are (env prefix ``FORKLIFT_PIWIK_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from shared.settings import forklift_config

__all__ = ["PiwikSettings"]


class PiwikSettings(BaseSettings):
    """Settings of the piwik service. The Matomo token is a secret: never logged or echoed."""

    model_config = forklift_config("FORKLIFT_PIWIK_")

    sites_file: Path = Field(Path("piwik-sites.json"), description="JSON sites config file")
    pull_bucket: str = "forklift-weblogs"
    push_bucket: str = "forklift-weblogs-archive"
    archive_prefix: str = "mtclog"
    matomo_url: str | None = Field(None, description="Matomo base URL; unset = no Matomo")
    matomo_token: SecretStr | None = None
    batch_size: int = Field(500, ge=1, le=10_000, description="hits per bulk request")
    recorders: int = Field(4, ge=1, le=64, description="concurrent bulk senders")
    retries: int = Field(3, ge=0, le=20, description="retries of a failed bulk request")
    backoff_s: float = Field(0.5, ge=0, description="first retry delay, doubled each time")
    timeout_s: float = Field(30.0, gt=0, description="timeout of one Matomo request")
    parse_processes: int = Field(
        2, ge=1, le=32, description="processes parsing a file's lines (1: in a thread)"
    )
    trigger_archiving: bool = Field(True, description="invalidate Matomo reports after a day")
    daily_hour_utc: int = Field(2, ge=0, le=23, description="hour of the daily cron run")
