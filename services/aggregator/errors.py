"""The aggregator's exceptions."""

from shared.errors import ForkliftError

__all__ = ["AggregateError", "BadRequest"]


class AggregateError(ForkliftError):
    """Base of every error the aggregator raises on purpose."""


class BadRequest(AggregateError):
    """Bad user input: malformed or contradictory dates, unknown table."""

    exit_code = 2
