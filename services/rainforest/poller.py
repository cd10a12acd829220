"""The six-second poller, sharded among any number of poller processes through Redis.

Every ``heartbeat_interval_s`` the poller beats (``membership.Membership``): it renews its shard
leases, hands over the shards it no longer owns and takes those it now owns. Ownership is
rendezvous hashing over the live members (``ownership``), so pollers agree without talking to
each other, and a lease per shard makes sure two of them never poll one user at once: a
poller polls a user only while its lease on the user's shard is valid by its own clock, which
ends before Redis can give the lease to anyone else. A shard handed over is drained first (no
new polls, in-flight polls finish, their readings flushed), then released; the next owner
starts each user a period after its last poll (``polled_at`` in the user record). A crashed
poller's leases expire after ``lease_ttl_s``; the others see its membership run out in their
beats and beat again just after it, take its shards and start its users as ``schedule``
says (half a period later than a handed-over user, the overdue ones caught up oldest first
within their deadlines), so no user goes longer than poll period + heartbeat timeout without
a poll.

Within a poller: one asyncio task per user waiting on one shared ticker (``wakeups``), first
polls spread over the period, at most ``concurrency`` requests in flight, a timeout per
request; relay requests go through the poller's own HTTP client (``relay``). State per user: ``ok`` (polling every
period), ``backoff`` (timeouts, 5xx, garbage: the wait doubles per failure up to
``backoff_cap_s``), ``auth_failed`` (not polled until the user record changes). Users are
reloaded when ``rainforest:version`` changes (checked every beat).
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import secrets
import socket
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import aiohttp
from redis.exceptions import RedisError

from services.rainforest.adapters import Gateway, fetch_reading, relay_client
from services.rainforest.errors import BadCredentials, PollerConfigError, RainforestError
from services.rainforest.gate import Gate
from services.rainforest.logfiles import LogWriter
from services.rainforest.membership import Lease, Membership
from services.rainforest.ownership import owned_shards, shard_of
from services.rainforest.readings import get_wait_time
from services.rainforest.recorder import Recorder
from services.rainforest.relay import RelayClient
from services.rainforest.schedule import LastPoll, first_poll_times
from services.rainforest.settings import RainforestSettings
from services.rainforest.users import UserStore
from services.rainforest.wakeups import Wakeups
from shared.heartbeat import Heartbeat
from shared.logging import get_logger
from shared.settings import CoreSettings

__all__ = [
    "Poller",
    "running_poller",
    "backoff_s",
    "default_poller_id",
    "percentile",
    "lateness_summary",
]

log = get_logger("forklift.rainforest.poller")

STATS_WINDOW_S = 60.0
WAKEUP_TICK_S = 0.02  # polls due within this long start together
# An early beat comes this long after a member's expiry: its leases expire a few ms after its
# membership (the same script sets both, the leases last)
EXPIRY_MARGIN_S = 0.05
SYNC_CHUNK = 500  # users read and started per step
SUMMARY_SAMPLE = 10_000  # polls sorted for the lateness percentiles
# a full collection before freezing the live objects at most this often (see _settle_memory)
FULL_COLLECTION_EVERY_S = 600.0
# net allocations before a young collection (Python's default: 700; see _settle_memory)
YOUNG_COLLECTION_AFTER = 10_000
SUMMARY_KEYS = (
    "polls_last_min", "lateness_p50_ms", "lateness_p99_ms", "lateness_max_ms",
    "late_polls_last_min",
)  # fmt: skip


def backoff_s(failures: int, period_s: float, cap_s: float) -> float:
    """Wait after ``failures`` consecutive failures: period x 2^(failures-1), capped."""
    return min(cap_s, period_s * 2 ** max(0, failures - 1))


def default_poller_id() -> str:
    """``<host>-<pid>-<random>``: a restarted process is a new member."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


