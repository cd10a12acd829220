"""Errors of the dynamo_pump service."""

from shared.errors import ForkliftError

__all__ = ["DynamoError", "DynamoUnavailable", "BadKey"]


class DynamoError(ForkliftError):
    """Base of every dynamo_pump failure."""


class DynamoUnavailable(DynamoError):
    """DynamoDB could not be reached or failed the request."""


class BadKey(DynamoError):
    """A fbid given on the command line is not a positive integer."""

    exit_code = 2
