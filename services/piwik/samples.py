"""Realistic generated web-server logs (NCSA combined, W3C/IIS) for the demo, tests and
the benchmark: visitors browse a few pages each, with assets, downloads, bots, errors and
redirects. Deterministic for a seed. No I/O."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

__all__ = ["combined_lines", "w3c_lines", "W3C_FIELDS"]

_PAGES = (
    "/",
    "/about",
    "/products",
    "/products/42?ref=home",
    "/blog/2026/energy",
    "/contact",
    "/search?q=solar+panels&page=2",
    "/v1.2/status",
)
_ASSETS = (
    "/static/app.js",
    "/static/site.css",
    "/img/logo.png",
    "/img/hero.jpg",
    "/favicon.ico",
    "/fonts/inter.woff2",
    "/robots.txt",
    "/sitemap.xml",
)
_DOWNLOADS = (
    "/files/report.pdf",
    "/files/data.zip",
    "/api/feed.json",
    "/files/notes.txt",
    "/dl/tool_1.2.deb",
    "/music/track.flac",
    "/app/release.apk",
    "/dl/tool_1.2.deb.sig",
)
_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Feedfetcher-Google; (+http://www.google.com/feedfetcher.html)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "curl/8.4.0",
)
_REFERRERS = ("-", "https://www.google.com/", "https://news.example.net/story?id=7&src=rss")
W3C_FIELDS = (
    "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
    "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status sc-bytes time-taken"
)


def _requests(start: datetime, span_s: int, count: int, seed: int) -> list[tuple]:
    """(time, ip, ua, referrer, method, path, status, bytes), sorted by time."""
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        ua = rng.choice(_AGENTS)
        moment = start + timedelta(seconds=rng.randrange(span_s))
        referrer = rng.choice(_REFERRERS)
        for _ in range(rng.randint(1, 8)):
            roll = rng.random()
            path = rng.choice(_ASSETS if roll < 0.3 else _DOWNLOADS if roll < 0.35 else _PAGES)
            status = (
                500 if roll > 0.99 else 404 if roll > 0.97 else 301 if roll > 0.95 else
                304 if roll > 0.93 else 200
            )  # fmt: skip
            size = 0 if status == 304 else rng.randrange(200, 90000)
            out.append((moment, ip, ua, referrer, "GET", path, status, size))
            referrer = "https://site" + path
            moment += timedelta(seconds=rng.randint(2, 300))
    out = out[:count]
    out.sort(key=lambda r: r[0])
    return out


def combined_lines(start: datetime, span_s: int, count: int, seed: int = 1) -> list[str]:
    """``count`` NCSA combined lines with times in [start, start + span_s) (+ visit tails)."""
    return [
        f'{ip} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "{m} {p} HTTP/1.1" {s} {b or "-"} "{r}" "{ua}"'
        for t, ip, ua, r, m, p, s, b in _requests(start, span_s, count, seed)
    ]


def w3c_lines(start: datetime, span_s: int, count: int, seed: int = 1) -> list[str]:
    """A W3C/IIS log with its directives and ``count`` request lines (times UTC)."""
    lines = [
        "#Software: Microsoft Internet Information Services 10.0",
        "#Version: 1.0",
        f"#Date: {start:%Y-%m-%d %H:%M:%S}",
        f"#Fields: {W3C_FIELDS}",
    ]
    for t, ip, ua, r, m, p, s, b in _requests(start, span_s, count, seed):
        stem, _, query = p.partition("?")
        lines.append(
            f"{t:%Y-%m-%d %H:%M:%S} 10.0.0.1 {m} {stem} {query or '-'} 443 - {ip} "
            f"{ua.replace(' ', '+')} {r} {s} 0 0 {b} 15"
        )
    return lines