def percentile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile of an already sorted list (nan when empty)."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def lateness_summary(lateness: list[float]) -> dict[str, Any]:
    """Count, p50, p99 and max (ms) and how many were over 1 s of polls' ``lateness`` (s):
    the percentiles of at most ``SUMMARY_SAMPLE`` of them drawn at random (sorting the minute
    of a poller of 10,000 users, 100,000 polls, took tens of ms every few beats; a random draw,
    as a stride could keep picking the same users), the rest exact."""
    if not lateness:
        return dict.fromkeys(SUMMARY_KEYS, 0)
    if len(lateness) > SUMMARY_SAMPLE:  # seeded: the same polls give the same summary
        sample = sorted(random.Random(len(lateness)).choices(lateness, k=SUMMARY_SAMPLE))
    else:
        sample = sorted(lateness)
    return {
        "polls_last_min": len(lateness),
        "lateness_p50_ms": round(percentile(sample, 0.5) * 1000, 1),
        "lateness_p99_ms": round(percentile(sample, 0.99) * 1000, 1),
        "lateness_max_ms": round(max(lateness) * 1000, 1),
        "late_polls_last_min": sum(map((1.0).__lt__, lateness)),
    }


_last_full_collection = float("-inf")


def _settle_memory() -> None:
    """Take what is alive now out of the cycle collector's full collections (``gc.freeze``),
    after users start: their tasks, coroutines and gateways (~200,000 objects at 10,000
    users) made every full collection walk them all, 130 ms every 20 s or so, the largest
    part of the collector's 9 us a poll. A full collection comes first when the last one is
    over ``FULL_COLLECTION_EVERY_S`` old, so the frozen objects of users stopped since
    (cycles through a cancelled task) are freed that late at most.

    The young generation is collected after ``YOUNG_COLLECTION_AFTER`` net allocations
    instead of 700: with ~1,000 requests in flight, their futures, coroutines and replies
    pushed the count past 700 several times a second, each collection walking the ~2,500
    young objects alive; at 10,000 users that was 5 us a poll, 1 us with 5,000-20,000
    (measured with ``gc.callbacks``)."""
    global _last_full_collection
    gc.set_threshold(YOUNG_COLLECTION_AFTER, *gc.get_threshold()[1:])
    if time.monotonic() - _last_full_collection > FULL_COLLECTION_EVERY_S:
        gc.unfreeze()
        gc.collect()
        _last_full_collection = time.monotonic()
    gc.freeze()


@dataclass(slots=True)
class _User:
    cloud_id: str
    shard: int
    lease: Lease  # the lease the task was started under: it polls only while that one holds
    stamp: str  # updated_at of the record the task was started from
    task: asyncio.Task[None] | None = None
    in_flight: bool = False
    stopped: bool = False

    def state(self, leases: dict[int, Lease], now: float) -> str:
        """ "stop" (stopped, or its lease was handed over or replaced), "wait" (the lease is
        not confirmed right now: Redis slow or away) or "poll"."""
        lease = self.lease
        if self.stopped or leases.get(self.shard) is not lease or lease.draining:
            return "stop"
        return "poll" if lease.valid(now) else "wait"


