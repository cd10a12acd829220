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


class _CurrentStderrHandler(logging.StreamHandler):
    """The stdlib twin of :class:`_CurrentStderrLoggerFactory`."""

    @property
    def stream(self) -> object:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


class _DropArqJobTracebacks(logging.Filter):
    """arq logs a failed job with its traceback; forklift's job wrapper already logged the
    outcome in one line (and the traceback at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "arq.worker" and record.exc_info is not None)


# Libraries whose INFO lines repeat what forklift logs itself (arq: one line per job start
# and end; forklift's job wrapper logs the outcome with its counts).
_QUIET_LOGGERS = ("arq.worker", "botocore", "aiobotocore", "aiohttp.access", "werkzeug", "pgserver")


def configure_logging(log_format: str = "console", level: str = "INFO") -> None:
    """Route structlog and stdlib logging to stderr in ``log_format`` ("json" or "console"):
    library lines come out in the same format as forklift's own."""
    renderer = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    common = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_secrets,
    ]
    structlog.configure(
        processors=[*common, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)),
        logger_factory=_CurrentStderrLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = _CurrentStderrHandler()
    handler.addFilter(_DropArqJobTracebacks())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *common],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(getattr(logging, level))
    for noisy in _QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger carrying ``component=name``."""
    return structlog.get_logger(component=name)
