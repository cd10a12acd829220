"""Settings of the dashboard_api service (prefix ``FORKLIFT_DASHBOARD_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from shared.errors import ConfigError
from shared.settings import forklift_config

__all__ = ["DashboardSettings"]


class DashboardSettings(BaseSettings):
    """Session secret, login throttle, query limits and where the rainforest API is."""

    model_config = forklift_config("FORKLIFT_DASHBOARD_")

    session_secret: SecretStr | None = Field(None, description="HMAC key for session ids")
    demo: bool = Field(False, description="Demo mode: a built-in session secret is allowed")
    session_ttl_s: int = Field(8 * 3600, ge=60)
    login_max_failures: int = Field(5, ge=1, description="Failures per username/IP per window")
    login_window_s: int = Field(900, ge=1)
    max_span_days: int = Field(400, ge=1, description="Longest [start, end) a query may span")
    max_iterations: int = Field(5_000_000, ge=1, description="Refuse pbkdf2 hashes above this")
    rainforest_url: str | None = Field(None, description="Base URL of the rainforest API")
    rainforest_token: SecretStr | None = None
    request_timeout_s: float = Field(10.0, gt=0)

    def secret(self) -> bytes:
        """The session secret; a clear ConfigError outside demo mode when it is unset."""
        if self.session_secret is not None and self.session_secret.get_secret_value():
            return self.session_secret.get_secret_value().encode()
        if self.demo:
            return b"forklift-demo-session-secret"
        raise ConfigError(
            "FORKLIFT_DASHBOARD_SESSION_SECRET is not set: set it to a long random string"
        )