class Poller:
    """Polls the users of the shards it holds; ``lateness`` keeps (time, delay past due) per
    poll for the last minute, ``polls`` the recent start times per user."""

    def __init__(
        self,
        settings: RainforestSettings,
        store: UserStore,
        recorder: Recorder,
        session: aiohttp.ClientSession,
        relay: RelayClient,
        heartbeat: Heartbeat | None = None,
        member: str | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.recorder = recorder
        self.session = session
        self.relay = relay
        self.heartbeat = heartbeat
        self.member = member or settings.poller_id or default_poller_id()
        self.membership = Membership(
            store.redis, self.member, settings.shards, settings.lease_ttl_s
        )
        self.leases: dict[int, Lease] = recorder.leases
        self.members: list[str] = []
        self.started = time.time()
        self.failed_polls = 0
        self.total_polls = 0
        self.moved_in = 0
        self.lateness: deque[tuple[float, float]] = deque(maxlen=250_000)
        self.polls: defaultdict[str, deque[float]] = defaultdict(lambda: deque(maxlen=20))
        self._gate = Gate(settings.concurrency)
        self._wakeups = Wakeups(WAKEUP_TICK_S)
        self._users: dict[str, _User] = {}
        self._by_shard: defaultdict[int, dict[str, _User]] = defaultdict(dict)
        self._directory: dict[int, list[str]] = {}
        self._unsynced: set[int] = set()  # acquired shards whose users are not started yet
        self._moved: set[int] = set()  # of those, the ones taken from another poller
        self._handed: set[int] = set()  # of those, the ones it handed over (not expired)
        self._resync = False
        self._sync_wake = asyncio.Event()
        self._syncer: asyncio.Task[None] | None = None
        self._releasing: dict[int, str] = {}
        self._drains: dict[int, asyncio.Task[None]] = {}
        self._version: int | None = None
        self._main: asyncio.Task[None] | None = None
        self._summary: dict[str, Any] = {}
        self._beats = 0
        self._unconfirmed = 0
        self._polled_at: dict[str, float] = {}  # cloud_id -> Unix time of its last poll here
        self._beaten = asyncio.Event()  # set and cleared after each beat: wakes waiting users
        self._stopping = False
        self._beat_errors = 0
        self._early_beat_at: float | None = None  # loop time of an early beat (see beat())
        self._info_users = 0  # users_polled as of the last beat

    @property
    def running(self) -> bool:
        """The poll loop is up (False with ``--no-poller`` or after it stopped)."""
        return self._main is not None and not self._main.done()

    @property
    def users_polled(self) -> int:
        return sum(1 for user in self._users.values() if user.task and not user.task.done())

    # --- membership and shards -------------------------------------------------------------

    async def beat(self) -> None:
        """One membership beat: renew and release (first: that is what must not be late),
        then take the shards the live members leave to this poller, drain those they don't,
        and start/stop users to match."""
        if self._beats % 5 == 0:
            self._summary = self.summary()
        self._beats += 1
        renew = {shard: lease.token for shard, lease in self.leases.items()}
        self._info_users = self.users_polled  # once a beat: it walks every user
        result = await self._call_beat(renew, self._releasing, [], self._info())
        released, self._releasing = self._releasing, {}
        self.members = result.members
        self._note_expiries(result)
        wanted = owned_shards(self.member, result.members, self.settings.shards)
        to_acquire = sorted(wanted - self.leases.keys() - self._drains.keys())
        acquired: dict[int, str] = {}
        # not on the first beat: pollers started together may not all be listed yet
        if to_acquire and self._beats > 1:
            won = await self._call_beat({}, {}, to_acquire, None)
            acquired = won.acquired
            self._handed |= won.handed_over
        leaving = sorted(self.leases.keys() - wanted - self._drains.keys())
        if leaving:
            task = asyncio.create_task(self._drain(leaving), name=f"drain-{len(leaving)}")
            self._drains.update(dict.fromkeys(leaving, task))
        if acquired:
            self._unsynced |= acquired.keys()
            self._moved |= acquired.keys()
            self._sync_wake.set()
        if await self.store.version() != self._version:
            self._resync = True
            self._sync_wake.set()
        if acquired or result.lost or released:
            log.info(
                "rainforest.poller.shards",
                member=self.member,
                members=len(result.members),
                acquired=len(acquired),
                released=len(released),
                lost=len(result.lost),
                shards=len(self.leases),
                users=self._info_users,
            )
        if self.heartbeat is not None and self._beats % 5 == 1:
            await self.heartbeat.annotate(
                poller_id=self.member, shards=len(self.leases), users=self._info_users,
                **{k: v for k, v in self._summary.items() if k.startswith("lateness")},
            )  # fmt: skip

    async def _call_beat(
        self,
        renew: dict[int, str],
        release: dict[int, str],
        acquire: list[int],
        info: dict[str, Any] | None,
    ) -> Any:
        """One beat script call; applies renewals, losses and acquisitions to ``leases``."""
        loop = asyncio.get_running_loop()
        sent = loop.time()
        # a late answer still counts (Redis did renew): only a lost connection ends the call
        async with asyncio.timeout(self.settings.lease_ttl_s):
            result = await self.membership.beat(renew, release=release, acquire=acquire, info=info)
        # valid by our clock until before Redis can expire it (margin: half a beat)
        valid_until = sent + self.settings.lease_ttl_s - self.settings.heartbeat_interval_s / 2
        for shard in result.renewed:
            if shard in self.leases:
                self.leases[shard].valid_until = valid_until
        for shard in result.lost:
            log.warning("rainforest.poller.lease_lost", shard=shard)
            self._drop(shard)
        for shard, token in result.acquired.items():
            self.leases[shard] = Lease(token, valid_until)
        return result

    def _note_expiries(self, result: Any) -> None:
        """When the next beat should come early: just after another member's membership runs
        out before the regular next beat (it missed its beats: dead, or cut off), so its
        shards are taken the moment Redis lets them go rather than up to a beat later."""
        loop_now = asyncio.get_running_loop().time()
        regular = loop_now + self.settings.heartbeat_interval_s
        soonest = regular
        for member, expiry_ms in result.expiries.items():
            if member != self.member:
                # the answer came after Redis read its clock: this is never early
                soonest = min(soonest, loop_now + (expiry_ms - result.server_ms) / 1000)
        self._early_beat_at = soonest + EXPIRY_MARGIN_S if soonest < regular else None

    def _info(self) -> dict[str, Any]:
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": round(self.started, 3),
            "last_beat": round(time.time(), 3),
            "shards": len(self.leases),
            "users": self._info_users,
            "polls_total": self.total_polls,
            "failed_total": self.failed_polls,
            "moved_in": self.moved_in,
            **self._summary,
        }

    def summary(self) -> dict[str, Any]:
        """Polls and lateness (ms) over the last minute (older polls are dropped here)."""
        horizon = asyncio.get_running_loop().time() - STATS_WINDOW_S
        lateness = self.lateness
        while lateness and lateness[0][0] < horizon:
            lateness.popleft()
        return lateness_summary(list(map(itemgetter(1), lateness)))

    def _expire(self, now: float) -> None:
        """Note the leases this poller could not renew in time (Redis slow or away, or this
        loop too busy to beat): their users pause (no poll without a confirmed lease) but are
        not dropped; the next renewal that gets through resumes them, or reports them lost."""
        unconfirmed = sum(1 for lease in self.leases.values() if not lease.valid(now))
        if unconfirmed and not self._unconfirmed:
            log.warning("rainforest.poller.leases_unconfirmed", shards=unconfirmed)
        self._unconfirmed = unconfirmed

    def _drop(self, shard: int) -> None:
        """Forget a shard at once (lease gone): its users stop, their queued readings will be
        refused by Redis."""
        self.leases.pop(shard, None)
        for user in self._shard_users(shard):
            self._stop_user(user, wait=False)

    async def _drain(self, shards: list[int]) -> None:
        """Hand shards over: no new polls, in-flight ones finish and are flushed, then the
        leases are released at the next beat."""
        try:
            leases = {s: lease for s in shards if (lease := self.leases.get(s)) is not None}
            for lease in leases.values():
                lease.draining = True
            await self._stop_users([u for s in leases for u in self._shard_users(s)])
            await self.recorder.flush(written=True)  # on disk before the next owner appends
            for shard, lease in leases.items():
                if self.leases.get(shard) is lease:
                    del self.leases[shard]
                    self._releasing[shard] = lease.token
        finally:
            for shard in shards:
                self._drains.pop(shard, None)

    def _shard_users(self, shard: int) -> list[_User]:
        return list(self._by_shard.get(shard, {}).values())

    def _stop_user(self, user: _User, wait: bool) -> asyncio.Task[None] | None:
        """Stop a user's task: cancelled at once, or, with ``wait`` while a poll is in flight,
        returned to be awaited (it ends after that poll)."""
        if self._users.get(user.cloud_id) is user:
            del self._users[user.cloud_id]
            del self._by_shard[user.shard][user.cloud_id]
        user.stopped = True
        task = user.task
        if task is None or task.done():
            return None
        if wait and user.in_flight:
            return task
        task.cancel()
        return None

    async def _stop_users(self, users: list[_User]) -> None:
        """Stop ``users``, letting their in-flight polls finish."""
        tasks = [task for user in users if (task := self._stop_user(user, wait=True))]
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- users --------------------------------------------------------------------------------

    async def _sync_loop(self) -> None:
        """Start/stop users as shards come and records change, apart from the beat (so a big
        hand-over never delays lease renewals) and in chunks (so polls go on meanwhile)."""
        while not self._stopping:
            await self._sync_wake.wait()
            self._sync_wake.clear()
            try:
                await self._sync_users()
            except (RedisError, OSError) as e:
                log.error("rainforest.poller.sync_failed", error=f"{type(e).__name__}: {e}")
                self._resync = True
                await asyncio.sleep(self.settings.heartbeat_interval_s)
                self._sync_wake.set()

    async def _sync_users(self) -> None:
        """Start the users of newly acquired shards; after a version change, re-read every
        held shard's users and restart the changed ones."""
        if self._resync or not self._directory:
            self._resync = False
            version = await self.store.version()
            directory: dict[int, list[str]] = defaultdict(list)
            for cloud_id in await self.store.cloud_ids():
                directory[shard_of(cloud_id, self.settings.shards)].append(cloud_id)
            self._directory, self._version = dict(directory), version
            self._unsynced.clear()
            shards = {s for s, lease in self.leases.items() if not lease.draining}
        else:
            shards, self._unsynced = self._unsynced, set()
        moved_shards, handed = shards & self._moved, shards & self._handed
        self._moved -= shards
        self._handed -= shards
        cloud_ids = [c for shard in sorted(shards) for c in self._directory.get(shard, [])]
        listed = set(cloud_ids)
        for shard in shards:
            for user in self._shard_users(shard):
                if user.cloud_id not in listed:  # deleted
                    self._stop_user(user, wait=False)
        # every record first, then the first polls of all of them at once: a taken-over
        # poller's overdue users are caught up oldest first across all its shards
        starting: dict[str, tuple[Gateway, dict[str, str]]] = {}
        for start in range(0, len(cloud_ids), SYNC_CHUNK):
            chunk = cloud_ids[start : start + SYNC_CHUNK]
            for cloud_id, raw in zip(chunk, await self.store.raw_many(chunk), strict=True):
                user = self._users.get(cloud_id)
                wanted = raw.get("active") == "1" and raw.get("status") not in (
                    "auth_failed",
                    "error",
                )
                if user is not None and (not wanted or raw.get("updated_at", "") != user.stamp):
                    self._stop_user(user, wait=False)
                    user = None
                if not wanted or user is not None:
                    continue
                try:
                    starting[cloud_id] = (self.store.gateway(raw), raw)
                except RainforestError as e:
                    await self._set_status(cloud_id, "error", str(e))
            await asyncio.sleep(0)  # let polls and beats run between chunks
        self._start_users(starting, moved_shards, handed)

    def _start_users(
        self,
        starting: dict[str, tuple[Gateway, dict[str, str]]],
        moved_shards: set[int],
        handed: set[int],
    ) -> None:
        """Start a task per user (of a shard still held) at its first poll time."""
        settings, shards = self.settings, self.settings.shards
        last_polls: dict[str, LastPoll] = {}
        for cloud_id, (_, raw) in starting.items():
            shard = shard_of(cloud_id, shards)
            # Redis has the last flushed poll; this process may know a later one (a shard
            # lost for a moment and taken back: its last readings were not counted)
            at = max(float(raw.get("polled_at") or 0), self._polled_at.get(cloud_id, 0.0))
            last_polls[cloud_id] = LastPoll(at, shard not in moved_shards or shard in handed)
            if shard in moved_shards and at > 0:
                self.moved_in += 1
        now, loop_now = time.time(), asyncio.get_running_loop().time()
        latest_gap = (
            settings.poll_period_s + settings.heartbeat_timeout_s - settings.heartbeat_interval_s
        )
        times = first_poll_times(last_polls, now, settings.poll_period_s, latest_gap)
        for cloud_id, (gateway, raw) in starting.items():
            shard = shard_of(cloud_id, shards)
            lease = self.leases.get(shard)
            if lease is None or lease.draining:
                continue
            at, late_by = times[cloud_id]
            user = _User(cloud_id, shard, lease, raw.get("updated_at", ""))
            start_at = loop_now + (at - now)
            user.task = asyncio.create_task(self._run_user(user, gateway, start_at, late_by))
            self._users[cloud_id] = self._by_shard[shard][cloud_id] = user
        if starting:
            _settle_memory()

    async def _run_user(
        self, user: _User, gateway: Gateway, start_at: float, late_by: float
    ) -> None:
        """Poll ``user`` from loop time ``start_at`` on until it stops (``late_by``: how late
        that first poll is against its due time)."""
        loop = asyncio.get_running_loop()
        due = start_at - late_by
        await self._wakeups.at(start_at)
        failures = 0
        gate = self._gate
        while True:
            if not gate.enter_now():
                await gate.enter()
            try:
                started = loop.time()
                state = user.state(self.leases, started)
                if state == "poll":
                    failures = await self._poll(user, gateway, started, due, failures)
            finally:
                gate.leave()
            if state == "stop" or failures < 0 or user.state(self.leases, loop.time()) == "stop":
                return
            if state == "wait":  # no poll without a confirmed lease; the next beat decides
                await self._beaten.wait()
                continue
            interval = (
                backoff_s(failures, self.settings.poll_period_s, self.settings.backoff_cap_s)
                if failures
                else self.settings.poll_period_s
            )
            # due an interval after this start: an overrun poll makes the next one late
            due = started + interval
            await self._wakeups.at(loop.time() + get_wait_time(started, loop.time(), interval))

    async def _poll(
        self, user: _User, gateway: Gateway, started: float, due: float, failures: int
    ) -> int:
        """One poll started at loop time ``started`` (due at ``due``); returns the consecutive
        failures after it (-1: bad credentials, stop)."""
        self.total_polls += 1
        self.lateness.append((started, started - due))
        self.polls[user.cloud_id].append(started)
        polled_at = self._polled_at[user.cloud_id] = time.time()
        settings = self.settings
        user.in_flight = True
        try:
            reading = await fetch_reading(
                self.session,
                self.relay,
                gateway,
                settings.request_timeout_s,
                settings.networks,
            )
        except BadCredentials as e:
            log.warning("rainforest.poll.auth_failed", cloud_id=user.cloud_id, error=str(e))
            await self._set_status(user.cloud_id, "auth_failed", str(e), polled_at)
            return -1
        except Exception as e:  # noqa: BLE001 - one user's error never stops the poller
            failures += 1
            self.failed_polls += 1
            if failures in (1, 5, 10) or failures % 100 == 0:
                log.warning(
                    "rainforest.poll.failed",
                    cloud_id=user.cloud_id,
                    error=f"{type(e).__name__}: {e}",
                    failures=failures,
                )
            await self._set_status(user.cloud_id, "backoff", f"{failures} failures: {e}", polled_at)
            return failures
        finally:
            user.in_flight = False
        self.recorder.record(user.shard, reading, polled_at)
        return 0

    async def _set_status(
        self, cloud_id: str, status: str, detail: str, polled_at: float | None = None
    ) -> None:
        try:
            await self.store.set_status(cloud_id, status, detail, polled_at)
        except Exception as e:  # noqa: BLE001 - Redis trouble must not kill the user's task
            log.error("rainforest.poll.status_failed", cloud_id=cloud_id, error=str(e))

    # --- life cycle ---------------------------------------------------------------------------

    async def _run(self) -> None:
        interval = self.settings.heartbeat_interval_s
        loop = asyncio.get_running_loop()
        while not self._stopping:
            started = loop.time()
            try:
                await self.beat()
                if self._beat_errors:
                    log.info("rainforest.poller.beat_recovered", failed_beats=self._beat_errors)
                    self._beat_errors = 0
            except PollerConfigError as e:
                log.error("rainforest.poller.config", error=str(e))
                raise
            except (RedisError, OSError, TimeoutError) as e:
                self._beat_errors += 1
                if self._beat_errors in (1, 10) or self._beat_errors % 60 == 0:
                    log.error(
                        "rainforest.poller.beat_failed",
                        error=f"{type(e).__name__}: {e}",
                        failed_beats=self._beat_errors,
                        shards_held=len(self.leases),
                    )
            self._expire(loop.time())
            self._beaten.set()
            self._beaten.clear()
            next_at = started + interval
            if self._early_beat_at is not None:
                next_at, self._early_beat_at = min(next_at, self._early_beat_at), None
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    def start(self) -> None:
        self._main = asyncio.create_task(self._run(), name="rainforest-poller")
        self._syncer = asyncio.create_task(self._sync_loop(), name="rainforest-poller-sync")

    async def wait(self) -> None:
        """Until the poll loop ends: only on a configuration error, which is raised here."""
        if self._main is not None:
            await asyncio.shield(self._main)

    async def stop(self) -> None:
        """Leave gracefully: stop polling (in-flight polls finish), flush, release every
        lease and leave the membership, so the others take over at their next beat."""
        self._stopping = True  # ends the loops even if a cancellation were lost in a library
        for task in (self._main, self._syncer):
            if task is not None:
                task.cancel()
                await asyncio.wait({task}, timeout=self.settings.lease_ttl_s)
        for task in list(self._drains.values()):
            task.cancel()
        for lease in self.leases.values():
            lease.draining = True
        await self._stop_users(list(self._users.values()))
        self._wakeups.close()
        try:
            await self.recorder.flush(written=True)
        finally:
            tokens = {shard: lease.token for shard, lease in self.leases.items()}
            self.leases.clear()
            try:
                async with asyncio.timeout(self.settings.lease_ttl_s):
                    await self.membership.beat(
                        {}, release={**self._releasing, **tokens}, leave=True
                    )
            except (RedisError, OSError, TimeoutError) as e:
                log.error("rainforest.poller.leave_failed", error=f"{type(e).__name__}: {e}")


@asynccontextmanager
async def running_poller(
    core: CoreSettings,
    settings: RainforestSettings,
    store: UserStore,
    session: aiohttp.ClientSession,
    heartbeat: Heartbeat | None = None,
    *,
    writer: LogWriter | None = None,
    member: str | None = None,
    relay: RelayClient | None = None,
) -> AsyncIterator[Poller]:
    """A started poller (and its recorder) writing under the configured log folder (or through
    ``writer``), requesting the relay through ``relay`` (default: its own client); on exit it
    leaves the membership gracefully and flushes what is left."""
    # its sockets: the relay's connections and the EAGLE-200s' (each pool up to concurrency)
    writer = writer or LogWriter(settings.logs_path(core), sockets=2 * settings.concurrency)
    recorder = Recorder(store, writer, settings.flush_interval_s, {}, heartbeat)
    own_relay = relay is None
    relay = relay or relay_client(settings.relay_url, settings.concurrency)
    poller = Poller(settings, store, recorder, session, relay, heartbeat, member)
    recorder.start()
    poller.start()
    try:
        yield poller
    finally:
        try:
            await poller.stop()
        finally:
            try:
                await recorder.close()
            finally:
                writer.close_files()
                if own_relay:
                    relay.close()
