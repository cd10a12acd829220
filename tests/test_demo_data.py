"""Demo data: enough realistic rows, a funnel with drop-off, real Django password hashes."""

import base64
import hashlib
from collections import Counter
from datetime import UTC, datetime, timedelta

from services.demo_data import NextIds, django_password_hash, generate, top_up

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)  # the generator takes its clock as an argument
DATA = generate(NOW)


def test_volumes() -> None:
    rows = DATA.rows
    assert len(rows["clients"]) >= 3
    assert len(rows["campaigns"]) >= 10
    assert len(rows["events"]) >= 50_000
    times = [e[9] for e in rows["events"]]
    assert NOW - timedelta(days=7) <= min(times) and max(times) < NOW


def test_funnel_drops_off() -> None:
    kinds = Counter(e[6] for e in DATA.rows["events"])
    funnel = ["incoming_redirect", "button_load", "button_click", "authorized", "generated"]
    counts = [kinds[k] for k in funnel]
    assert counts == sorted(counts, reverse=True) and counts[-1] > 0
    assert kinds["shared"] > kinds["clickback"] > 0


def test_campaign_chains_have_roots() -> None:
    props = {p[1]: p for p in DATA.rows["campaign_properties"]}
    roots = {p[3] for p in props.values()}
    assert len(roots) == 6
    for campaign_id, prop in props.items():
        fallback = prop[2]
        if fallback is not None:
            assert props[fallback][3] == prop[3]  # a fallback shares its root
        assert props[prop[3]][3] == prop[3] or campaign_id != prop[3]


def test_django_hash_matches_reference_algorithm() -> None:
    encoded = django_password_hash("s3cret", "abc", iterations=1000)
    algorithm, iterations, salt, digest = encoded.split("$")
    expected = hashlib.pbkdf2_hmac("sha256", b"s3cret", b"abc", 1000)
    assert (algorithm, iterations, salt) == ("pbkdf2_sha256", "1000", "abc")
    assert base64.b64decode(digest) == expected
    users = {u[1]: u for u in DATA.rows["auth_user"]}
    assert users["admin"][3] is True and users["acme"][3] is False


def test_top_up_fills_the_gap_to_now_with_ids_continuing() -> None:
    ids = NextIds(visitor=9_001, visit=20_000, event=90_000, user_client=3_000)
    gap = top_up(NOW, NOW - timedelta(days=10), ids)  # a data folder ten days old
    times = [e[9] for e in gap.rows["events"]]
    assert NOW - timedelta(days=7) <= min(times) and max(times) < NOW  # at most a week back
    assert len(gap.rows["events"]) >= 50_000  # the same rate as a fresh demo
    assert min(v[0] for v in gap.rows["visitors"]) == 9_001
    assert min(v[0] for v in gap.rows["visits"]) == 20_000
    assert [e[0] for e in gap.rows["events"]][:2] == [90_000, 90_001]
    assert min(u[0] for u in gap.rows["user_clients"]) == 3_000
    assert "clients" not in gap.rows and "auth_user" not in gap.rows
    recent = top_up(NOW, NOW - timedelta(hours=2), ids)
    assert 0 < len(recent.rows["visitors"]) < 200
    assert min(e[9] for e in recent.rows["events"]) >= NOW - timedelta(hours=2)
    assert top_up(NOW, NOW, ids).rows == {}
