"""Log timestamps -> UTC, read the way Matomo's ``import_logs.py`` reads them: the date
text parsed with a strptime format, then the logged offset (``-0500``, ``+05:30``) taken
off. Busy logs repeat each second many times, so every text is parsed once (cached);
the common layouts skip strptime. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["DateParser", "tz_offset", "cdt_text", "NCSA_DATE", "W3C_DATE", "ISO_DATE"]

NCSA_DATE = "%d/%b/%Y:%H:%M:%S"
W3C_DATE = "%Y-%m-%d %H:%M:%S"
ISO_DATE = "%Y-%m-%dT%H:%M:%S"

_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_CACHE_MAX = 200_000


def _ncsa(text: str) -> datetime | None:
    """``10/Feb/2012:16:42:07`` by position, or None when the text is laid out otherwise."""
    if len(text) != 20 or text[2] != "/" or text[6] != "/" or text[11] != ":":
        return None
    month = _MONTHS.get(text[3:6])
    digits = text[0:2] + text[7:11] + text[12:14] + text[15:17] + text[18:20]
    if month is None or not digits.isdigit() or not digits.isascii():
        return None
    if text[14] != ":" or text[17] != ":":
        return None
    return datetime(
        int(text[7:11]), month, int(text[0:2]), int(text[12:14]), int(text[15:17]), int(text[18:20])
    )


def _ymd(text: str, separator: str) -> datetime | None:
    """``2012-04-01 00:00:13`` (or with ``T``) by position, or None."""
    if len(text) != 19 or text[4] != "-" or text[7] != "-" or text[10] != separator:
        return None
    if text[13] != ":" or text[16] != ":":
        return None
    digits = text[0:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:19]
    if not digits.isdigit() or not digits.isascii():
        return None
    return datetime(
        int(text[0:4]),
        int(text[5:7]),
        int(text[8:10]),
        int(text[11:13]),
        int(text[14:16]),
        int(text[17:19]),
    )


class DateParser:
    """Parses date texts of one strptime ``date_format`` into naive datetimes (ValueError
    when the text does not fit), remembering every text it has seen."""

    def __init__(self, date_format: str) -> None:
        self.date_format = date_format
        self._cache: dict[str, datetime] = {}
        if date_format == NCSA_DATE:
            self._fast = _ncsa
        elif date_format == W3C_DATE:
            self._fast = lambda text: _ymd(text, " ")
        elif date_format == ISO_DATE:
            self._fast = lambda text: _ymd(text, "T")
        else:
            self._fast = lambda text: None

    def parse(self, text: str) -> datetime:
        moment = self._cache.get(text)
        if moment is None:
            try:
                moment = self._fast(text)
            except ValueError:  # digits in place but not a real date (Feb 30): strptime says so
                moment = None
            if moment is None:
                moment = datetime.strptime(text, self.date_format)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[text] = moment
        return moment


_offsets: dict[str, timedelta | None] = {}


def tz_offset(text: str | None) -> timedelta | None:
    """The offset a log writes after its time (``-0500``, ``+05:30``, ``+0000``), read as
    import_logs.py reads it: colons dropped, then ``[+-]HHMM`` as a number (so ``+1`` is
    one minute). None when there is none; ValueError when it is not a number."""
    if not text:
        return None
    offset = _offsets.get(text, False)
    if offset is False:
        digits = text.replace(":", "")
        if not digits:
            return None
        number = int(digits)
        sign = 1 if number >= 0 else -1
        offset = timedelta(hours=abs(number) // 100 * sign, minutes=abs(number) % 100 * sign)
        if len(_offsets) < 10_000:
            _offsets[text] = offset
    return offset  # type: ignore[return-value]


def to_utc(local: datetime, offset: timedelta | None) -> datetime:
    """A naive log time and its offset -> an aware UTC datetime."""
    return (local - offset if offset else local).replace(tzinfo=UTC)


def cdt_text(moment: datetime) -> str:
    """Matomo's ``cdt`` for a UTC time: ``YYYY-MM-DD HH:MM:SS``, with ``.ffffff`` when the log
    gave fractions of a second (as import_logs.py sends them)."""
    text = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    return f"{text}.{moment.microsecond:06d}" if moment.microsecond else text
