"""The access package's errors: what central sent is unusable (remote), or the cache itself failed (local)."""
from __future__ import annotations

from estatelink.access_records import RecordError

__all__ = ["AccessCacheError", "CacheStorageError", "ChecksumMismatch", "RecordError", "SyncRefused",
           "VersionMismatch"]


class AccessCacheError(Exception):
    """Base of every credential cache error."""


class SyncRefused(AccessCacheError):
    """Central sent something the cache refused to apply; the cache is unchanged."""


class VersionMismatch(SyncRefused):
    """A delta (or a "you are current" note) is for another version than the cache's: ask for a resync."""

    def __init__(self, have: int, got: int) -> None:
        super().__init__(f"the cache is at version {have}, central's message is for version {got}")
        self.have, self.got = have, got


class ChecksumMismatch(SyncRefused):
    """After loading, the records do not hash to the checksum central stated; the load was rolled back."""

    def __init__(self, stated: str, computed: str) -> None:
        super().__init__(f"central stated checksum {stated}, the loaded records hash to {computed}")
        self.stated, self.computed = stated, computed


class CacheStorageError(AccessCacheError):
    """The cache file could not be read or written (disk, corruption); the in-memory index is unchanged."""
