"""The suite's clock. Tests build their dates from ``TODAY`` (the UTC midnight the run
started on, read once) or from an explicit ``now`` they pass to the code under test, never
from a fixed day: the suite passes on any date, and ``make test-floor`` proves it by running
it with the clock a year ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["TODAY", "days_ago", "iso_z"]

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def days_ago(days: float) -> datetime:
    """UTC midnight ``days`` before today (fractions move within the day)."""
    return TODAY - timedelta(days=days)


def iso_z(moment: datetime) -> str:
    """``moment`` as the API writes it: ISO-8601 UTC with a Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
