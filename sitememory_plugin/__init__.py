"""sitememory-plugin: a shared, durable memory of websites for browser agents."""

from ._core.errors import LockTimeout, SiteMemoryError, StoreFormatError, VersionTooNew
from ._core.keys import site_key
from ._core.legacy import ImportResult
from ._core.locks import ReadWriteLock
from ._core.models import ActionPattern, CandidateStats, Quirk, Selector, SiteProfile
from ._core.store import StoreStats
from ._memory import SiteMemory, default_storage_path

__version__ = "0.1.0"

__all__ = [
    "ActionPattern",
    "CandidateStats",
    "ImportResult",
    "LockTimeout",
    "Quirk",
    "ReadWriteLock",
    "Selector",
    "SiteMemory",
    "SiteMemoryError",
    "SiteProfile",
    "StoreFormatError",
    "StoreStats",
    "VersionTooNew",
    "__version__",
    "default_storage_path",
    "site_key",
]
