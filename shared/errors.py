"""The root of forklift's exception tree and the errors every service can raise."""


class ForkliftError(Exception):
    """Base of every error forklift raises on purpose; its text is shown to the user as is."""

    exit_code = 1


class ConfigError(ForkliftError):
    """A setting is missing or malformed; raised at start-up, before any work is done."""

    exit_code = 2


class UsageError(ForkliftError):
    """The user asked for something that cannot be done as asked (bad argument, unknown name)."""

    exit_code = 2


class PortInUseError(ForkliftError):
    """A server could not bind its port because another process holds it."""

    exit_code = 2

    def __init__(self, host: str, port: int, what: str) -> None:
        super().__init__(f"{what}: port {host}:{port} is already in use")
        self.host = host
        self.port = port


def describe(error: BaseException) -> str:
    """``Type: message`` for logs and job records; an error with no message (a timeout, a
    dropped connection) still says what it was."""
    text = str(error) or ("no answer within the timeout" if isinstance(error, TimeoutError) else "")
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
