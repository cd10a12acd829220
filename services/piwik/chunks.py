"""One chunk of a file's lines -> what the import needs from it, per log day (the day of
each line's own time in the site's timezone): line, bad-line, skipped and hit counts,
the tracking requests of the days being imported (split by visitor over the
recorders) and their ``web_hits`` rows as COPY text. Pure, so chunks can run in worker
processes; only strings, bytes and numbers come back. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from services.piwik.formats import DIRECTIVE, FormatSpec, line_parser
from services.piwik.hits import SAMPLE_LIMIT, sample
from services.piwik.tracking import SKIP_REASONS, ImportOptions, RequestBuilder, visitor_key

__all__ = ["ChunkPlan", "DayPart", "ChunkResult", "process_chunk", "copy_escape", "warm_up"]


@dataclass(frozen=True)
class ChunkPlan:
    """What every chunk of one file is processed with."""

    log_format: FormatSpec  # resolved
    options: ImportOptions
    id_site: int
    main_url: str
    timezone: str
    site: str  # web_hits.site
    source: str  # web_hits.s3_key: the S3 key or local path
    days: frozenset[int] | None  # the days (ordinals) being imported; None: every day
    skip_days: frozenset[int] = frozenset()  # imported before: counted only
    recorders: dict[int, int] = field(default_factory=dict)  # a resumed day's recorders
    default_recorders: int = 4
    dry_run: bool = False  # count and classify only: no requests, no web_hits rows

    def sends(self, day: int) -> int:
        """How many recorders the day's requests go to; 0: the day is not sent."""
        if day in self.skip_days or (self.days is not None and day not in self.days):
            return 0
        return self.recorders.get(day, self.default_recorders)


@dataclass
class DayPart:
    """A chunk's (or, merged, a file's) figures for one log day."""

    lines: int = 0
    bad_lines: int = 0
    samples: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    hits: int = 0
    first: datetime | None = None
    last: datetime | None = None
    requests: list[list[str]] = field(default_factory=list)  # per recorder, in file order
    rows: list[bytes] = field(default_factory=list)  # web_hits COPY text

    def __getstate__(self) -> dict:
        # Between processes each recorder's requests travel as one string (they are
        # form-encoded: no line breaks), a copy instead of a pickled object per request.
        state = dict(self.__dict__)
        state["requests"] = [("\n".join(r), len(r)) for r in self.requests]
        return state

    def __setstate__(self, state: dict) -> None:
        state["requests"] = [text.split("\n") if n else [] for text, n in state["requests"]]
        self.__dict__.update(state)

    def bad(self, line_no: int, line: str) -> None:
        self.lines += 1
        self.bad_lines += 1
        if len(self.samples) < SAMPLE_LIMIT:
            self.samples.append(sample(line_no, line))

    def merge(self, other: DayPart) -> None:
        """Add ``other``, a later part of the same day."""
        self.lines += other.lines
        self.bad_lines += other.bad_lines
        self.samples.extend(other.samples[: max(0, SAMPLE_LIMIT - len(self.samples))])
        for reason, count in other.skipped.items():
            self.skipped[reason] += count
        self.hits += other.hits
        if other.first is not None and (self.first is None or other.first < self.first):
            self.first = other.first
        if other.last is not None and (self.last is None or other.last > self.last):
            self.last = other.last
        if other.requests:  # (a lead part of lines without hits has none)
            if not self.requests:
                self.requests = [[] for _ in other.requests]
            for mine, theirs in zip(self.requests, other.requests, strict=True):
                mine.extend(theirs)
        self.rows.extend(other.rows)


@dataclass
class ChunkResult:
    """Per day parts, the lines before the chunk's first hit (``lead``: they belong to
    the day of the line before the chunk), and the day of its last hit."""

    days: dict[int, DayPart] = field(default_factory=dict)
    lead: DayPart = field(default_factory=DayPart)
    last_day: int | None = None


_COPY_SPECIALS = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": ""})


def copy_escape(text: str) -> str:
    """A value for COPY's text format (NUL, which Postgres text cannot hold, dropped)."""
    return text.translate(_COPY_SPECIALS)


def _needs_escape(row: str) -> bool:
    return "\\" in row or row.count("\t") != 11 or "\n" in row or "\r" in row or "\x00" in row


class _Rows:
    """``web_hits`` rows of one file as COPY text lines."""

    def __init__(self, site: str, source: str) -> None:
        self._site = copy_escape(site)
        self._source = copy_escape(source)
        self._statuses: dict[str, str] = {}

    def row(
        self,
        time_text: str,
        ip: str,
        method: str,
        path: str,
        query: str,
        status: str,
        length: int,
        referrer: str,
        user_agent: str,
        key: str,
        line_no: int,
    ) -> str:
        """One hit's row (text format, no line end)."""
        status_text = self._statuses.get(status)
        if status_text is None:
            ok = status.isdigit() and status.isascii() and len(status) < 10
            status_text = self._statuses[status] = status if ok else "\\N"
        if query:
            path = f"{path}?{query}"
        row = (
            f"{self._site}\t{time_text}\t{ip}\t{method}\t{path}\t{status_text}\t{length}"
            f"\t{referrer}\t{user_agent}\t{key}\t{self._source}\t{line_no}"
        )
        if _needs_escape(row):
            ip, method, path, referrer, user_agent = (
                copy_escape(t) for t in (ip, method, path, referrer, user_agent)
            )
            row = (
                f"{self._site}\t{time_text}\t{ip}\t{method}\t{path}\t{status_text}\t{length}"
                f"\t{referrer}\t{user_agent}\t{key}\t{self._source}\t{line_no}"
            )
        return row


