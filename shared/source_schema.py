"""The source ("RDS") application tables of SPEC §2, as table definitions.

``forklift db migrate`` creates them in the source database (for the demo and tests) and
creates empty warehouse copies, so readers of the warehouse work before the first sync.
"""

from __future__ import annotations

from shared.schema import Column, Index, Table

__all__ = ["SOURCE_TABLES", "SYNCED_TABLES", "EVENT_TYPES", "source_table"]

TS = "timestamptz"


def _stamps() -> tuple[Column, Column]:
    return (
        Column("created", TS, nullable=False, default="now()"),
        Column("updated", TS, nullable=False, default="now()"),
    )


EVENT_TYPES = (
    "incoming_redirect",
    "initial_redirect",
    "button_load",
    "button_click",
    "faces_page_load",
    "faces_page_rendered",
    "authorized",
    "auth_fail",
    "oauth_declined",
    "generated",
    "shown",
    "shared",
    "share_click",
    "share_fail",
    "clickback",
    "no_friends_error",
    "session_start",
    "cookies_enabled",
    "heartbeat",
)

CLIENTS = Table(
    "clients",
    (
        Column("client_id", "bigint", nullable=False),
        Column("name", "varchar(256)", nullable=False),
        Column("created", TS, nullable=False, default="now()"),
    ),
    primary_key=("client_id",),
)
CAMPAIGNS = Table(
    "campaigns",
    (
        Column("campaign_id", "bigint", nullable=False),
        Column("client_id", "bigint", nullable=False),
        Column("name", "varchar(256)", nullable=False),
        Column("delete_dt", TS),
        *_stamps(),
    ),
    primary_key=("campaign_id",),
    indexes=(Index(("client_id",)), Index(("updated",))),
)
CAMPAIGN_PROPERTIES = Table(
    "campaign_properties",
    (
        Column("campaign_property_id", "bigint", nullable=False),
        Column("campaign_id", "bigint", nullable=False),
        Column("fallback_campaign_id", "bigint"),
        Column("root_campaign_id", "bigint", nullable=False),
        *_stamps(),
    ),
    primary_key=("campaign_property_id",),
    indexes=(Index(("root_campaign_id",)), Index(("updated",))),
)
VISITORS = Table(
    "visitors",
    (
        Column("visitor_id", "bigint", nullable=False),
        Column("uuid", "varchar(40)", nullable=False),
        Column("fbid", "bigint"),
        *_stamps(),
    ),
    primary_key=("visitor_id",),
    indexes=(Index(("fbid",)), Index(("updated",))),
)
VISITS = Table(
    "visits",
    (
        Column("visit_id", "bigint", nullable=False),
        Column("visitor_id", "bigint", nullable=False),
        Column("session_id", "varchar(40)", nullable=False),
        Column("app_id", "bigint", nullable=False),
        Column("ip", "varchar(64)", nullable=False),
        Column("user_agent", "text"),
        Column("referer", "text"),
        Column("source", "varchar(256)"),
        *_stamps(),
    ),
    primary_key=("visit_id",),
    indexes=(Index(("visitor_id",)), Index(("updated",))),
)
EVENTS = Table(
    "events",
    (
        Column("event_id", "bigint", nullable=False),
        Column("visit_id", "bigint", nullable=False),
        Column("campaign_id", "bigint"),
        Column("client_content", "bigint"),
        Column("content", "text"),
        Column("friend_fbid", "bigint"),
        Column("type", "varchar(64)", nullable=False),
        Column("activity_id", "bigint"),
        Column("event_datetime", TS, nullable=False, default="now()"),
        *_stamps(),
    ),
    primary_key=("event_id",),
    indexes=(Index(("created",)), Index(("updated",)), Index(("visit_id",))),
)
USER_CLIENTS = Table(
    "user_clients",
    (
        Column("user_client_id", "bigint", nullable=False),
        Column("fbid", "bigint", nullable=False),
        Column("client_id", "bigint", nullable=False),
        Column("created", TS, nullable=False, default="now()"),
    ),
    primary_key=("user_client_id",),
    indexes=(Index(("fbid",)),),
)
AUTH_USER = Table(
    "auth_user",
    (
        Column("id", "bigint", nullable=False),
        Column("username", "varchar(150)", nullable=False),
        Column("password", "varchar(128)", nullable=False),
        Column("is_superuser", "boolean", nullable=False, default="false"),
        Column("is_active", "boolean", nullable=False, default="true"),
    ),
    primary_key=("id",),
    indexes=(Index(("username",), unique=True),),
)
AUTH_USER_GROUPS = Table(
    "auth_user_groups",
    (Column("user_id", "bigint", nullable=False), Column("group_id", "bigint", nullable=False)),
    primary_key=("user_id", "group_id"),
)
CLIENTS_AUTH_GROUPS = Table(
    "clients_auth_groups",
    (Column("group_id", "bigint", nullable=False), Column("client_id", "bigint", nullable=False)),
    primary_key=("group_id", "client_id"),
)

SOURCE_TABLES = (
    CLIENTS,
    CAMPAIGNS,
    CAMPAIGN_PROPERTIES,
    VISITORS,
    VISITS,
    EVENTS,
    USER_CLIENTS,
    AUTH_USER,
    AUTH_USER_GROUPS,
    CLIENTS_AUTH_GROUPS,
)

# The tables the old importer copied to the warehouse (SPEC §3); auth stays in the source.
SYNCED_TABLES = (
    VISITS,
    VISITORS,
    CAMPAIGNS,
    EVENTS,
    CLIENTS,
    CAMPAIGN_PROPERTIES,
    USER_CLIENTS,
)


def source_table(name: str) -> Table:
    """The definition of source table ``name`` (KeyError if there is none)."""
    for table in SOURCE_TABLES:
        if table.name == name:
            return table
    raise KeyError(name)
