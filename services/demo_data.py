"""Realistic demo data for the source database (pure generation, no I/O).

Three clients, each with two root campaigns and fallback chains; visitors (most with a
Facebook id) whose visits over the last 7 days walk the funnel incoming_redirect ->
button_load/click -> authorized -> generated -> shown -> shared -> clickback with drop-off
at each step; Django users with real pbkdf2_sha256 hashes.
"""

from __future__ import annotations

import base64
import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.demo import DEMO_CLIENT_USERS, DEMO_SUPERUSER

__all__ = ["DemoData", "NextIds", "generate", "top_up", "django_password_hash"]

CLIENT_NAMES = {1: "Acme Corp", 2: "Globex", 3: "Initech"}
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Version/17.1 Safari/605",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    'Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0 "quoted", comma',
)
DJANGO_ITERATIONS = 260_000
FACEBOOK_APP_ID = 471_727_162_864


def django_password_hash(password: str, salt: str, iterations: int = DJANGO_ITERATIONS) -> str:
    """A Django ``pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`` password hash."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}"


@dataclass
class DemoData:
    """Rows per source table, as tuples in the table's column order."""

    rows: dict[str, list[tuple]] = field(default_factory=dict)

    def add(self, table: str, row: tuple) -> None:
        self.rows.setdefault(table, []).append(row)


def _campaigns(data: DemoData, created: datetime) -> dict[int, list[int]]:
    """Two root campaigns per client, each with a fallback chain; returns client -> roots."""
    roots: dict[int, list[int]] = {}
    campaign_id = 0
    for client_id, client in CLIENT_NAMES.items():
        data.add("clients", (client_id, client, created))
        for chain_length in (3, 2):
            chain = list(range(campaign_id + 1, campaign_id + 1 + chain_length))
            campaign_id += chain_length
            roots.setdefault(client_id, []).append(chain[0])
            for position, cid in enumerate(chain):
                name = f"{client} {'main' if chain_length == 3 else 'holiday'} #{position}"
                data.add("campaigns", (cid, client_id, name, None, created, created))
                fallback = chain[position + 1] if position + 1 < len(chain) else None
                data.add("campaign_properties", (cid, cid, fallback, chain[0], created, created))
    return roots


def _visit_events(
    rng: random.Random, campaign_id: int, fbid: int | None, start: datetime
) -> list[tuple[str, int | None, datetime]]:
    """One visit's events: (type, friend_fbid, time), following the funnel with drop-off."""
    events: list[tuple[str, int | None, datetime]] = []
    t = start

    def emit(kind: str, friend: int | None = None) -> None:
        nonlocal t
        events.append((kind, friend, t))
        t += timedelta(seconds=rng.randint(1, 40))

    emit("incoming_redirect")
    emit("session_start")
    if rng.random() < 0.9:
        emit("cookies_enabled")
    if rng.random() > 0.8:
        return events
    emit("button_load")
    if rng.random() > 0.45:
        return events
    emit("button_click")
    if fbid is None or rng.random() > 0.7:
        emit(rng.choice(("auth_fail", "oauth_declined")))
        return events
    emit("authorized")
    if rng.random() > 0.9:
        emit("no_friends_error")
        return events
    emit("generated")
    emit("faces_page_rendered")
    friends = [fbid * 10 + k for k in range(1, rng.randint(4, 9))]
    for friend in friends:
        emit("shown", friend)
    if rng.random() > 0.35:
        emit("heartbeat")
        return events
    for friend in rng.sample(friends, rng.randint(1, 3)):
        emit("shared", friend)
        emit("share_click")
        if rng.random() < 0.05:
            emit("share_fail", friend)
    if rng.random() < 0.3:
        emit("clickback")
    return events


@dataclass
class NextIds:
    """The first free id of each activity table, so a top-up continues the existing rows."""

    visitor: int = 1
    visit: int = 1
    event: int = 1
    user_client: int = 1


WINDOW = timedelta(days=7)
VISITORS_PER_WINDOW = 9_000


