"""A fake Matomo for tests, benchmarks and the demo: the bulk tracking endpoint
(``matomo.php`` and ``piwik.php``; checks the protocol, records the hits, given as query
strings or as parameter objects, as Matomo accepts both), the reporting API
(``index.php`` or ``/``: ``SitesManager.getSiteFromId`` with each site's main URL,
``VisitsSummary.get`` computed from the recorded hits,
``CoreAdminHome.invalidateArchivedReports``), and fault injection (HTTP 500s, slow answers)
through :class:`FakeMatomo` or ``POST /_fake/faults`` (``GET /_fake/hits`` lists the hits,
``GET /_fake/count`` counts them and the bulk requests, ``POST /_fake/reset`` forgets
them). Matomo's own ``import_logs.py`` runs
against it unchanged, so the hits it sends can be compared with forklift's.

Run: ``python -m services.piwik.fake_matomo --host 127.0.0.1 --port 8090 --token T
[--main-url 2=https://shop.example.com]``
"""

from __future__ import annotations

import argparse
import asyncio
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

__all__ = ["FakeMatomo", "create_app", "visits_summary", "main"]

VISIT_GAP_S = 30 * 60
_CDT = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?$")
_REQUIRED = ("rec", "idsite", "url", "cdt", "cip", "apiv")
# cdt as it arrives form-encoded (a space as + or %20, colons as %3A)
_CDT_ENCODED_TEXT = (
    r"\d{4}-\d{2}-\d{2}(?:\+|%20| )\d{2}(?:%3[Aa]|:)\d{2}(?:%3[Aa]|:)\d{2}(?:\.\d{1,6})?"
)
_CDT_ENCODED = re.compile(f"^{_CDT_ENCODED_TEXT}$")
# A valid request with the required parameters first, in the order forklift sends them
# (the first occurrence of each, as :func:`_param` finds it): checked by one match; any
# other request is checked parameter by parameter.
_IN_ORDER = re.compile(
    rf"\?rec=1&apiv=1&idsite=\d+&url=[^&]+&urlref=[^&]*&cip=[^&]+&cdt={_CDT_ENCODED_TEXT}(?:&|$)"
)
_NEEDLES = {name: (f"?{name}=", f"&{name}=") for name in _REQUIRED}


def _param(request: str, name: str) -> str | None:
    """A parameter's (encoded) value in a ``?a=1&b=2`` request, found without parsing it
    all (the fake checks a million requests in a benchmark)."""
    first, other = _NEEDLES[name]
    if request.startswith(first):
        start = len(first)
    else:
        at = request.find(other)
        if at < 0:
            return None
        start = at + len(other)
    end = request.find("&", start)
    return request[start:] if end < 0 else request[start:end]


Request = str | dict[str, Any]


@dataclass
class FakeMatomo:
    """The fake's state: recorded hits and the faults to inject next."""

    token: str
    raw_requests: list[Request] = field(default_factory=list)  # accepted, parsed on demand
    main_urls: dict[str, str] = field(default_factory=dict)  # idsite -> main URL
    bulk_requests: int = 0
    invalidations: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0  # answer this many bulk requests with HTTP 500
    fail_after: int | None = None  # after this many accepted bulk requests, answer 500
    delay_s: float = 0.0  # sleep before answering a bulk request
    hang_after: int | None = None  # after this many accepted bulk requests, never answer

    @property
    def hits(self) -> list[dict[str, str]]:
        """The recorded tracking requests' parameters (values as text), in arrival order."""
        return [
            dict(parse_qsl(r[1:], keep_blank_values=True))
            if isinstance(r, str)
            else {k: str(v) for k, v in r.items()}
            for r in self.raw_requests
        ]

    def main_url(self, id_site: str) -> str:
        """The site's main URL (``https://site<id>.example.org`` unless configured)."""
        return self.main_urls.get(id_site, f"https://site{id_site}.example.org")

    @staticmethod
    def valid(request: object) -> bool:
        """Whether a tracking request follows the protocol: rec=1, a numeric idsite, a
        url, cip and apiv, a cdt ``YYYY-MM-DD HH:MM:SS[.ffffff]`` (cheap: no full
        decoding)."""
        if isinstance(request, dict):
            values = [str(request.get(name) or "") for name in _REQUIRED]
            cdt_ok = _CDT.match(values[3]) is not None
        elif isinstance(request, str) and _IN_ORDER.match(request):
            return True
        elif isinstance(request, str) and request.startswith("?"):
            values = [_param(request, name) or "" for name in _REQUIRED]
            cdt_ok = _CDT_ENCODED.match(values[3]) is not None
        else:
            return False
        rec, idsite, url, _, cip, apiv = values
        return rec == "1" and idsite.isdigit() and bool(url and cip and apiv) and cdt_ok


FAKE: web.AppKey[FakeMatomo] = web.AppKey("fake", FakeMatomo)


