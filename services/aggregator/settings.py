"""``FORKLIFT_AGGREGATOR_*`` settings."""

from pydantic import Field
from pydantic_settings import BaseSettings

from shared.settings import forklift_config

__all__ = ["AggregatorSettings"]


class AggregatorSettings(BaseSettings):
    """How the aggregator loads hours."""

    model_config = forklift_config("FORKLIFT_AGGREGATOR_")

    batch_hours: int = Field(
        24, ge=1, le=744, description="Hours per load job of a backfill (cut at multiples)"
    )
    lock_wait_s: float = Field(
        60.0, gt=0, description="How long a load waits for an overlapping load to finish"
    )
    work_mem_mb: int = Field(
        64, ge=4, le=4096, description="Postgres work_mem of a load (a day's join in memory)"
    )
    retry_base_s: float = Field(5.0, gt=0, description="First retry delay; doubles per try")
    inline_concurrency: int = Field(2, ge=1, le=32, description="Parallel loads of --inline")
