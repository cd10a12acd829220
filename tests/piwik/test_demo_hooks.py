"""The piwik demo hooks: seeded logs and sites file, then the check follows the import."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from services.piwik import demo as piwik_demo
from services.piwik.clients import open_clients
from services.piwik.days import yesterday
from services.piwik.fake_matomo import FakeMatomo
from services.piwik.importer import import_day
from services.piwik.settings import PiwikSettings
from services.piwik.sites import load_sites
from shared.aws import AwsConfig
from shared.demo import DEMO_MATOMO_TOKEN, DemoContext
from shared.settings import CoreSettings


async def test_seed_then_import_yesterday_makes_the_check_pass(
    core: CoreSettings,
    aws: AwsConfig,
    source: asyncpg.Pool,
    warehouse: asyncpg.Pool,
    redis: Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    matomo: tuple[FakeMatomo, str],
    settings: PiwikSettings,
) -> None:
    fake, url = matomo
    fake.token = DEMO_MATOMO_TOKEN
    monkeypatch.setenv("FORKLIFT_PIWIK_PULL_BUCKET", settings.pull_bucket)
    monkeypatch.setenv("FORKLIFT_PIWIK_PUSH_BUCKET", settings.push_bucket)
    demo = DemoContext(core, source, warehouse, redis, aws, tmp_path, "http://e", url)
    await piwik_demo.seed(demo)
    await piwik_demo.seed(demo)  # a restarted demo writes the same objects (same ETags)
    for key, value in demo.env.items():
        monkeypatch.setenv(key, value)
    before = await piwik_demo.check(demo)
    assert not before.ok and before.detail == "0/2 sites imported, 0 web_hits"

    demo_settings = PiwikSettings(parse_processes=1)
    assert demo_settings.matomo_url == url
    sites = load_sites(demo_settings.sites_file)
    async with open_clients(core, demo_settings) as clients:
        for site in sites.values():
            day = yesterday(site.timezone, datetime.now(UTC))
            report = await import_day(clients, demo_settings, site, day)
            # only yesterday's file holds yesterday's lines (the day before's ends before)
            assert report.ok and len(report.files) == 1
    after = await piwik_demo.check(demo)
    hits = await warehouse.fetchval("SELECT count(*) FROM web_hits")
    assert after.ok and after.produced == hits == len(fake.hits) > 2000
