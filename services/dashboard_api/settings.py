"""Settings of the dashboard_api service (prefix ``FORKLIFT_DASHBOARD_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

from services.dashboard_api.passwords import DEFAULT_ITERATIONS
from services.dashboard_api.throttle import ThrottleLimits
from shared.errors import ConfigError
from shared.networks import IPNetwork, parse_networks
from shared.settings import forklift_config

__all__ = ["DashboardSettings"]


class DashboardSettings(BaseSettings):
    """Session secret and cookie, login throttle, query limits, where the rainforest API is."""

    model_config = forklift_config("FORKLIFT_DASHBOARD_")

    session_secret: SecretStr | None = Field(None, description="HMAC key for session ids")
    demo: bool = Field(False, description="Demo mode: a built-in session secret is allowed")
    session_ttl_s: int = Field(8 * 3600, ge=60)
    cookie_secure: bool = Field(True, description="Session cookie only over HTTPS")
    login_max_failures: int = Field(
        5, ge=1, description="Free attempts per (username, client address) before delays"
    )
    login_delay_s: float = Field(1.0, gt=0, description="First delay; doubles per failure")
    login_delay_cap_s: float = Field(900.0, gt=0, description="Longest delay")
    login_window_s: int = Field(900, ge=1, description="Failures are forgotten after this")
    login_address_max_failures: int = Field(
        100, ge=1, description="Attempts per client address (any username) per window"
    )
    trusted_proxies: str = Field(
        "", description="Comma-separated networks whose X-Forwarded-For names the client"
    )
    password_iterations: int = Field(
        DEFAULT_ITERATIONS,
        ge=1,
        description="pbkdf2 iterations of the source's Django (unknown users cost the same)",
    )
    max_span_days: int = Field(400, ge=1, description="Longest [start, end) a query may span")
    cache_entries: int = Field(
        4096,
        ge=0,
        description="Metric answers (and campaign rows) kept per process, by data version (0: none)",
    )
    cache_mb: int = Field(
        64,
        ge=0,
        description="Most MiB the kept metric answers take per process (a 30-day hourly"
        " series is about 100 KiB)",
    )
    block_cache_days: int = Field(
        20_000,
        ge=0,
        description="Decoded rollups of (root campaign, UTC day) kept per process (0: none)",
    )
    warm_days: int = Field(
        31,
        ge=0,
        description="Newest days of rollups read into the block cache at start and after a"
        " data version change (0: none)",
    )
    warm_pause_s: float = Field(10.0, ge=0, description="Least time between two warm-ups")
    max_iterations: int = Field(5_000_000, ge=1, description="Refuse pbkdf2 hashes above this")
    rainforest_url: str | None = Field(None, description="Base URL of the rainforest API")
    rainforest_token: SecretStr | None = None
    request_timeout_s: float = Field(10.0, gt=0)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @model_validator(mode="after")
    def _iterations_within_cap(self) -> DashboardSettings:
        if self.password_iterations > self.max_iterations:
            raise ValueError("password_iterations must not exceed max_iterations")
        return self

    def secret(self) -> bytes:
        """The session secret; a clear ConfigError outside demo mode when it is unset."""
        if self.session_secret is not None and self.session_secret.get_secret_value():
            return self.session_secret.get_secret_value().encode()
        if self.demo:
            return b"forklift-demo-session-secret"
        raise ConfigError(
            "FORKLIFT_DASHBOARD_SESSION_SECRET is not set: set it to a long random string"
        )

    def proxies(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.trusted_proxies)

    def throttle_limits(self) -> ThrottleLimits:
        return ThrottleLimits(
            max_failures=self.login_max_failures,
            window_s=self.login_window_s,
            delay_s=self.login_delay_s,
            delay_cap_s=self.login_delay_cap_s,
            address_max_failures=self.login_address_max_failures,
        )
