"""The dynamo_pump service's warehouse tables: users, edges, missing_edges."""

from shared.schema import Column, Table

__all__ = ["WAREHOUSE_TABLES", "USERS", "EDGES", "MISSING_EDGES", "USER_TEXT_COLUMNS"]

USER_TEXT_COLUMNS = (
    "fname", "lname", "email", "gender", "city", "state", "country", "activities",
    "affiliations", "books", "devices", "interests", "languages", "movies", "music",
    "political", "quotes", "relationship_status", "religion", "sports", "tv",
)  # fmt: skip
USER_INT_COLUMNS = ("friend_request_count", "likes_count", "wall_count")
EDGE_INT_COLUMNS = (
    "post_likes", "post_comms", "stat_likes", "stat_comms", "wall_posts", "wall_comms",
    "tags", "photos_target", "photos_other", "mut_friends",
)  # fmt: skip

USERS = Table(
    "users",
    (
        Column("fbid", "bigint", nullable=False),
        *(Column(name, "text") for name in USER_TEXT_COLUMNS[:6]),
        Column("birthday", "date"),
        *(Column(name, "text") for name in USER_TEXT_COLUMNS[6:]),
        *(Column(name, "integer") for name in USER_INT_COLUMNS),
        Column("has_timeline", "boolean"),
        Column("profile_update_time", "timestamptz"),
        Column("updated", "timestamptz"),
        Column("fetched_at", "timestamptz", nullable=False, default="now()"),
        Column("not_found", "boolean", nullable=False, default="false"),
    ),
    primary_key=("fbid",),
)

EDGES = Table(
    "edges",
    (
        Column("fbid_target", "bigint", nullable=False),
        Column("fbid_source", "bigint", nullable=False),
        *(Column(name, "integer") for name in EDGE_INT_COLUMNS),
        Column("updated", "timestamptz"),
        Column("fetched_at", "timestamptz", nullable=False, default="now()"),
    ),
    primary_key=("fbid_target", "fbid_source"),
)

MISSING_EDGES = Table(
    "missing_edges",
    (
        Column("fbid", "bigint", nullable=False),
        Column("retries", "integer", nullable=False, default="0"),
        Column("next_try", "timestamptz"),
    ),
    primary_key=("fbid",),
)

WAREHOUSE_TABLES: tuple[Table, ...] = (USERS, EDGES, MISSING_EDGES)
