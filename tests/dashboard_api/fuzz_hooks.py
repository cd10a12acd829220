"""schemathesis hooks for the dashboard API: the range rules no JSON Schema can state.

A query's ``start`` must come before its ``end``, the two may lie at most MAX_SPAN_DAYS
apart, and both must lie on the route's grain: a whole UTC hour, or a UTC midnight for daily
data (400 otherwise, which negative and coverage cases still probe). A *positive* case is
one the schema says is valid, so the fuzzer expects it to be accepted: this hook moves both
to their UTC midnight (on every grain), and ``end`` to one day after ``start`` when the
pair still breaks the rules.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import schemathesis

from services.dashboard_api.models import parse_instant


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    meta = case.meta
    query = case.query
    if meta is None or not meta.generation.mode.is_positive or not isinstance(query, dict):
        return case
    if not {"start", "end"} <= set(query):
        return case
    try:
        start, end = _midnight(query["start"]), _midnight(query["end"])
    except ValueError:
        return case
    day = timedelta(days=1)
    if not start < end <= start + timedelta(days=400):
        if start + day <= end.max.replace(tzinfo=end.tzinfo) - day:
            end = start + day
        else:  # start is at the end of time: a day before it
            start, end = start - day, start
    query["start"], query["end"] = start.isoformat(), end.isoformat()
    return case


def _midnight(value: object) -> datetime:
    """The UTC midnight starting the day of the instant ``value`` names."""
    return parse_instant(value).replace(hour=0, minute=0, second=0, microsecond=0)
