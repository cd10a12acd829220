"""The rainforest service's errors: one base, a subclass per failure a caller handles differently."""

from shared.errors import ForkliftError

__all__ = [
    "RainforestError",
    "GatewayError",
    "BadCredentials",
    "BadReply",
    "UserNotFound",
    "BadUserInput",
    "PollerConfigError",
    "S3Unavailable",
    "RotationBusy",
    "HostNotAllowed",
]


class RainforestError(ForkliftError):
    """Base of every rainforest error."""


class GatewayError(RainforestError):
    """A gateway (cloud relay or EAGLE-200) was unreachable, slow, or answered 5xx: back off."""


class BadCredentials(GatewayError):
    """The gateway rejected the user's credentials: stop polling until the user is updated."""


class BadReply(GatewayError):
    """The gateway answered something that is not a reading (garbage XML, missing fields)."""


class UserNotFound(RainforestError):
    """No user record for that cloud id; ``field`` names the input that needed one."""

    exit_code = 2

    def __init__(self, message: str, field: str = "cloud_id") -> None:
        super().__init__(message)
        self.field = field


class BadUserInput(RainforestError):
    """A user record field is invalid; ``field`` names it."""

    exit_code = 2

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class PollerConfigError(RainforestError):
    """This poller's settings disagree with the running pollers' (e.g. the shard count)."""

    exit_code = 2


class S3Unavailable(RainforestError):
    """S3 did not answer or refused a request: the rotation run stops, files stay on disk."""


class RotationBusy(RainforestError):
    """Another rotation run holds the rotation lock."""


class HostNotAllowed(RainforestError):
    """A gateway address outside FORKLIFT_RAINFOREST_GATEWAY_NETWORKS (or a special range
    not explicitly allowed): no request is ever sent there."""

    exit_code = 2
