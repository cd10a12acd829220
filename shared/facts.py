"""The warehouse definition (SPEC §5): dimensions, facts and fact tables as data.

The aggregator renders DDL and load SQL from it, ``forklift aggregate describe`` prints it,
the dashboard derives its metric queries from :data:`DASHBOARD_METRICS`, and sync derives
from :func:`reaches` which changed rows of which raw tables make which fact hours stale
(including :data:`ROOTS_REACH`: a campaign's root changes the dashboard rollups).
Nothing about a fact is written anywhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Dimension",
    "Fact",
    "FactTable",
    "DashboardMetric",
    "FACT_TABLES",
    "DASHBOARD_METRICS",
    "EVENTS",
    "EVENT_TYPE",
    "Join",
    "Reach",
    "fact_table",
    "reaches",
    "reaches_of",
    "ROOTS",
    "ROOTS_REACH",
]

Join = tuple[str, str, str]
"""(joined table, column on the left side, column on the joined table)."""


@dataclass(frozen=True)
class Dimension:
    """A column facts are grouped by. ``source`` is ``<raw table>.<column>``."""

    name: str
    source: str
    type: str
    pretty_name: str


@dataclass(frozen=True)
class Fact:
    """A count over the hour's events.

    ``kind="distinct"``: count(distinct <table dimension>) over events whose type is one of
    ``event_types`` — per row 0 or 1, so a total over hours is ``count(distinct dim) where
    fact > 0``. ``kind="sum"``: the number of events of those types (sums over hours).
    """

    name: str
    pretty_name: str
    event_types: tuple[str, ...]
    kind: Literal["distinct", "sum"]


@dataclass(frozen=True)
class FactTable:
    """``<slug>_facts_hourly``: campaign_id + hour + an optional extra dimension, and facts.

    ``joins`` lists the raw tables to join from ``events``, in order, as
    (table, column on the left side, column on the joined table).
    """

    slug: str
    dimension: Dimension | None
    facts: tuple[Fact, ...]
    joins: tuple[Join, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.slug}_facts_hourly"

    def fact(self, name: str) -> Fact:
        for fact in self.facts:
            if fact.name == name:
                return fact
        raise KeyError(f"{self.name} has no fact {name}")


EVENTS = "events"
"""The raw table every fact counts rows of; the other raw tables are joined to it."""
EVENT_TYPE = "events.type"
"""The column a fact's ``event_types`` are matched against."""

CAMPAIGN_ID = Dimension("campaign_id", "events.campaign_id", "bigint", "Campaign")
HOUR = Dimension("hour", "events.created", "timestamptz", "Hour (UTC)")
COMMON_DIMENSIONS = (CAMPAIGN_ID, HOUR)

DECLINED = ("auth_fail", "oauth_declined")


def _distinct(name: str, pretty: str, *types: str) -> Fact:
    return Fact(name, pretty, types, "distinct")


def _sum(name: str, pretty: str, *types: str) -> Fact:
    return Fact(name, pretty, types, "sum")


FBID = FactTable(
    "fbid",
    Dimension("fbid", "visitors.fbid", "bigint", "Facebook id"),
    (
        _distinct("fbids_authorized", "Authorized fbids", "authorized"),
        _distinct("fbids_generated_friends", "Fbids with friends generated", "generated"),
        _distinct("fbids_shown_friends", "Fbids shown friends", "shown"),
        _distinct("fbids_face_pages", "Fbids with a faces page", "faces_page_rendered"),
        _distinct("fbids_shared", "Fbids who shared", "shared"),
    ),
    joins=(("visits", "visit_id", "visit_id"), ("visitors", "visitor_id", "visitor_id")),
)
FRIEND_FBID = FactTable(
    "friend_fbid",
    Dimension("friend_fbid", "events.friend_fbid", "bigint", "Friend's Facebook id"),
    (
        _distinct("distinct_faces_shown", "Distinct faces shown", "shown"),
        _distinct("friends_shared_with", "Friends shared with", "shared"),
    ),
)
VISIT = FactTable(
    "visit",
    Dimension("visit_id", "events.visit_id", "bigint", "Visit"),
    (
        _distinct("visit_ids", "Visits", "incoming_redirect"),
        _distinct("visits_declined_auth", "Visits that declined auth", *DECLINED),
        _distinct("visits_generated_faces", "Visits with faces generated", "generated"),
        _distinct("visits_facepage_rendered", "Visits with a faces page", "faces_page_rendered"),
        _distinct("visits_shown_friend_sugg", "Visits shown friend suggestions", "shown"),
        _distinct("authorized_visits", "Authorized visits", "authorized"),
        _distinct("visits_with_shares", "Visits with shares", "shared"),
        _distinct("visits_with_share_clicks", "Visits with share clicks", "share_click"),
    ),
)
IP = FactTable(
    "ip",
    Dimension("ip", "visits.ip", "varchar(64)", "IP address"),
    (
        _distinct("ip_session_start", "IPs starting a session", "session_start"),
        _distinct("ip_cookies", "IPs with cookies enabled", "cookies_enabled"),
        _distinct("ip_visitors", "IPs visiting", "incoming_redirect"),
        _distinct("ips_declined_auth", "IPs that declined auth", *DECLINED),
        _distinct("ips_authorized", "IPs authorized", "authorized"),
    ),
    joins=(("visits", "visit_id", "visit_id"),),
)
MISC = FactTable(
    "misc",
    None,
    (
        _sum("visitors", "Visitors", "incoming_redirect"),
        _sum("clicks", "Clicks", "button_click"),
        _sum("no_friends", "No friends errors", "no_friends_error"),
        _sum("declined_auth", "Declined auths", *DECLINED),
        _sum("authorizations", "Authorizations", "authorized"),
        _sum("total_faces_shown", "Faces shown", "shown"),
        _sum("total_shares", "Shares", "shared"),
        _sum("shares_failed", "Failed shares", "share_fail"),
        _sum("clickbacks", "Clickbacks", "clickback"),
    ),
)

