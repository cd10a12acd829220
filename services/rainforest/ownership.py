"""Pure logic: which poller owns which user.

Users fall into a fixed number of shards (a stable hash of the cloud id); each shard belongs to
the live poller with the highest rendezvous score for it (highest random weight hashing). Every
poller computes the same answer from the same member list with no coordinator, and a change of
members moves only the shards whose winner changed: a joining poller takes about 1/N of the
shards, from everyone; a leaving one gives away only its own.
"""

from __future__ import annotations

import functools
import hashlib
import zlib
from collections.abc import Iterable

__all__ = ["shard_of", "owner", "assignment", "owned_shards"]


def shard_of(cloud_id: str, shards: int) -> int:
    """The shard of ``cloud_id`` (stable across processes, Python versions and restarts)."""
    return zlib.crc32(cloud_id.encode()) % shards


def _score(member: str, shard: int) -> int:
    digest = hashlib.blake2b(f"{member}/{shard}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(shard: int, members: Iterable[str]) -> str | None:
    """The member owning ``shard`` (None when there are no members); ties go to the lower id."""
    best: tuple[int, str] | None = None
    for member in members:
        key = (_score(member, shard), member)
        if best is None or key[0] > best[0] or (key[0] == best[0] and member < best[1]):
            best = key
    return None if best is None else best[1]


def assignment(members: Iterable[str], shards: int) -> dict[str, set[int]]:
    """Every member's shards (members without a shard map to an empty set)."""
    live = sorted(set(members))
    result: dict[str, set[int]] = {member: set() for member in live}
    for shard in range(shards):
        winner = owner(shard, live)
        if winner is not None:
            result[winner].add(shard)
    return result


def owned_shards(member: str, members: Iterable[str], shards: int) -> frozenset[int]:
    """The shards ``member`` owns among ``members`` (itself included whether listed or not);
    cached per set of members, as a poller asks at every beat and they seldom change."""
    return _owned(member, frozenset({*members, member}), shards)


@functools.lru_cache(maxsize=16)
def _owned(member: str, live: frozenset[str], shards: int) -> frozenset[int]:
    return frozenset(assignment(live, shards)[member])
