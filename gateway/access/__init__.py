"""Access decisions at the gateway: decided locally and offline from a credential cache central keeps in sync."""
from gateway.access.cache import AccessCache
from gateway.access.decide import CacheView, OfflineMode, OfflinePolicy, decide, decide_pass, schedule_allows
from gateway.access.errors import (
    AccessCacheError,
    CacheStorageError,
    ChecksumMismatch,
    RecordError,
    SyncRefused,
    VersionMismatch,
)
from gateway.access.index import AccessIndex
from estatelink.access_model import (
    REASONS,
    AntiPassback,
    Credential,
    CredentialState,
    Decision,
    Direction,
    Door,
    DoorGroup,
    HolderKind,
    Passage,
    Reason,
    Schedule,
    VisitorPass,
)

__all__ = [
    "REASONS", "AccessCache", "AccessCacheError", "AccessIndex", "AntiPassback", "CacheStorageError", "CacheView",
    "ChecksumMismatch", "Credential", "CredentialState", "Decision", "Direction", "Door", "DoorGroup",
    "HolderKind", "OfflineMode", "OfflinePolicy", "Passage", "Reason", "RecordError", "Schedule", "SyncRefused",
    "VersionMismatch", "VisitorPass", "decide", "decide_pass", "schedule_allows",
]
