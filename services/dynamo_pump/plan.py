"""Planning: which fbids each queue needs, as SQL over the warehouse (rendered, no I/O).

primary = user_clients fbids with no users row; edges = visitor/user_clients fbids with no
edges as target, unless missing_edges says wait (next_try in the future) or give up
(``MAX_EDGE_TRIES`` tries); secondary = edges.fbid_source with no users row; refresh = users
fetched longer ago than the refresh age (not-found users: the re-check age).
"""

from __future__ import annotations

__all__ = ["MAX_EDGE_TRIES", "PLAN_SQL", "edge_retry_minutes", "plan_args"]

MAX_EDGE_TRIES = 4

PLAN_SQL: dict[str, str] = {
    "primary": """
        SELECT DISTINCT uc.fbid FROM user_clients uc
        WHERE uc.fbid > 0 AND NOT EXISTS (SELECT 1 FROM users u WHERE u.fbid = uc.fbid)
        LIMIT $1""",
    "edges": """
        SELECT f.fbid FROM (
            SELECT fbid FROM visitors WHERE fbid > 0
            UNION SELECT fbid FROM user_clients WHERE fbid > 0
        ) f
        WHERE NOT EXISTS (SELECT 1 FROM edges e WHERE e.fbid_target = f.fbid)
          AND NOT EXISTS (
            SELECT 1 FROM missing_edges m WHERE m.fbid = f.fbid
              AND (m.retries >= $2 OR m.next_try > now()))
        LIMIT $1""",
    "secondary": """
        SELECT DISTINCT e.fbid_source FROM edges e
        WHERE e.fbid_source > 0
          AND NOT EXISTS (SELECT 1 FROM users u WHERE u.fbid = e.fbid_source)
        LIMIT $1""",
    "refresh": """
        SELECT fbid FROM users
        WHERE fetched_at < now() - make_interval(secs => CASE WHEN not_found THEN $2::float8 ELSE $3::float8 END)
        ORDER BY fetched_at LIMIT $1""",
}


def edge_retry_minutes(retries: int) -> int:
    """Minutes until the next edges query of a fbid DynamoDB had no edges for (2^retries)."""
    return 2**retries


def plan_args(kind: str, limit: int, recheck_s: float, refresh_s: float) -> list[float]:
    """The bind parameters of ``PLAN_SQL[kind]``."""
    if kind == "edges":
        return [limit, MAX_EDGE_TRIES]
    if kind == "refresh":
        return [limit, recheck_s, refresh_s]
    return [limit]
