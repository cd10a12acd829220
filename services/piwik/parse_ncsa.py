"""Text access logs read with a regular expression: NCSA common and combined (Apache,
nginx), optionally prefixed with the virtual host, and their relatives (Icecast, OVH,
Gandi, S3 server access logs, AWS ELB/ALB, HAProxy). Common and combined lines, by far
the most frequent, are split on quotes and spaces instead when they are plainly laid
out; anything unusual goes to the expression. No I/O."""

from __future__ import annotations

import re
from datetime import datetime

from services.piwik.dates import NCSA_DATE, DateParser, to_utc, tz_offset
from services.piwik.hits import Hit
from services.piwik.parse_regex import RegexFormat

__all__ = ["TEXT_FORMATS", "NcsaFormat"]

# Apache: %h %l %u %t "%r" %>s %b ["%{Referer}i" "%{User-agent}i"]
_CLIENT = r"(?P<ip>[\w*.:-]+)\s+\S+\s+(?P<userid>\S+)"
_TIME = r"\[(?P<date>.*?)\s+(?P<timezone>.*?)\]"
_REQUEST = r'"(?P<method>\S+)\s+(?P<path>.*?)\s+\S+"'
_STATUS_LENGTH = r"(?P<status>\d+)\s+(?P<length>\S+)"
# Quoted fields as Apache writes them: `"` and `\` inside escaped with a backslash.
_QUOTED = r'(?:[^"\\]|\\.)*'
_REFERRER_AGENT = rf'"(?P<referrer>{_QUOTED})"\s+"(?P<user_agent>{_QUOTED})"'
_VHOST = r"(?P<host>[\w\-.]*)(?::\d+)?\s+"

COMMON = rf"{_CLIENT}\s+{_TIME}\s+{_REQUEST}\s+{_STATUS_LENGTH}"
COMBINED = rf"{COMMON}\s+{_REFERRER_AGENT}"

_PATTERNS: dict[str, str] = {
    "common": COMMON,
    "vhost_common": _VHOST + COMMON,
    "combined": COMBINED,
    "vhost_combined": _VHOST + COMBINED,
    # Icecast: combined + seconds connected
    "icecast2": rf"{COMBINED}\s+(?P<session_time>[0-9-]+)",
    # OVH: ip host user [time] "request" status bytes "referrer" "user agent"
    "ovh": (
        rf"(?P<ip>\S+)\s+{_VHOST}(?P<userid>\S+)\s+{_TIME}\s+"
        rf'"\S+\s+(?P<path>.*?)\s+\S+"\s+(?P<status>\S+)\s+(?P<length>\S+)\s+{_REFERRER_AGENT}'
    ),
    # Gandi simple hosting: host ip - user [time] (time taken) "request" status bytes ...
    "gandi": (
        r"(?P<host>[\w.-]+)\s+(?P<ip>[\w.:]+)\s+\S+\s+(?P<userid>\S+)\s+"
        r"\[(?P<date>.+?)\s+(?P<timezone>.+?)\]\s+\((?P<generation_time_secs>[^)]*)\)\s+"
        r'"(?P<method>[A-Z]+)\s+(?P<path>\S+)\s+\S+"\s+(?P<status>\d+)\s+(?P<length>\S+)\s+'
        r'"(?P<referrer>\S+)"\s+"(?P<user_agent>[^"]+)"'
    ),
    # S3 server access log: owner bucket [time] ip requester request-id operation key
    # "request" status error bytes-sent object-size total-time turn-around "referrer" "ua" ...
    "s3": (
        rf"\S+\s+(?P<host>\S+)\s+{_TIME}\s+(?P<ip>[\w*.:-]+)\s+(?P<userid>\S+)\s+\S+\s+\S+\s+\S+\s+"
        rf"{_REQUEST}\s+(?P<status>\d+)\s+\S+\s+(?P<length>\S+)\s+\S+\s+\S+\s+\S+\s+{_REFERRER_AGENT}"
    ),
    # ELB (classic): time elb client:port backend:port request-time backend-time
    # response-time elb-status backend-status received sent "request" "ua" cipher protocol;
    # ALB: the same after a leading type field.
    "elb": (
        r"(?:\S+\s+)?(?P<date>[0-9-]+T[0-9:]+)\.\S+\s+\S+\s+(?P<ip>[\w*.:-]+):\d+\s+\S+:\d+\s+"
        r"\S+\s+(?P<generation_time_secs>\S+)\s+\S+\s+(?P<status>\d+)\s+\S+\s+\S+\s+(?P<length>\S+)\s+"
        r'"(?P<method>\S+)\s+\w+://(?P<host>[\w\-.]*):\d+(?P<path>/\S*)\s+[^"]+"\s+'
        r'"(?P<user_agent>[^"]+)"\s+\S+\s+\S+'
    ),
    # HAProxy HTTP log (after the syslog header): client:port [accept date] frontend
    # backend/server timers status bytes ... "request"
    "haproxy": (
        r".*?:\s+(?P<ip>[\w*.:-]+):\d+\s+\[(?P<date>[^\]]+)\]\s+\S+\s+\S+\s+\S+\s+"
        r'(?P<status>\d{3})\s+(?P<length>\d+)\s+.*"(?P<method>\S+)\s+(?P<path>\S+)'
    ),
}
_DATE_FORMATS = {"elb": "%Y-%m-%dT%H:%M:%S", "haproxy": "%d/%b/%Y:%H:%M:%S.%f"}
# How many fields each format reads, as import_logs.py's detection counts them: a line
# that several formats read is taken to be in the one that reads the most.
DETECTION_FIELDS = {
    "common": 8,
    "vhost_common": 9,
    "combined": 10,
    "vhost_combined": 11,
    "s3": 11,
    "icecast2": 11,
    "elb": 8,
    "haproxy": 6,
    "gandi": 13,
    "ovh": 0,  # never detected: it looks like combined with a host in the ident field
}
_new_hit = tuple.__new__  # a Hit without NamedTuple's keyword handling (the hot path)

