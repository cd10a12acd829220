"""S3 helpers against moto: multipart upload of large parts, prefix cleanup."""

from __future__ import annotations

import os

from services.sync.runner import SyncClients
from services.sync.s3 import delete_prefix, get_bytes, put_bytes

BUCKET = "forklift-sync-tests"


async def test_large_part_goes_up_in_chunks_and_comes_back_equal(
    clients: SyncClients, prefix: str
) -> None:
    data = os.urandom(11 * 1024 * 1024)
    key = f"{prefix}/big/part-00000.csv.gz"
    await put_bytes(clients.s3, BUCKET, key, data, chunk_bytes=5 * 1024 * 1024)
    head = await clients.s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload of three chunks
    assert await get_bytes(clients.s3, BUCKET, key) == data
    await put_bytes(clients.s3, BUCKET, f"{prefix}/big/small", b"x", chunk_bytes=5 * 1024 * 1024)
    assert await delete_prefix(clients.s3, BUCKET, f"{prefix}/big/") == 2
    listed = await clients.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/")
    assert listed.get("KeyCount", 0) == 0