_builders: dict[tuple, RequestBuilder] = {}


def _builder(plan: ChunkPlan) -> RequestBuilder:
    """One builder (and its caches) per site and options in each process."""
    key = (plan.id_site, plan.main_url, plan.options)
    if key not in _builders:
        _builders.clear()
        _builders[key] = RequestBuilder(plan.id_site, plan.main_url, plan.options)
    return _builders[key]


def _add(
    part: DayPart, lines: int, hits: int, first: datetime | None, last: datetime | None
) -> None:
    part.lines += lines
    part.hits += hits
    if first is not None and (part.first is None or first < part.first):
        part.first = first
    if last is not None and (part.last is None or last > part.last):
        part.last = last


def process_chunk(
    plan: ChunkPlan, lines: list[str], first_line_no: int, fields_line: str | None = None
) -> ChunkResult:
    """Process ``lines`` (numbered from ``first_line_no``; W3C: with the ``#Fields:``
    line in force before them)."""
    parse = line_parser(plan.log_format, fields_line).parse
    builder = _builder(plan)
    build, skip_reason = builder.build, builder.skip_reason
    row = _Rows(plan.site, plan.source).row
    dry_run = plan.dry_run
    zone = ZoneInfo(plan.timezone)
    moments: dict[datetime, tuple[int, str]] = {}  # UTC time -> (local day, COPY text)
    visitors: dict[tuple[str, str], tuple[str, int]] = {}  # -> key, as a number
    texts: dict[int, list[str]] = {}  # day -> COPY lines
    result = ChunkResult()
    days = result.days
    # The current day's part and, kept in locals until the day changes (logs are in time
    # order, so rarely), its line and hit counts, first and last hit.
    part = result.lead
    day = None
    counted = hits = 0
    first = last = None
    requests: list[list[str]] = []
    day_texts: list[str] = []

    for line_no, line in enumerate(lines, first_line_no):
        if not line or line.isspace():
            counted += 1
            continue
        hit = parse(line, line_no)
        if hit is None:
            part.bad(line_no, line)
            continue
        if hit is DIRECTIVE:
            counted += 1
            continue
        (moment, ip, method, host, path, query, status, length, referrer, agent, userid,
         generation, event, line_no) = hit  # fmt: skip
        known = moments.get(moment)
        if known is None:
            text = (
                f"{moment:%Y-%m-%d %H:%M:%S.%f}"
                if moment.microsecond
                else f"{moment:%Y-%m-%d %H:%M:%S}"
            )
            known = moments[moment] = (moment.astimezone(zone).toordinal(), text + "+00")
        if known[0] != day:
            _add(part, counted, hits, first, last)
            day = result.last_day = known[0]
            counted = hits = 0
            first = last = None
            part = days.get(day)  # type: ignore[assignment]
            if part is None:
                part = days[day] = DayPart()
                recorders = plan.sends(day)
                if recorders:
                    part.requests = [[] for _ in range(recorders)]
                    texts[day] = []
            requests = part.requests
            day_texts = texts.get(day, [])
        counted += 1
        if not requests:
            continue
        if dry_run:
            skip = skip_reason(host, path, query, status, agent)
            if skip is None:
                hits += 1
            else:
                part.skipped[skip] += 1
            continue
        request, skip = build(
            moment, ip, method, host, path, query, status, length, referrer, agent, userid,
            generation, event,
        )  # fmt: skip
        if request is None:
            part.skipped[skip] += 1  # type: ignore[index]
            continue
        hits += 1
        if first is None or moment < first:
            first = moment
        if last is None or moment > last:
            last = moment
        visitor = visitors.get((ip, agent))
        if visitor is None:
            key = visitor_key(ip, agent)
            visitor = visitors[(ip, agent)] = (key, int(key, 16))
        requests[visitor[1] % len(requests)].append(request)
        day_texts.append(
            row(known[1], ip, method, path, query, status, length, referrer, agent,
                visitor[0], line_no)
        )  # fmt: skip
    _add(part, counted, hits, first, last)
    for day, day_texts in texts.items():
        if day_texts:
            days[day].rows = ["\n".join(day_texts).encode() + b"\n"]
    return result


def warm_up() -> bool:
    """Run in each new worker process so that it starts (and imports this) before the
    first chunk arrives."""
    return True
