"""structlog set-up: JSON lines in production, a readable console format in development."""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ["configure_logging", "get_logger"]

_SECRET_KEYS = frozenset({"password", "secret", "token", "token_auth", "user_pw", "install_code"})


def _redact_secrets(_logger: object, _name: str, event: dict) -> dict:
    """Never let a value under a secret-looking key reach a log line."""
    for key in event.keys() & _SECRET_KEYS:
        event[key] = "***"
    return event


class _CurrentStderrLoggerFactory:
    """Print to whatever ``sys.stderr`` is at call time, not the one seen at configure time.

    A stream captured when logging was configured may since have been closed (pytest's
    capture, a daemonised child), and printing to it would turn every log call into an error.
    """

    def __call__(self, *_args: object) -> structlog.PrintLogger:
        return structlog.PrintLogger(sys.stderr)


def configure_logging(log_format: str = "console", level: str = "INFO") -> None:
    """Route structlog and stdlib logging to stderr in ``log_format`` ("json" or "console")."""
    renderer = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    processors = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_secrets,
        structlog.processors.format_exc_info,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)),
        logger_factory=_CurrentStderrLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=getattr(logging, level), stream=sys.stderr, format="%(message)s")
    for noisy in ("botocore", "aiobotocore", "aiohttp.access", "werkzeug", "pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger carrying ``component=name``."""
    return structlog.get_logger(component=name)
