"""The piwik service in ``forklift demo``: gzip'd logs of the last two days for the two
demo sites in the pull bucket, the sites file, and a worker that imports yesterday at
start-up; the check wants every demo site's yesterday imported into ``web_hits``."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, time, timedelta

from services.piwik.s3logs import ensure_bucket
from services.piwik.samples import combined_lines, w3c_lines
from services.piwik.settings import PiwikSettings
from shared.aws import aws_client
from shared.demo import DEMO_MATOMO_TOKEN, CheckResult, DemoContext
from shared.settings import load_settings

PROCESSES: tuple[tuple[str, ...], ...] = (("worker", "piwik"),)

DEMO_SITES = [
    {
        "name": "www.example.org",
        "id_site": 1,
        "prefix": "www.example.org/",
        "key_regex": r"u_ex\d{6}\.log\.gz$",
        "format": "w3c",
        "timezone": "UTC",
    },
    {
        "name": "shop.example.com",
        "id_site": 2,
        "prefix": "shop.example.com/",
        "key_regex": r"access\.log-\d{8}\.gz$",
        "format": "combined",
        "timezone": "UTC",
    },
]
LINES_PER_DAY = 4000


def _demo_logs(now: datetime) -> dict[str, bytes]:
    """Key -> gzip'd log, identical bytes on every run for the same day (same ETag, so a
    restarted demo does not import them again)."""
    logs = {}
    for back in (2, 1):
        day = (now - timedelta(days=back)).date()
        start = datetime.combine(day, time(), UTC)
        seed = day.toordinal()
        www = w3c_lines(start, 23 * 3600, LINES_PER_DAY, seed)
        shop = combined_lines(start, 23 * 3600, LINES_PER_DAY, seed + 1)
        logs[f"www.example.org/u_ex{day:%y%m%d}.log.gz"] = www
        logs[f"shop.example.com/access.log-{day:%Y%m%d}.gz"] = shop
    return {k: gzip.compress("\n".join(v).encode() + b"\n", mtime=0) for k, v in logs.items()}


async def seed(demo: DemoContext) -> None:
    """Write the sites file and the logs; point the piwik worker at the demo's Matomo."""
    sites_file = demo.data_dir / "piwik-sites.json"
    sites_file.parent.mkdir(parents=True, exist_ok=True)
    sites_file.write_text(json.dumps({"sites": DEMO_SITES}, indent=2))
    demo.env["FORKLIFT_PIWIK_SITES_FILE"] = str(sites_file)
    demo.env["FORKLIFT_PIWIK_MATOMO_URL"] = demo.matomo_url
    demo.env["FORKLIFT_PIWIK_MATOMO_TOKEN"] = DEMO_MATOMO_TOKEN
    settings = load_settings(PiwikSettings)
    async with aws_client(demo.aws, "s3") as s3:
        await ensure_bucket(s3, settings.pull_bucket)
        await ensure_bucket(s3, settings.push_bucket)
        for key, body in _demo_logs(datetime.now(UTC)).items():
            await s3.put_object(Bucket=settings.pull_bucket, Key=key, Body=body)


async def check(demo: DemoContext) -> CheckResult:
    """OK when both demo sites have imported files and hits in ``web_hits``, none failed."""
    row = await demo.warehouse.fetchrow(
        "SELECT count(DISTINCT site) FILTER (WHERE status = 'done' AND hits > 0) AS sites,"
        " count(*) FILTER (WHERE status IN ('failed', 'partial')) AS bad,"
        " (SELECT count(*) FROM web_hits) AS hits FROM piwik_ledger"
    )
    ok = row["sites"] == len(DEMO_SITES) and row["bad"] == 0 and row["hits"] > 0
    detail = f"{row['sites']}/{len(DEMO_SITES)} sites imported, {row['hits']} web_hits"
    if row["bad"]:
        detail += f", {row['bad']} files failed or partial"
    return CheckResult("piwik", ok=ok, produced=row["hits"], detail=detail)
