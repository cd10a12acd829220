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
