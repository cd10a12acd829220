"""``forklift aggregate describe`` text, rendered from ``shared.facts`` (no I/O)."""

from __future__ import annotations

from shared.facts import COMMON_DIMENSIONS, FACT_TABLES, Fact

__all__ = ["describe_text"]


def _fact_line(fact: Fact, dimension: str | None) -> str:
    types = "|".join(fact.event_types)
    if fact.kind == "sum":
        formula = f"count of events of type {types}"
    else:
        formula = f"count(distinct {dimension}) over events of type {types}"
    return f"    {fact.name:<28} {fact.pretty_name} = {formula}"


def describe_text() -> str:
    """Every fact table with its dimensions, joins and facts."""
    common = ", ".join(f"{d.name} ({d.source})" for d in COMMON_DIMENSIONS)
    lines = [f"Common dimensions: {common}; hours are half-open [h, h+1h) UTC.", ""]
    for table in FACT_TABLES:
        dim = table.dimension
        lines.append(table.name)
        extra = f"{dim.name} ({dim.source}, {dim.pretty_name})" if dim else "none"
        lines.append(f"  extra dimension: {extra}")
        joins = " -> ".join(
            ["events", *(f"{t} ({left}={right})" for t, left, right in table.joins)]
        )
        lines.append(f"  from: {joins}")
        lines.extend(_fact_line(f, dim.source if dim else None) for f in table.facts)
        lines.append("")
    return "\n".join(lines).rstrip()