# The fast path's lines: the fields separated by single spaces, none holding a blank or a
# quote but the referrer and user agent, which hold no quote and do not end with a
# backslash (it would escape the closing quote, for the expression). Every such line is
# one the expression reads, into the same fields.
_FIELD = r'[^\s"]+'
_FAST_VHOST = r"(?=\S)([A-Za-z0-9._-]*)(?::[0-9]+)? "
_FAST_COMMON = (
    rf'([0-9a-fA-F.:]+) {_FIELD} ({_FIELD}) \[([^\s"\]]+ [^\s"\]]+)\] '
    rf'"({_FIELD}) ({_FIELD}) {_FIELD}" (\d+) ({_FIELD})'
)
_FAST_QUOTED = r'"([^"]*)(?<!\\)"'
_FAST_TAIL = {False: r'(?:\s[^"]*)?', True: rf' {_FAST_QUOTED} {_FAST_QUOTED}[^"]*'}


class NcsaFormat(RegexFormat):
    """Common / combined, with or without the virtual host: a fast path for plainly laid
    out lines (the expression decides every other line, so both read a line alike)."""

    def __init__(self, name: str, vhost: bool, combined: bool) -> None:
        super().__init__(name, _PATTERNS[name], NCSA_DATE)
        self._vhost = vhost
        self._combined = combined
        fast = (_FAST_VHOST if vhost else "") + _FAST_COMMON + _FAST_TAIL[combined]
        self._plain = re.compile(fast).fullmatch
        self._stamps: dict[str, datetime] = {}
        self._ncsa = DateParser(NCSA_DATE)

    def parse(self, line: str, line_no: int) -> Hit | None:
        hit = self._fast(line, line_no)
        return hit if hit is not None else super().parse(line, line_no)

    def _fast(self, line: str, line_no: int) -> Hit | None:
        """Hit of a plainly laid out line, or None to let the expression decide."""
        match = self._plain(line)
        if match is None:
            return None
        fields = match.groups()
        host = None
        if self._vhost:
            host = fields[0].lower().strip(".")
            fields = fields[1:]
        if self._combined:
            ip, user, when, method, target, status, length, referrer, agent = fields
            if referrer == "-":
                referrer = ""
        else:
            ip, user, when, method, target, status, length = fields
            referrer = agent = ""
        stamp = self._stamps.get(when)
        if stamp is None:
            date, _, zone = when.partition(" ")
            try:
                stamp = to_utc(self._ncsa.parse(date), tz_offset(zone))
            except ValueError:
                return None
            if len(self._stamps) >= 100_000:
                self._stamps.clear()
            self._stamps[when] = stamp
        path, _, query = target.partition("?")
        try:
            size = int(length)
        except ValueError:
            size = 0
        return _new_hit(
            Hit,
            (
                stamp,
                ip,
                method,
                host,
                path,
                query,
                status,
                size,
                referrer,
                agent,
                None if user == "-" else user,
                0.0,
                None,
                line_no,
            ),
        )


TEXT_FORMATS: dict[str, RegexFormat] = {
    "common": NcsaFormat("common", vhost=False, combined=False),
    "vhost_common": NcsaFormat("vhost_common", vhost=True, combined=False),
    "combined": NcsaFormat("combined", vhost=False, combined=True),
    "vhost_combined": NcsaFormat("vhost_combined", vhost=True, combined=True),
    **{
        name: RegexFormat(name, pattern, _DATE_FORMATS.get(name, NCSA_DATE))
        for name, pattern in _PATTERNS.items()
        if name not in ("common", "vhost_common", "combined", "vhost_combined")
    },
}
