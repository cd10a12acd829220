"""The Matomo HTTP API: bulk tracking (``matomo.php``) and reporting calls (``index.php``),
all through one session with timeouts and bounded retries. The token goes in POST bodies
only, never in URLs or logs."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import aiohttp

from services.piwik.errors import MatomoError
from services.piwik.settings import PiwikSettings
from shared.errors import ConfigError
from shared.logging import get_logger

__all__ = ["Matomo", "matomo_from_settings"]

log = get_logger("forklift.piwik.matomo")


@dataclass
class Matomo:
    """A Matomo server reached through ``session``."""

    session: aiohttp.ClientSession
    url: str
    token: str
    timeout_s: float = 30.0
    retries: int = 3
    backoff_s: float = 0.5

    async def _post(self, path: str, **kwargs: Any) -> Any:
        """POST with retries on errors, timeouts and 5xx; the decoded JSON answer."""
        delay_s = self.backoff_s
        for attempt in range(self.retries + 1):
            try:
                async with self.session.post(
                    f"{self.url.rstrip('/')}/{path}",
                    timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                    **kwargs,
                ) as response:
                    if response.status < 500:
                        if response.status != 200:
                            raise MatomoError(f"Matomo {path}: HTTP {response.status}")
                        return await response.json(content_type=None)
                    reason = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError, ValueError) as e:
                reason = f"{type(e).__name__}: {e}"
            log.warning("piwik.matomo.retry", path=path, attempt=attempt + 1, reason=reason)
            if attempt < self.retries:
                await asyncio.sleep(delay_s)
                delay_s *= 2
        raise MatomoError(f"Matomo {path}: {reason} after {self.retries + 1} attempts")

    async def track_bulk(self, requests: list[str]) -> tuple[int, int]:
        """Send one bulk batch of ``?rec=1&...`` requests (form-encoded, so plain ASCII
        with no quote or backslash: the JSON body is put together as text); (tracked,
        invalid) once Matomo answers ``success``."""
        joined = '"' + '","'.join(requests) + '"' if requests else ""
        body = f'{{"requests":[{joined}],"token_auth":{json.dumps(self.token)}}}'
        answer = await self._post(
            "matomo.php", data=body.encode(), headers={"Content-Type": "application/json"}
        )
        if not isinstance(answer, dict) or answer.get("status") != "success":
            raise MatomoError(f"Matomo bulk tracking refused the batch: {answer!r:.200}")
        return int(answer.get("tracked", 0)), int(answer.get("invalid", 0))

    async def api(self, method: str, **params: str) -> Any:
        """Call ``method`` of the reporting API; MatomoError on an error answer."""
        form = {"module": "API", "method": method, "format": "JSON", "token_auth": self.token}
        answer = await self._post("index.php", data={**form, **params})
        if isinstance(answer, dict) and answer.get("result") == "error":
            raise MatomoError(f"Matomo {method}: {answer.get('message')}")
        return answer

    async def visits_summary(self, id_site: int, day: date) -> dict[str, Any]:
        """``VisitsSummary.get`` of one site and day."""
        answer = await self.api(
            "VisitsSummary.get", idSite=str(id_site), period="day", date=day.isoformat()
        )
        return answer if isinstance(answer, dict) else {}

    async def invalidate_reports(self, id_site: int, days: list[date]) -> None:
        """Have Matomo re-archive ``days`` of the site (imported logs change past days)."""
        await self.api(
            "CoreAdminHome.invalidateArchivedReports",
            idSites=str(id_site),
            dates=",".join(day.isoformat() for day in days),
        )

    async def main_url(self, id_site: int) -> str:
        """The site's main URL (``SitesManager.getSiteFromId``), as import_logs.py uses it."""
        answer = await self.api("SitesManager.getSiteFromId", idSite=str(id_site))
        if not isinstance(answer, dict) or not answer.get("main_url"):
            raise MatomoError(f"Matomo has no main URL for site {id_site}: {answer!r:.200}")
        return str(answer["main_url"])


def matomo_from_settings(settings: PiwikSettings, session: aiohttp.ClientSession) -> Matomo | None:
    """The configured Matomo, or None when FORKLIFT_PIWIK_MATOMO_URL is unset."""
    if not settings.matomo_url:
        return None
    if settings.matomo_token is None:
        raise ConfigError("FORKLIFT_PIWIK_MATOMO_TOKEN is not set")
    return Matomo(
        session,
        settings.matomo_url,
        settings.matomo_token.get_secret_value(),
        settings.timeout_s,
        settings.retries,
        settings.backoff_s,
    )
