"""``DynamoSettings``: budget, tables and batch sizes of the pump (env prefix ``FORKLIFT_DYNAMO_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from shared.settings import forklift_config

__all__ = ["DynamoSettings"]


class DynamoSettings(BaseSettings):
    """Settings of the dynamo_pump service."""

    model_config = forklift_config("FORKLIFT_DYNAMO_")

    rcu_per_second: float = Field(50.0, gt=0, description="read capacity shared by all pumps")
    table_prefix: str = ""
    users_table: str = "users"
    edges_table: str = "edges"
    user_batch_size: int = Field(100, ge=1, le=100, description="keys per BatchGetItem")
    edge_batch_size: int = Field(10, ge=1, le=1000, description="fbids claimed per edges batch")
    concurrency: int = Field(4, ge=1, le=64, description="batches in flight per pump process")
    refresh_age_days: float = Field(30.0, gt=0)
    not_found_recheck_days: float = Field(7.0, gt=0)
    in_flight_timeout_s: float = Field(
        10.0, gt=0, description="lease of a claimed batch, renewed while it is processed"
    )
    plan_interval_minutes: int = Field(15, ge=1, le=60)
    plan_limit: int = Field(100_000, ge=1, description="keys planned per queue per run")
    # Charge DynamoDB's ConsumedCapacity figures; false: compute RCU from item sizes (moto's
    # figures are not DynamoDB's: a flat unit per item or page).
    use_consumed_capacity: bool = True
    string_max_chars: int = Field(4096, ge=16)
    idle_sleep_s: float = Field(1.0, gt=0)
    error_backoff_max_s: float = Field(60.0, gt=0)

    def table(self, name: str) -> str:
        """The DynamoDB table name for ``name`` ("users" or "edges")."""
        return self.table_prefix + (self.users_table if name == "users" else self.edges_table)
