"""aggregator: Hourly fact tables computed from raw events, defined in code."""
