"""``SyncSettings``: which tables to copy and how (env prefix ``FORKLIFT_SYNC_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings

from shared.settings import forklift_config
from shared.source_schema import SYNCED_TABLES

__all__ = ["Mode", "SyncSettings"]

Mode = Literal["full", "incremental"]

_INCREMENTAL_BY_DEFAULT = ("visits", "visitors", "campaigns", "events", "campaign_properties")


class SyncSettings(BaseSettings):
    """Settings of the sync service. Lists and maps are JSON in the environment, e.g.
    ``FORKLIFT_SYNC_MODES='{"events": "full"}'``."""

    model_config = forklift_config("FORKLIFT_SYNC_")

    tables: list[str] = Field(default_factory=lambda: [t.name for t in SYNCED_TABLES])
    modes: dict[str, Mode] = Field(
        default_factory=lambda: {name: "incremental" for name in _INCREMENTAL_BY_DEFAULT}
    )
    default_mode: Mode = "full"
    cursor_column: str = "updated"
    # Incremental runs re-read this much before the watermark, so rows committed late with
    # an older cursor value are not missed (the merge by primary key makes re-reads harmless).
    overlap_s: float = Field(60.0, ge=0)
    bucket: str = "forklift-sync"
    prefix: str = "sync"
    part_size_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="raw CSV bytes per part")
    multipart_chunk_bytes: int = Field(16 * 1024 * 1024, ge=5 * 1024 * 1024)
    upload_concurrency: int = Field(4, ge=1, le=64)
    gzip_level: int = Field(1, ge=1, le=9)
    interval_minutes: int = Field(10, ge=1, le=60)
    lock_ttl_s: float = Field(
        15.0, gt=0, description="lock expiry, refreshed every third of it while running"
    )
    lock_wait_s: float = Field(0.0, ge=0, description="how long a second run waits for the lock")
    redshift_iam_role: str | None = None
    redshift_access_key_id: str | None = None
    redshift_secret_access_key: SecretStr | None = None
    redshift_distkeys: dict[str, str] = Field(default_factory=dict)
    redshift_sortkeys: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _modes_name_tables(self) -> SyncSettings:
        unknown = sorted(set(self.modes) - set(self.tables))
        if unknown and "modes" in self.model_fields_set:  # the defaults may name unused tables
            raise ValueError(f"modes names tables not in tables: {', '.join(unknown)}")
        return self

    def mode_for(self, table: str) -> Mode:
        """The configured mode of ``table``."""
        return self.modes.get(table, self.default_mode)
