"""Pure conversion: items -> rows, odd attributes cleaned with reasons, item sizes, RCU."""

from datetime import UTC, date, datetime

import pytest

from services.dynamo_pump.convert import (
    blank_user_row,
    edge_row,
    item_size_bytes,
    read_units,
    user_row,
)
from services.dynamo_pump.plan import edge_retry_minutes, plan_args
from services.dynamo_pump.schema import EDGES, USERS

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _user(**attrs: dict) -> dict:
    return {"fbid": {"N": "42"}, **attrs}


def _col(row: tuple, name: str, table=USERS):
    return row[table.column_names.index(name)]


@pytest.mark.parametrize(
    ("attrs", "column", "expected", "reasons"),
    [
        ({"birthday": {"N": "0"}}, "birthday", None, []),
        ({"birthday": {"N": "86400"}}, "birthday", date(1970, 1, 2), []),
        ({"birthday": {"S": "junk"}}, "birthday", None, []),
        ({"updated": {"N": "1700000000"}}, "updated", datetime.fromtimestamp(1700000000, UTC), []),
        ({}, "updated", NOW, []),
        ({"likes_count": {"S": "12"}}, "likes_count", 12, []),
        ({"likes_count": {"S": "many"}}, "likes_count", None, ["bad:likes_count"]),
        ({"likes_count": {"N": "1e20"}}, "likes_count", None, ["bad:likes_count"]),
        ({"fname": {"S": "a\x00b"}}, "fname", "ab", []),
        ({"fname": {"S": "x" * 5000}}, "fname", "x" * 4096, ["cut:fname"]),
        ({"interests": {"SS": ["b", "a"]}}, "interests", '["a", "b"]', []),
        ({"books": {"L": [{"S": "x"}, {"N": "1"}]}}, "books", '["x", "1"]', []),
        ({"has_timeline": {"N": "1"}}, "has_timeline", True, []),
        (
            {"profile_update_time": {"S": "?"}},
            "profile_update_time",
            None,
            ["bad:profile_update_time"],
        ),
        ({"city": {"ZZ": "?"}}, "city", None, ["unreadable:city"]),
    ],
)
def test_user_row_cleans_values(attrs: dict, column: str, expected, reasons: list) -> None:
    row, got_reasons = user_row(_user(**attrs), NOW)
    assert row is not None
    assert _col(row, column) == expected
    assert got_reasons == reasons
    assert _col(row, "not_found") is False and _col(row, "fbid") == 42


@pytest.mark.parametrize("fbid", [{"S": "abc"}, {"N": "-1"}, {"N": "1.5"}, {"SS": ["1"]}, None])
def test_user_without_usable_key_is_skipped(fbid) -> None:
    item = {"fname": {"S": "x"}} if fbid is None else {"fbid": fbid}
    row, reasons = user_row(item, NOW)
    assert row is None and reasons[-1] == "bad:fbid"


def test_edge_row_and_blank_user() -> None:
    row, reasons = edge_row(
        {"fbid_target": {"N": "1"}, "fbid_source": {"N": "2"}, "tags": {"S": "x"}}, NOW
    )
    assert reasons == ["bad:tags"]
    assert _col(row, "fbid_source", EDGES) == 2 and _col(row, "updated", EDGES) == NOW
    assert edge_row({"fbid_target": {"N": "1"}}, NOW) == (None, ["bad:key"])
    blank = blank_user_row(7, NOW)
    assert _col(blank, "not_found") is True and _col(blank, "fname") is None


@pytest.mark.parametrize(
    ("size_bytes", "consistent", "rcu"),
    [(1, False, 0.5), (4096, False, 0.5), (4097, False, 1.0), (10_000, True, 3), (0, True, 1)],
)
def test_read_units(size_bytes: int, consistent: bool, rcu: float) -> None:
    assert read_units(size_bytes, consistent=consistent) == rcu


def test_item_size_counts_names_and_values() -> None:
    assert item_size_bytes({"ab": {"S": "xyz"}}) == 5
    assert item_size_bytes({"a": {"SS": ["xy", "z"]}, "b": {"BOOL": True}}) == 1 + 3 + 1 + 1


@pytest.mark.parametrize(("retries", "minutes"), [(0, 1), (1, 2), (3, 8)])
def test_edge_retry_backoff(retries: int, minutes: int) -> None:
    assert edge_retry_minutes(retries) == minutes


@pytest.mark.parametrize(
    ("kind", "args"), [("primary", [5]), ("edges", [5, 4]), ("refresh", [5, 1.0, 2.0])]
)
def test_plan_args(kind: str, args: list) -> None:
    assert plan_args(kind, 5, 1.0, 2.0) == args
