"""The log writer: the current hour's files stay open between batches and are closed when the
hour turns; a kept file another writer tore, or someone deleted, is handled like a fresh one."""

import os
import time
from pathlib import Path

import pytest

from services.rainforest import logfiles
from services.rainforest.logfiles import LogWriter
from tests.clock import TODAY

HOUR = TODAY.replace(hour=5)
FILE = f"{HOUR:%Y-%m-%d-%H}/iseif-rainforest-000001-{HOUR:%Y-%m-%d-%H}.jl"
PAST = f"{TODAY:%Y-%m-%d-%H}/iseif-rainforest-000001-{TODAY:%Y-%m-%d-%H}.jl"


def tear(path: Path) -> None:
    with open(path, "ab") as other:
        other.write(b'{"torn')


@pytest.fixture
def at_hour(monkeypatch: pytest.MonkeyPatch) -> list:
    """The writer's clock, pinned to ``HOUR`` (+ minutes: set ``clock[0]``)."""
    clock = [HOUR.timestamp() + 600]
    gmtime = time.gmtime
    monkeypatch.setattr(logfiles.time, "gmtime", lambda *_: gmtime(clock[0]))
    return clock


async def test_current_hour_files_stay_open_until_the_hour_turns(
    tmp_path: Path, at_hour: list
) -> None:
    writer = LogWriter(tmp_path)
    await writer.write([(FILE, "a"), (PAST, "old")])
    await writer.write([(FILE, "b")])
    assert list(writer._kept) == [FILE]  # the past hour's file was opened and closed
    assert (tmp_path / FILE).read_text() == "a\nb\n" and (tmp_path / PAST).read_text() == "old\n"

    tear(tmp_path / FILE)  # another poller wrote and tore a line
    await writer.write([(FILE, "c")])
    assert (tmp_path / FILE).read_text() == 'a\nb\n{"torn\nc\n'
    (tmp_path / FILE).unlink()  # deleted by hand: written anew at the path
    await writer.write([(FILE, "d")])
    assert (tmp_path / FILE).read_text() == "d\n"

    at_hour[0] += 3600  # the hour turns: the kept files are closed
    await writer.write([(PAST, "late")])
    assert writer._kept == {} and (tmp_path / PAST).read_text() == "old\nlate\n"
    await writer.write([(FILE, "e")])  # a line of an hour that ended: not kept
    assert writer._kept == {} and (tmp_path / FILE).read_text() == "d\ne\n"


async def test_torn_kept_file_gets_a_newline_and_close_files_closes(
    tmp_path: Path, at_hour: list
) -> None:
    writer = LogWriter(tmp_path)
    await writer.write([(FILE, "a")])
    tear(tmp_path / FILE)
    await writer.write([(FILE, "b")])
    assert (tmp_path / FILE).read_text() == 'a\n{"torn\nb\n'
    fd = writer._kept[FILE][0]
    writer.close_files()
    with pytest.raises(OSError):
        os.fstat(fd)
    assert writer._kept == {}


@pytest.mark.parametrize(
    ("soft", "sockets", "kept"),
    [(20_000, 1_000, 18_744), (1_024, 1_000, 0), (10**7, 1_000, 65_536)],
)
def test_files_kept_open_leave_the_sockets_their_descriptors(
    monkeypatch: pytest.MonkeyPatch, soft: int, sockets: int, kept: int
) -> None:
    monkeypatch.setattr(logfiles.resource, "getrlimit", lambda _: (soft, soft))
    assert LogWriter(Path("/nonexistent"), sockets=sockets)._kept_limit == kept


async def test_with_no_descriptors_to_spare_every_line_is_still_written(
    tmp_path: Path, at_hour: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logfiles.resource, "getrlimit", lambda _: (512, 512))
    writer = LogWriter(tmp_path, sockets=1_000)
    for batch in (['{"a": 1}'], ['{"a": 2}', '{"a": 3}']):
        await writer.write((FILE, line) for line in batch)
    assert writer._kept == {}
    assert (tmp_path / FILE).read_text() == '{"a": 1}\n{"a": 2}\n{"a": 3}\n'
