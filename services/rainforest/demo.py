"""The rainforest service in ``forklift demo``: the API with one poller, a second poller (the two
share the users), the rotation worker, users on the EAGLE simulator, a closed hour of readings
to rotate, and the check."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from services.rainforest.readings import iso, log_file_name
from services.rainforest.simulator import device_credentials
from services.rainforest.users import INDEX_KEY, UserStore, user_key
from shared.aws import aws_client
from shared.demo import DEMO_EAGLE_DEVICES, CheckResult, DemoContext

PROCESSES: tuple[tuple[str, ...], ...] = (
    ("serve", "rainforest"),
    ("rainforest", "poll"),
    ("worker", "rainforest"),
)
DEMO_USERS = 24
DEMO_BUCKET = "forklift-rainforest"


def _read_or_create(path: Path, make: str) -> str:
    """A demo secret kept in the data dir, so a restarted demo still decrypts its users."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(make)
    path.chmod(0o600)
    return make


def _write_closed_hour(log_dir: Path, cloud_id: str, now: datetime) -> None:
    """Two hours back: one hour of simulated 6 s readings, so rotation uploads something soon."""
    hour = (now - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    lines = []
    for step in range(600):
        at = hour + timedelta(seconds=6 * step)
        lines.append(json.dumps({
            "cloud_id": cloud_id, "meter_mac": "0x00135003007c0000", "device_mac": "0xd8d5b90000000000",
            "eagle_time": iso(at), "received_at": iso(at), "demand_kw": round(0.4 + (step % 50) / 40, 3),
            "summation_delivered_kwh": None, "summation_received_kwh": None, "source": "cloud",
        }))  # fmt: skip
    path = log_dir / log_file_name(cloud_id, hour)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


async def seed(demo: DemoContext) -> None:
    """Register simulated users (cloud and eagle200 alternately) and configure the processes."""
    key = _read_or_create(
        demo.data_dir / "rainforest" / "fernet.key", Fernet.generate_key().decode()
    )
    token = _read_or_create(demo.data_dir / "rainforest" / "api.token", secrets.token_urlsafe(24))
    log_dir = demo.data_dir / "rainforest" / "logs"
    store = UserStore(demo.redis, Fernet(key))
    host = urlsplit(demo.eagle_url).netloc
    for index in range(min(DEMO_USERS, DEMO_EAGLE_DEVICES)):
        cloud_id, user, secret = device_credentials(index)
        body = {"user_email": user, "user_pw": secret, "adapter": "cloud"}
        if index % 2:
            body.update(adapter="eagle200", host=host)
        await store.upsert(cloud_id, body)
    await asyncio.to_thread(_write_closed_hour, log_dir, "000000", datetime.now(UTC))
    demo.env.update(
        FORKLIFT_RAINFOREST_API_TOKEN=token,
        FORKLIFT_RAINFOREST_ENCRYPTION_KEY=key,
        FORKLIFT_RAINFOREST_RELAY_URL=demo.eagle_url,
        FORKLIFT_RAINFOREST_LOG_DIR=str(log_dir),
        FORKLIFT_RAINFOREST_S3_BUCKET=DEMO_BUCKET,
        # the simulator's EAGLE-200s listen on this machine: allow exactly that address
        FORKLIFT_RAINFOREST_GATEWAY_NETWORKS=f"{urlsplit(demo.eagle_url).hostname}/32",
    )


async def check(demo: DemoContext) -> CheckResult:
    """OK once readings were logged and at least one closed hour is in S3."""
    cloud_ids = [c async for c in demo.redis.sscan_iter(INDEX_KEY, count=1000)]
    async with demo.redis.pipeline(transaction=False) as pipe:
        for cloud_id in cloud_ids:
            pipe.hget(user_key(cloud_id.decode()), "total_events_logged")
        logged = sum(int(n or 0) for n in await pipe.execute())
    async with aws_client(demo.aws, "s3") as s3:
        try:
            listing = await s3.list_objects_v2(
                Bucket=DEMO_BUCKET, Prefix="rainforest-logs/", MaxKeys=5
            )
            uploaded = listing.get("KeyCount", 0)
        except s3.exceptions.NoSuchBucket:
            uploaded = 0
    ok = logged > 0 and uploaded > 0
    detail = f"{len(cloud_ids)} users, {logged} readings logged, {uploaded} hour files in S3"
    return CheckResult("rainforest", ok=ok, produced=logged, detail=detail)
