"""Log files on the local disk (``forklift piwik import-file``): checking the paths the
user gave, and each file's identity for the ledger (its absolute path and the MD5 of its
bytes, as S3 ETags are for single-part uploads), read in a thread."""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

from services.piwik.errors import BadPath
from services.piwik.s3logs import LogObject

__all__ = ["check_paths", "local_object", "read_local"]


def check_paths(paths: list[str]) -> list[Path]:
    """The paths as absolute file paths; BadPath naming the first that is not a readable
    file."""
    if not paths:
        raise BadPath("no file given")
    checked = []
    for text in paths:
        path = Path(text).expanduser()
        if not path.exists():
            raise BadPath(f"no such file: {text}")
        if path.is_dir():
            raise BadPath(f"{text} is a folder, not a log file")
        if not os.access(path, os.R_OK):
            raise BadPath(f"cannot read {text}: permission denied")
        checked.append(path.resolve())
    return checked


def _describe(path: Path) -> LogObject:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    stat = path.stat()
    return LogObject(
        str(path), digest.hexdigest(), stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)
    )


async def local_object(path: Path) -> LogObject:
    """The file as the ledger knows it: key = absolute path, etag = MD5 of its bytes."""
    try:
        return await asyncio.to_thread(_describe, path)
    except OSError as e:
        raise BadPath(f"cannot read {path}: {e.strerror}") from None


async def read_local(path: str) -> bytes:
    """The file's bytes."""
    try:
        return await asyncio.to_thread(Path(path).read_bytes)
    except OSError as e:
        raise BadPath(f"cannot read {path}: {e.strerror}") from None
