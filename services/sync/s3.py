"""The S3 calls sync makes: put (multipart when large), get, delete a prefix.

Retries are botocore's (bounded, see ``shared.aws``); what still fails becomes StorageError
naming the object.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from services.sync.errors import StorageError

__all__ = ["put_bytes", "get_bytes", "delete_prefix", "ensure_bucket"]


@asynccontextmanager
async def _storage(what: str) -> AsyncIterator[None]:
    try:
        yield
    except (BotoCoreError, ClientError, OSError, TimeoutError) as e:
        raise StorageError(f"{what}: {e}") from e


async def put_bytes(s3: Any, bucket: str, key: str, data: bytes, chunk_bytes: int) -> None:
    """Store ``data``; bodies over ``chunk_bytes`` go up as a multipart upload."""
    async with _storage(f"upload s3://{bucket}/{key}"):
        if len(data) <= chunk_bytes:
            await s3.put_object(Bucket=bucket, Key=key, Body=data)
            return
        upload = await s3.create_multipart_upload(Bucket=bucket, Key=key)
        upload_id = upload["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, len(data), chunk_bytes), start=1):
                body = data[start : start + chunk_bytes]
                part = await s3.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
                )
                parts.append({"PartNumber": number, "ETag": part["ETag"]})
            await s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            await s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            raise


async def get_bytes(s3: Any, bucket: str, key: str) -> bytes:
    async with _storage(f"download s3://{bucket}/{key}"):
        response = await s3.get_object(Bucket=bucket, Key=key)
        async with response["Body"] as body:
            return await body.read()


async def delete_prefix(s3: Any, bucket: str, prefix: str) -> int:
    """Delete every object under ``prefix``; returns how many."""
    deleted = 0
    async with _storage(f"clean s3://{bucket}/{prefix}"):
        paginator = s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                await s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
    return deleted


async def ensure_bucket(s3: Any, bucket: str) -> None:
    """Create ``bucket`` unless it exists (demo and tests)."""
    async with _storage(f"create bucket {bucket}"):
        try:
            await s3.head_bucket(Bucket=bucket)
        except ClientError:
            await s3.create_bucket(Bucket=bucket)
