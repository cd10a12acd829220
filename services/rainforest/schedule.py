"""Pure logic: when a poller first polls each user it starts (new users, users of shards it
just took, users whose record changed).

- A user never polled starts at a stable offset in [0, period) (CRC32 of its cloud id), so
  polls spread over the period.
- A user whose last holder handed its shard over (drained and flushed: its ``polled_at`` is
  exact) is due a period after its last poll.
- A user whose shard's lease expired (its holder crashed or was cut off) may have been polled
  once more without that poll reaching Redis (in flight, or not flushed yet, when the holder
  died). It is due a period and a half after its recorded poll: never sooner than half a
  period after a poll that went unrecorded, and no later than a poll it did not make
  requires. This also keeps the dead poller's cadence: its users come due spread as they
  were, instead of all at once.
- Users already past due are caught up oldest first, spread over as long a window as their
  deadlines (last poll + ``latest_gap_s``) allow, at most a period: a survivor taking a dead
  poller's users does not poll thousands of them in one burst on top of its own.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["LastPoll", "first_poll_times", "start_offset_s"]


def start_offset_s(cloud_id: str, period_s: float) -> float:
    """A stable offset in [0, period) spreading users' polls over the period."""
    return (zlib.crc32(cloud_id.encode()) % 10_000) / 10_000 * period_s


@dataclass(frozen=True)
class LastPoll:
    """What a poller knows of a user's last poll: its Unix time (0: never polled) and whether
    the shard was handed over (True) or taken after its lease expired (False)."""

    at: float
    handed_over: bool = True


def first_poll_times(
    users: Mapping[str, LastPoll], now: float, period_s: float, latest_gap_s: float
) -> dict[str, tuple[float, float]]:
    """cloud_id -> (Unix time of its first poll here, how late that is against the time the
    rules above make it due); ``latest_gap_s``: the longest a user may go unpolled."""
    times: dict[str, tuple[float, float]] = {}
    overdue: list[tuple[float, float, str]] = []  # (deadline, due, cloud_id)
    for cloud_id, last in users.items():
        if last.at <= 0:
            times[cloud_id] = (now + start_offset_s(cloud_id, period_s), 0.0)
            continue
        shift = period_s if last.handed_over else min(1.5 * period_s, latest_gap_s)
        due = last.at + shift
        if due >= now:
            times[cloud_id] = (due, 0.0)
        else:
            overdue.append((max(due, last.at + latest_gap_s), due, cloud_id))
    overdue.sort()
    count = len(overdue)
    # the j-th of n overdue users polls at now + window * j / n: as wide as every deadline
    # still ahead allows (those already missed go first and do not narrow it)
    window = period_s
    for j, (deadline, _, _) in enumerate(overdue[1:], 1):
        if deadline > now:
            window = min(window, (deadline - now) * count / j)
    for j, (_, due, cloud_id) in enumerate(overdue):
        at = now + window * j / count
        times[cloud_id] = (at, at - due)
    return times
