"""The sync service's errors: one base, a subclass per failure a caller handles differently."""

from __future__ import annotations

from shared.errors import ForkliftError

__all__ = [
    "SyncError",
    "UnknownTable",
    "UnmappedType",
    "SchemaMismatch",
    "TableBusy",
    "StorageError",
    "SourceRowTooLarge",
]


class SyncError(ForkliftError):
    """Base of every error the sync service raises on purpose."""


class UnknownTable(SyncError):
    """The user named a table that is not in FORKLIFT_SYNC_TABLES."""

    exit_code = 2


class UnmappedType(SyncError):
    """A source column has a type the warehouse dialect has no mapping for."""

    exit_code = 2


class SchemaMismatch(SyncError):
    """Source and warehouse tables disagree (missing table/column, no primary key...)."""

    exit_code = 2


class TableBusy(SyncError):
    """Another sync of the same table holds its lock."""


class StorageError(SyncError):
    """S3 failed after bounded retries."""


class SourceRowTooLarge(SyncError):
    """A MySQL row's CSV line is longer than the server's max_allowed_packet."""
