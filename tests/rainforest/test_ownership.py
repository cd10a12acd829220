"""Ownership of users over 1, 2 and 3 live pollers: every user has exactly one owner, the
shares are balanced, and a join or a leave moves only the users it has to."""

from collections import Counter

import pytest

from services.rainforest.ownership import assignment, owned_shards, owner, shard_of

SHARDS = 1024
USERS = [f"{i:06d}" for i in range(10_000)]
POLLERS = ["rf-a-101-1f2e", "rf-b-202-9c0d", "rf-c-303-77aa"]


def owners(members: list[str]) -> dict[str, str]:
    """cloud_id -> owning poller."""
    shard_owner = {s: m for m, shards in assignment(members, SHARDS).items() for s in shards}
    return {user: shard_owner[shard_of(user, SHARDS)] for user in USERS}


def test_shards_are_stable_and_spread() -> None:
    # pinned: a different hash in a new release would move every user at the upgrade
    assert shard_of("000042", SHARDS) == shard_of("000042", SHARDS) == 462
    per_shard = Counter(shard_of(user, SHARDS) for user in USERS)
    assert len(per_shard) == SHARDS and max(per_shard.values()) < 3 * len(USERS) / SHARDS


@pytest.mark.parametrize("count", [1, 2, 3])
def test_every_user_has_one_owner_and_shares_are_balanced(count: int) -> None:
    members = POLLERS[:count]
    by_user = owners(members)
    assert set(by_user) == set(USERS) and set(by_user.values()) == set(members)
    shares = Counter(by_user.values())
    for member in members:
        assert abs(shares[member] - len(USERS) / count) < 0.08 * len(USERS) / count, shares
    shard_sets = assignment(members, SHARDS)
    assert sum(len(s) for s in shard_sets.values()) == SHARDS  # a partition of the shards
    assert set().union(*shard_sets.values()) == set(range(SHARDS))


@pytest.mark.parametrize("before", [1, 2])
def test_a_join_moves_about_one_nth_and_only_to_the_new_poller(before: int) -> None:
    old = owners(POLLERS[:before])
    new = owners(POLLERS[: before + 1])
    moved = [user for user in USERS if old[user] != new[user]]
    assert all(new[user] == POLLERS[before] for user in moved)  # nobody else trades users
    ideal = len(USERS) / (before + 1)
    assert abs(len(moved) - ideal) < 0.08 * ideal


@pytest.mark.parametrize("leaver", POLLERS)
def test_a_leave_moves_only_the_leavers_users(leaver: str) -> None:
    old = owners(POLLERS)
    rest = [p for p in POLLERS if p != leaver]
    new = owners(rest)
    moved = {user for user in USERS if old[user] != new[user]}
    assert moved == {user for user in USERS if old[user] == leaver}
    assert set(new.values()) == set(rest)


def test_owner_is_independent_of_member_order_and_owned_shards_agrees() -> None:
    for shard in range(0, SHARDS, 37):
        assert owner(shard, POLLERS) == owner(shard, reversed(POLLERS))
    assert owner(5, []) is None
    everyone = assignment(POLLERS, SHARDS)
    for member in POLLERS:
        assert owned_shards(member, [p for p in POLLERS if p != member], SHARDS) == everyone[member]