def generate(now: datetime, visitors: int = VISITORS_PER_WINDOW, seed: int = 20261123) -> DemoData:
    """Demo rows for every source table, with visits spread over the 7 days before ``now``."""
    data = DemoData()
    begin = now - WINDOW
    roots = _campaigns(data, begin - timedelta(days=30))
    _activity(data, random.Random(seed), roots, begin, now, visitors, NextIds())
    _auth(data)
    return data


def top_up(now: datetime, since: datetime, next_ids: NextIds) -> DemoData:
    """Activity rows (visitors, visits, events, user_clients) for a demo source whose latest
    event is at ``since``: the gap up to ``now`` (at most the last 7 days) at the same rate
    as :func:`generate`, with ids continuing from ``next_ids``. Empty when nothing is due."""
    data = DemoData()
    begin = max(since, now - WINDOW)
    visitors = round(VISITORS_PER_WINDOW * (now - begin) / WINDOW)
    if visitors == 0:
        return data
    roots = _campaigns(DemoData(), begin)  # the same deterministic campaign ids as generate
    rng = random.Random(int(begin.timestamp()))
    _activity(data, rng, roots, begin, now, visitors, next_ids)
    return data


def _activity(
    data: DemoData,
    rng: random.Random,
    roots: dict[int, list[int]],
    begin: datetime,
    now: datetime,
    visitors: int,
    ids: NextIds,
) -> None:
    """Visitors first seen in [begin, now) and their visits' events, none at or after now."""
    campaign_pool = [(client, cid) for client, cids in roots.items() for cid in cids]
    span_s = int((now - begin).total_seconds())
    visit_id, event_id, user_client_id = ids.visit - 1, ids.event - 1, ids.user_client - 1
    seen_user_clients: set[tuple[int, int]] = set()
    for visitor_id in range(ids.visitor, ids.visitor + visitors):
        fbid = 100_000_000 + visitor_id if rng.random() < 0.75 else None
        first_seen = begin + timedelta(seconds=rng.randint(0, max(0, span_s - 1)))
        uid = str(uuid.UUID(int=rng.getrandbits(128)))
        data.add("visitors", (visitor_id, uid, fbid, first_seen, first_seen))
        ip = f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        user_agent = rng.choice(USER_AGENTS)
        when = first_seen
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            if when >= now:
                break
            visit_id += 1
            client_id, campaign_id = rng.choice(campaign_pool)
            data.add(
                "visits",
                (
                    visit_id,
                    visitor_id,
                    uuid.UUID(int=rng.getrandbits(128)).hex,
                    FACEBOOK_APP_ID,
                    ip,
                    user_agent,
                    "https://www.facebook.com/",
                    "fb",
                    when,
                    when,
                ),
            )
            for kind, friend, at in _visit_events(rng, campaign_id, fbid, when):
                if at >= now:
                    break
                event_id += 1
                content = f'button "{kind}", step\n{event_id}' if kind == "shared" else None
                data.add(
                    "events",
                    (event_id, visit_id, campaign_id, 1, content, friend, kind, None, at, at, at),
                )
                if kind == "authorized" and (fbid, client_id) not in seen_user_clients:
                    seen_user_clients.add((fbid, client_id))
                    user_client_id += 1
                    data.add("user_clients", (user_client_id, fbid, client_id, at))
            when += timedelta(hours=rng.randint(2, 48))


def _auth(data: DemoData) -> None:
    username, password = DEMO_SUPERUSER
    data.add("auth_user", (1, username, django_password_hash(password, "demo-salt-0"), True, True))
    for user_id, (name, (secret, client_id)) in enumerate(DEMO_CLIENT_USERS.items(), start=2):
        hashed = django_password_hash(secret, f"demo-salt-{user_id}")
        data.add("auth_user", (user_id, name, hashed, False, True))
        data.add("auth_user_groups", (user_id, client_id))
        data.add("clients_auth_groups", (client_id, client_id))
