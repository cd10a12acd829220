"""Piwik fixtures: a running fake Matomo, a sites file, buckets on moto, settings."""

from __future__ import annotations

import gzip
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from services.piwik.clients import open_clients
from services.piwik.fake_matomo import FakeMatomo, create_app
from services.piwik.formats import FormatSpec, line_parser
from services.piwik.importer import Clients
from services.piwik.s3logs import ensure_bucket
from services.piwik.settings import PiwikSettings
from services.piwik.tracking import ImportOptions, RequestBuilder
from shared.aws import AwsConfig, aws_client
from shared.settings import CoreSettings

TOKEN = "test-token"
DAY = date(2026, 11, 20)
DAY_START = datetime(2026, 11, 20, tzinfo=UTC)
SITES = {
    "sites": [
        {"name": "www.example.org", "id_site": 1, "prefix": "www/", "format": "w3c"},
        {
            "name": "shop.example.com",
            "id_site": 2,
            "prefix": "shop/",
            "key_regex": r"access\.log",
            "format": "combined",
        },
        {  # archived IIS logs named by day, format and days detected
            "name": "archive.example.net",
            "id_site": 3,
            "prefix": "archive/",
            "key_date": {
                "regex": r"u_ex(?P<year>\d{2})(?P<month>\d{2})(?P<day>\d{2})",
                "first_offset": 0,
                "last_offset": 0,
            },
        },
        {"name": "nobots.example.com", "id_site": 4, "prefix": "nobots/", "enable_bots": False},
    ]
}


@pytest_asyncio.fixture
async def matomo() -> AsyncIterator[tuple[FakeMatomo, str]]:
    fake = FakeMatomo(TOKEN)
    server = TestServer(create_app(fake), host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
def sites_file(tmp_path: Path) -> Path:
    path = tmp_path / "sites.json"
    path.write_text(json.dumps(SITES))
    return path


@pytest.fixture
def settings(sites_file: Path, matomo: tuple[FakeMatomo, str]) -> PiwikSettings:
    suffix = uuid.uuid4().hex[:10]
    return PiwikSettings(
        _env_file=None,
        sites_file=sites_file,
        matomo_url=matomo[1],
        matomo_token=TOKEN,
        batch_size=50,
        recorders=3,
        retries=1,
        backoff_s=0.01,
        timeout_s=2,
        parse_processes=1,
        pull_bucket=f"pull-{suffix}",  # moto is shared by the session's tests
        push_bucket=f"push-{suffix}",
    )


@pytest_asyncio.fixture
async def s3(aws: AwsConfig, settings: PiwikSettings) -> AsyncIterator:
    async with aws_client(aws, "s3") as client:
        yield client


@pytest_asyncio.fixture
async def clients(core: CoreSettings, settings: PiwikSettings, s3) -> AsyncIterator[Clients]:
    async with open_clients(core, settings) as opened:
        await ensure_bucket(opened.s3, settings.pull_bucket)
        await ensure_bucket(opened.s3, settings.push_bucket)
        yield opened


async def put_log(s3, bucket: str, key: str, lines: list[str] | bytes) -> None:
    body = lines if isinstance(lines, bytes) else "\n".join(lines).encode() + b"\n"
    if key.endswith(".gz") and not isinstance(lines, bytes):
        body = gzip.compress(body)
    await s3.put_object(Bucket=bucket, Key=key, Body=body)


def identity(hit: dict[str, str]) -> tuple[str, ...]:
    """What tells recorded hits apart."""
    return (hit["cip"], hit["ua"], hit["cdt"], hit["url"])


def expected_identities(combined: list[str]) -> Counter:
    """The hits the shop site's combined ``lines`` must produce at Matomo, counted."""
    parser = line_parser(FormatSpec("combined"))
    builder = RequestBuilder(2, "https://shop.example.com", ImportOptions())
    requests = [builder.request(parser.parse(line, n))[0] for n, line in enumerate(combined, 1)]
    return Counter(identity(dict(parse_qsl(r[1:]))) for r in requests)