FACT_TABLES = (FBID, FRIEND_FBID, VISIT, IP, MISC)


def fact_table(slug_or_name: str) -> FactTable:
    """The fact table named by its slug ("visit") or table name ("visit_facts_hourly")."""
    for table in FACT_TABLES:
        if slug_or_name in (table.slug, table.name):
            return table
    raise KeyError(slug_or_name)


@dataclass(frozen=True)
class Reach:
    """How the rows of one raw table reach fact tables.

    ``path`` is the chain of joins from ``events`` ending at ``table`` (empty for events
    itself); ``columns`` are the columns of ``table`` those fact tables read (group-by
    sources, event type, join columns); ``fact_tables`` read ``table`` through ``path``.
    A row of ``table`` inserted, deleted, or changed in one of ``columns`` changes the facts
    of the hours of the events joined to it (old and new version), in those fact tables.
    """

    table: str
    path: tuple[Join, ...]
    columns: tuple[str, ...]
    fact_tables: tuple[FactTable, ...]

    @property
    def key(self) -> str | None:
        """The column of ``table`` the last join of ``path`` matches (None for events)."""
        return self.path[-1][2] if self.path else None


def _column(source: str) -> tuple[str, str]:
    table, column = source.split(".")
    return table, column


def _reads(table: FactTable) -> list[tuple[tuple[Join, ...], str, str]]:
    """(path, raw table, column) for every column ``table`` reads."""
    sources = [CAMPAIGN_ID.source, HOUR.source, EVENT_TYPE]
    if table.dimension is not None:
        sources.append(table.dimension.source)
    paths = {EVENTS: ()} | {
        joined: table.joins[: i + 1] for i, (joined, _, _) in enumerate(table.joins)
    }
    reads = [(paths[raw], raw, column) for raw, column in map(_column, sources)]
    left = EVENTS
    for i, (joined, left_column, right_column) in enumerate(table.joins):
        reads.append((table.joins[:i], left, left_column))
        reads.append((table.joins[: i + 1], joined, right_column))
        left = joined
    return reads


def reaches_of(tables: Sequence[FactTable]) -> tuple[Reach, ...]:
    """Every :class:`Reach` of the raw tables ``tables`` read, one per (raw table, path)."""
    columns: dict[tuple[str, tuple[Join, ...]], list[str]] = {}
    readers: dict[tuple[str, tuple[Join, ...]], list[FactTable]] = {}
    for table in tables:
        for path, raw, column in _reads(table):
            key = (raw, path)
            if column not in columns.setdefault(key, []):
                columns[key].append(column)
            if table not in readers.setdefault(key, []):
                readers[key].append(table)
    return tuple(
        Reach(raw, path, tuple(columns[raw, path]), tuple(readers[raw, path]))
        for raw, path in columns
    )


def reaches(table: str) -> tuple[Reach, ...]:
    """How rows of raw table ``table`` reach the facts (empty: no fact reads it)."""
    return tuple(r for r in REACHES if r.table == table)


@dataclass(frozen=True)
class DashboardMetric:
    """A client dashboard figure over [start, end) (SPEC §8), derived from one fact.

    For a ``distinct`` fact: count(distinct <table dimension>) where fact > 0;
    for a ``sum`` fact: sum(fact).
    """

    name: str
    table: FactTable
    fact: Fact


def _metric(name: str, table: FactTable, fact: str) -> DashboardMetric:
    return DashboardMetric(name, table, table.fact(fact))


DASHBOARD_METRICS = (
    _metric("visits", VISIT, "visit_ids"),
    _metric("clicks", MISC, "clicks"),
    _metric("auths", MISC, "authorizations"),
    _metric("uniq_auths", FBID, "fbids_authorized"),
    _metric("shown", FBID, "fbids_shown_friends"),
    _metric("shares", FBID, "fbids_shared"),
    _metric("audience", FRIEND_FBID, "friends_shared_with"),
    _metric("clickbacks", MISC, "clickbacks"),
)


ROOTS = "campaign_properties"
"""The raw table naming each campaign's root (``root_campaign_id``): the dashboard rollups
(``shared.rollups``) sum the facts of a root's campaigns, so a changed row changes the
rollups of its campaign's hours, recomputed by loading those hours of the tables the
dashboard metrics read."""
ROOTS_REACH = Reach(
    ROOTS,
    ((ROOTS, "campaign_id", "campaign_id"),),
    ("campaign_id", "root_campaign_id"),
    tuple(dict.fromkeys(m.table for m in DASHBOARD_METRICS)),
)
REACHES = (*reaches_of(FACT_TABLES), ROOTS_REACH)
