"""Hits -> Matomo tracking requests, as Matomo's own ``import_logs.py`` builds them
(``--enable-http-errors --enable-http-redirects --enable-static --enable-bots``), the
visitor partitioning that keeps each visitor's hits in order, and batching. No I/O."""

from __future__ import annotations

import functools
import zlib
from datetime import date, datetime, time, timedelta
from urllib.parse import quote, quote_plus
from zoneinfo import ZoneInfo

from services.piwik.hits import Hit

__all__ = [
    "URL_MAX_CHARS",
    "tracking_request",
    "visitor_key",
    "partition",
    "batches",
    "day_bounds_utc",
    "is_download",
    "is_bot",
]

URL_MAX_CHARS = 1024
DOWNLOAD_EXTENSIONS = frozenset(
    "7z aac arc arj asf asx avi bin csv dmg doc docx epub exe flv gz gzip hqx jar mp2 mp3 "
    "mp4 mpeg mpg mov msi ogg pdf ppt pptx qt ra ram rar rpm sea sit tar tgz torrent wav "
    "webm wma wmv xls xlsx xml z zip".split()
)
BOT_MARKERS = ("bot", "crawl", "spider", "slurp", "curl/", "wget/", "python-requests", "monitor")


def _extension(path: str) -> str:
    name = path.partition("?")[0].rpartition("/")[2]
    return name.rpartition(".")[2].lower() if "." in name else ""


def is_download(path: str) -> bool:
    """A file Matomo tracks as a download (by extension, like import_logs.py)."""
    return _extension(path) in DOWNLOAD_EXTENSIONS


@functools.lru_cache(maxsize=4096)
def is_bot(user_agent: str) -> bool:
    """A crawler or script, tracked with ``bots=1``."""
    ua = user_agent.lower()
    return any(marker in ua for marker in BOT_MARKERS)


def visitor_key(hit: Hit) -> str:
    """The visitor a hit belongs to (ip + user agent), stable across runs and processes."""
    return f"{zlib.crc32(hit.user_agent.encode(), zlib.crc32(hit.ip.encode())):08x}"


_quoted: dict[str, str] = {}
_QUOTE_CACHE_MAX = 200_000


def _q(value: str) -> str:
    """``value`` form-encoded; cached, as logs repeat user agents, URLs and referrers."""
    quoted = _quoted.get(value)
    if quoted is None:
        if len(_quoted) >= _QUOTE_CACHE_MAX:
            _quoted.clear()
        quoted = _quoted[value] = quote_plus(value, safe="")
    return quoted


def tracking_request(hit: Hit, id_site: int, scheme: str, default_host: str) -> str:
    """One bulk-API request (``?rec=1&...``) for ``hit``, parameters as import_logs.py
    sends them: rec, apiv, idsite, url, urlref, cip, ua, cdt (UTC), dp, and download,
    bots and action_name when they apply."""
    url = f"{scheme}://{hit.host or default_host}{hit.path}"[:URL_MAX_CHARS]
    t = hit.time
    request = (
        f"?rec=1&apiv=1&idsite={id_site}&url={_q(url)}&urlref={_q(hit.referrer[:URL_MAX_CHARS])}"
        f"&cip={_q(hit.ip)}&ua={_q(hit.user_agent)}"
        f"&cdt={t.year:04d}-{t.month:02d}-{t.day:02d}+{t.hour:02d}%3A{t.minute:02d}%3A{t.second:02d}"
        "&dp=1"
    )
    if is_download(hit.path):
        request += f"&download={_q(url)}"
    if is_bot(hit.user_agent):
        request += "&bots=1"
    status = hit.status
    if status >= 400 or (300 <= status < 400 and status != 304):
        name = f"{status}/URL = {quote(url, safe='')}"
        if hit.referrer:
            name += f"/From = {quote(hit.referrer, safe='')}"
        request += f"&action_name={_q(name)}"
    return request


def partition(keys: list[str], parts: int) -> list[list[int]]:
    """Hit indexes split into ``parts`` lists by visitor key, each in file order."""
    out: list[list[int]] = [[] for _ in range(parts)]
    for index, key in enumerate(keys):
        out[int(key, 16) % parts].append(index)
    return out


def batches(indexes: list[int], size: int) -> list[list[int]]:
    """``indexes`` in consecutive batches of at most ``size``."""
    return [indexes[i : i + size] for i in range(0, len(indexes), size)]


def day_bounds_utc(day: date, timezone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where ``day`` starts and the next day starts in ``timezone``."""
    start = datetime.combine(day, time(), timezone)
    end = datetime.combine(day + timedelta(days=1), time(), timezone)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))
