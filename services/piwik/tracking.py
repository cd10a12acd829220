"""Hits -> Matomo tracking requests, parameter for parameter as Matomo's ``import_logs.py``
builds them (see docs/piwik.md for the few deliberate differences): which hits are
downloads or bots, which are dropped under a site's options, the request text, the
visitor partitioning that keeps each visitor's hits in order, and batching. No I/O."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import quote, quote_plus, urlsplit
from zoneinfo import ZoneInfo

from services.piwik.dates import cdt_text
from services.piwik.hits import Event, Hit

__all__ = [
    "URL_MAX_CHARS",
    "STATIC_EXTENSIONS",
    "STATIC_FILES",
    "DOWNLOAD_EXTENSIONS",
    "BOT_MARKERS",
    "SKIP_REASONS",
    "ImportOptions",
    "RequestBuilder",
    "is_bot",
    "extension",
    "visitor_key",
    "day_bounds_utc",
]

# import_logs.py caps the path (and query) and the referrer at this many characters.
URL_MAX_CHARS = 1024
STATIC_EXTENSIONS = frozenset(
    "gif jpg jpeg png bmp ico svg svgz ttf otf eot woff woff2 class swf css js xml webp".split()
)
STATIC_FILES = frozenset({"robots.txt"})
DOWNLOAD_EXTENSIONS = frozenset(
    "7z aac arc arj asf asx avi bin csv deb dmg doc docx exe flac flv gz gzip hqx ibooks jar "
    "json mpg mp2 mp3 mp4 mpeg mov movie msi msp odb odf odg odp ods odt ogg ogv pdf phps "
    "ppt pptx qt qtm ra ram rar rpm rtf sea sit tar tbz bz2 tgz torrent txt wav webm wma "
    "wmv wpd xls xlsx xml xsd z zip azw3 epub mobi apk md5 sig".split()
)
# Lower-case pieces of user agents that import_logs.py takes for bots.
BOT_MARKERS = (
    "adsbot-google",
    "ask jeeves",
    "baidubot",
    "bot-",
    "bot/",
    "ccooter/",
    "crawl",
    "curl",
    "echoping",
    "exabot",
    "feed",
    "googlebot",
    "ia_archiver",
    "java/",
    "libwww",
    "mediapartners-google",
    "msnbot",
    "netcraftsurvey",
    "panopta",
    "pingdom.com_bot_",
    "robot",
    "spider",
    "surveybot",
    "twiceler",
    "voilabot",
    "yahoo",
    "yandex",
    "zabbix",
    "googlestackdrivermonitoring",
)
# Why a parsed hit is not sent (with the option off), in the order import_logs.py checks.
SKIP_REASONS = ("http_errors", "http_redirects", "static", "bots")


@dataclass(frozen=True)
class ImportOptions:
    """What a site sends, as import_logs.py's ``--enable-*`` options: all on by default
    (the old importer ran with all four). Off, those hits are dropped and counted."""

    static: bool = True  # static files (css, js, images, robots.txt) sent as downloads
    bots: bool = True  # bots' hits sent; every hit then carries bots=1
    http_errors: bool = True  # 4xx and 5xx sent
    http_redirects: bool = True  # 3xx except 304 sent


def extension(path: str) -> str:
    """What import_logs.py takes for a path's extension: what follows its last dot (the
    whole path when there is none), lower-cased."""
    return path.rpartition(".")[2].lower()


_bots: dict[str, bool] = {}


def is_bot(user_agent: str) -> bool:
    """Whether import_logs.py takes ``user_agent`` for a bot."""
    known = _bots.get(user_agent)
    if known is None:
        lower = user_agent.lower()
        known = any(marker in lower for marker in BOT_MARKERS)
        if len(_bots) >= 100_000:
            _bots.clear()
        _bots[user_agent] = known
    return known


_quoted: dict[str, str] = {}


def _q(value: str) -> str:
    """``value`` form-encoded; cached, as logs repeat user agents, URLs and referrers."""
    quoted = _quoted.get(value)
    if quoted is None:
        if len(_quoted) >= 200_000:
            _quoted.clear()
        quoted = _quoted[value] = quote_plus(value, safe="")
    return quoted


def _custom_variable(name: str, value: str) -> str:
    """A one-variable ``cvar``/``_cvar`` value, as import_logs.py writes it (json.dumps)."""
    return _q(json.dumps({"1": [name, value]}))


class RequestBuilder:
    """Builds the bulk-API requests (``?rec=1&...``) of one site's hits. Logs repeat
    paths, statuses, user agents and seconds, so what is derived from each (kind,
    quoting, custom variables) is worked out once and kept."""

    def __init__(self, id_site: int, main_url: str, options: ImportOptions) -> None:
        self.main_url = main_url
        self.scheme = urlsplit(main_url).scheme or "http"
        self.options = options
        self._head = f"?rec=1&apiv=1&idsite={id_site}&url="
        # (host, path and query) -> (URL, its quoted form, "&download=..." or "", skip)
        self._urls: dict[tuple[str | None, str, str], tuple[str, str, str, str | None]] = {}
        # status -> (skip reason, "&cvar=...", error or redirect)
        self._statuses: dict[str, tuple[str | None, str, bool]] = {}
        # user agent -> (skip reason, "&ua=..." and with bots on "&_cvar=...&bots=1")
        self._agents: dict[str, tuple[str | None, str]] = {}
        self._times: dict[datetime, str] = {}

    def url(self, host: str | None, path: str, query: str) -> str:
        """The tracked URL: the log's host (or the site's main URL) + path + query, the
        path and query capped at 1024 characters; an absolute URI in the request is kept
        as it is."""
        full_path = f"{path}?{query}" if query else path
        if not full_path.startswith("/"):
            return full_path[:URL_MAX_CHARS]
        prefix = f"{self.scheme}://{host}" if host and host != "-" else self.main_url
        return prefix + full_path[:URL_MAX_CHARS]

    def _url(self, host: str | None, path: str, query: str) -> tuple[str, str, str, str | None]:
        url = self.url(host, path, query)
        ext = extension(path)
        download = ext in DOWNLOAD_EXTENSIONS
        skip = None
        if ext in STATIC_EXTENSIONS or path.rpartition("/")[2] in STATIC_FILES:
            download = True
            if not self.options.static:
                skip = "static"
        url_q = _q(url)
        known = (url, url_q, f"&download={url_q}" if download else "", skip)
        if len(self._urls) >= 100_000:
            self._urls.clear()
        self._urls[(host, path, query)] = known
        return known

    def _status(self, status: str) -> tuple[str | None, str, bool]:
        error = status[0] in "45"
        redirect = status[0] == "3" and status != "304"
        skip = None
        if error and not self.options.http_errors:
            skip = "http_errors"
        elif redirect and not self.options.http_redirects:
            skip = "http_redirects"
        known = (skip, f"&cvar={_custom_variable('HTTP-code', status)}", error or redirect)
        self._statuses[status] = known
        return known

    def _agent(self, user_agent: str) -> tuple[str | None, str]:
        bot = is_bot(user_agent)
        text = f"&ua={_q(user_agent)}"
        if self.options.bots:
            visit = _custom_variable("Bot" if bot else "Not-Bot", user_agent)
            known = (None, f"{text}&_cvar={visit}&bots=1")
        else:
            known = ("bots" if bot else None, text)
        if len(self._agents) >= 100_000:
            self._agents.clear()
        self._agents[user_agent] = known
        return known

    def _cdt(self, moment: datetime) -> str:
        if len(self._times) >= 100_000:
            self._times.clear()
        text = self._times[moment] = f"&cdt={_q(cdt_text(moment))}&queuedtracking=0&dp=1"
        return text

    def request(self, hit: Hit) -> tuple[str | None, str | None]:
        """(the request, None), or (None, the reason it is not sent: SKIP_REASONS)."""
        return self.build(*hit[:13])

    def skip_reason(
        self, host: str | None, path: str, query: str, status: str, user_agent: str
    ) -> str | None:
        """Why the hit is not sent (SKIP_REASONS), or None: what :meth:`build` decides,
        without building the request (a dry run counts, it sends nothing)."""
        known = self._statuses.get(status)
        skip = (known if known is not None else self._status(status))[0]
        if skip is None:
            url_known = self._urls.get((host, path, query))
            skip = (url_known if url_known else self._url(host, path, query))[3]
        if skip is None:
            agent = self._agents.get(user_agent)
            skip = (agent if agent is not None else self._agent(user_agent))[0]
        return skip

    @staticmethod
    def _rare(
        url: str,
        status: str,
        referrer: str,
        userid: str | None,
        generation_ms: float,
        event: Event | None,
        flagged: bool,
    ) -> str:
        """uid, action_name (errors and redirects), pf_srv and event parameters."""
        text = f"&uid={_q(userid)}" if userid is not None else ""
        if flagged:
            name = f"{status}/URL = {quote(url, safe='')}"
            if referrer:
                name += f"/From = {quote(referrer, safe='')}"
            text += f"&action_name={_q(name)}"
        if generation_ms > 0:
            text += f"&pf_srv={int(generation_ms)}"
        if event is not None:
            text += f"&e_c={_q(event.category)}&e_a={_q(event.action)}"
            if event.name:
                text += f"&e_n={_q(event.name)}"
        return text

    def build(
        self,
        moment: datetime,
        ip: str,
        method: str,
        host: str | None,
        path: str,
        query: str,
        status: str,
        length: int,
        referrer: str,
        user_agent: str,
        userid: str | None,
        generation_ms: float,
        event: Event | None,
    ) -> tuple[str | None, str | None]:
        """:meth:`request` from a hit's fields (the parsers' fast paths give them so)."""
        # the checks in import_logs.py's order: errors, redirects, static, bots
        known = self._statuses.get(status)
        skip, cvar, flagged = known if known is not None else self._status(status)
        if skip is not None:
            return None, skip
        url_known = self._urls.get((host, path, query))
        url, url_q, download, skip = url_known if url_known else self._url(host, path, query)
        if skip is not None:
            return None, skip
        agent = self._agents.get(user_agent)
        skip, agent_text = agent if agent is not None else self._agent(user_agent)
        if skip is not None:
            return None, skip
        cdt = self._times.get(moment) or self._cdt(moment)
        referrer = referrer[:URL_MAX_CHARS]
        ref_q = _quoted.get(referrer) or _q(referrer)
        ip_q = _quoted.get(ip) or _q(ip)
        tail = f"&bw_bytes={length}" if length else ""  # the rest is rarer: pieces first
        if userid is not None or flagged or generation_ms > 0 or event is not None:
            tail += self._rare(url, status, referrer, userid, generation_ms, event, flagged)
        request = (
            f"{self._head}{url_q}&urlref={ref_q}&cip={ip_q}{cdt}{agent_text}{cvar}{download}{tail}"
        )
        return request, None


def visitor_key(ip: str, user_agent: str) -> str:
    """The visitor a hit belongs to (ip + user agent), stable across runs and processes."""
    return f"{zlib.crc32(user_agent.encode(), zlib.crc32(ip.encode())):08x}"


def day_bounds_utc(day: date, timezone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where ``day`` starts and the next day starts in ``timezone``."""
    start = datetime.combine(day, time(), timezone)
    end = datetime.combine(day + timedelta(days=1), time(), timezone)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))
