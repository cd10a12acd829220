"""schemathesis hooks for the dashboard API: the range rules no JSON Schema can state.

A query's ``start`` must come before its ``end`` and the two may lie at most MAX_SPAN_DAYS
apart (400 otherwise, which negative and coverage cases still probe). A *positive* case is
one the schema says is valid, so the fuzzer expects it to be accepted: this hook moves its
``end`` to one day after ``start`` when the generated pair breaks those rules.
"""

from __future__ import annotations

from datetime import timedelta

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
        start, end = parse_instant(query["start"]), parse_instant(query["end"])
    except ValueError:
        return case
    if start < end <= start + timedelta(days=400):
        return case
    day = timedelta(days=1)
    if start + day <= end.max.replace(tzinfo=end.tzinfo) - day:
        query["end"] = (start + day).isoformat()
    else:  # start is at the end of time: a day before it
        query["start"], query["end"] = (start - day).isoformat(), start.isoformat()
    return case