def visits_summary(hits: list[dict[str, str]], id_site: str, day: str) -> dict[str, int]:
    """Matomo's VisitsSummary.get figures over ``hits`` of one site and (UTC) day: a visit
    is one visitor's (ip + user agent) hits with gaps under 30 minutes."""
    times: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for hit in hits:
        if hit["idsite"] == id_site and hit["cdt"].startswith(day):
            times[(hit["cip"], hit.get("ua", ""))].append(datetime.fromisoformat(hit["cdt"]))
    figures = dict(nb_visits=0, nb_uniq_visitors=len(times), nb_actions=0, bounce_count=0)
    figures["sum_visit_length"] = 0
    for visitor_times in times.values():
        visitor_times.sort()
        visit = [visitor_times[0]]
        for moment in [*visitor_times[1:], None]:
            if moment is not None and (moment - visit[-1]).total_seconds() < VISIT_GAP_S:
                visit.append(moment)
                continue
            figures["nb_visits"] += 1
            figures["nb_actions"] += len(visit)
            figures["bounce_count"] += len(visit) == 1
            figures["sum_visit_length"] += int((visit[-1] - visit[0]).total_seconds())
            visit = [moment] if moment is not None else []
    return figures


async def _bulk(request: web.Request) -> web.Response:
    fake: FakeMatomo = request.app[FAKE]
    if fake.delay_s:
        await asyncio.sleep(fake.delay_s)
    accepted_so_far = fake.bulk_requests
    while fake.hang_after is not None and accepted_so_far >= fake.hang_after:  # noqa: ASYNC110
        await asyncio.sleep(0.05)  # a hung server: the client times out or is killed
    if fake.fail_next > 0 or (fake.fail_after is not None and accepted_so_far >= fake.fail_after):
        fake.fail_next = max(0, fake.fail_next - 1)
        return web.json_response({"status": "error", "message": "injected"}, status=500)
    try:
        body = await request.json()
    except ValueError:
        return web.json_response({"status": "error", "message": "body is not JSON"}, status=400)
    if body.get("token_auth") != fake.token:
        return web.json_response({"status": "error", "message": "bad token_auth"}, status=400)
    if not isinstance(body.get("requests"), list):
        return web.json_response({"status": "error", "message": "no requests"}, status=400)
    requests = body["requests"]
    valid = [r for r in requests if fake.valid(r)]
    fake.raw_requests.extend(valid)
    fake.bulk_requests += 1
    invalid = len(requests) - len(valid)
    return web.json_response({"status": "success", "tracked": len(valid), "invalid": invalid})


async def _api(request: web.Request) -> web.Response:
    fake: FakeMatomo = request.app[FAKE]
    params = {**request.query, **(await request.post())}
    if params.get("token_auth") != fake.token:
        return web.json_response({"result": "error", "message": "bad token_auth"})
    method = params.get("method", "")
    if method == "SitesManager.getSiteFromId":
        site = str(params.get("idSite", ""))
        return web.json_response(
            {
                "idsite": site,
                "name": f"site {site}",
                "timezone": "UTC",
                "main_url": fake.main_url(site),
            }
        )
    if method == "VisitsSummary.get":
        figures = visits_summary(fake.hits, str(params.get("idSite")), str(params.get("date")))
        return web.json_response(figures)
    if method == "CoreAdminHome.invalidateArchivedReports":
        fake.invalidations.append((str(params.get("idSites")), str(params.get("dates"))))
        return web.json_response({"result": "success", "message": "invalidated"})
    return web.json_response({"result": "error", "message": f"unknown method {method}"})


async def _faults(request: web.Request) -> web.Response:
    fake: FakeMatomo = request.app[FAKE]
    body = await request.json()
    for name in ("fail_next", "fail_after", "delay_s", "hang_after"):
        if name in body:
            setattr(fake, name, body[name])
    return web.json_response({"ok": True})


async def _recorded(request: web.Request) -> web.Response:
    return web.json_response({"hits": request.app[FAKE].hits})


async def _count(request: web.Request) -> web.Response:
    fake = request.app[FAKE]
    return web.json_response({"hits": len(fake.raw_requests), "bulk_requests": fake.bulk_requests})


async def _reset(request: web.Request) -> web.Response:
    fake = request.app[FAKE]
    fake.raw_requests.clear()
    fake.invalidations.clear()
    fake.bulk_requests = 0
    return web.json_response({"ok": True})


async def _index(request: web.Request) -> web.Response:
    return web.Response(text="fake matomo\n")


def create_app(fake: FakeMatomo) -> web.Application:
    """The fake's aiohttp app over ``fake``'s state."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[FAKE] = fake
    app.router.add_get("/", _index)
    app.router.add_post("/", _api)  # where import_logs.py sends its API calls
    app.router.add_post("/matomo.php", _bulk)
    app.router.add_post("/piwik.php", _bulk)
    app.router.add_route("*", "/index.php", _api)
    app.router.add_post("/_fake/faults", _faults)
    app.router.add_get("/_fake/hits", _recorded)
    app.router.add_get("/_fake/count", _count)
    app.router.add_post("/_fake/reset", _reset)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake Matomo (bulk tracking + reporting).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--token", required=True, help="the token_auth to accept")
    parser.add_argument(
        "--main-url",
        action="append",
        default=[],
        metavar="IDSITE=URL",
        help="a site's main URL (SitesManager.getSiteFromId); repeatable",
    )
    args = parser.parse_args(argv)
    main_urls = dict(item.split("=", 1) for item in args.main_url)
    fake = FakeMatomo(args.token, main_urls=main_urls)
    web.run_app(create_app(fake), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
