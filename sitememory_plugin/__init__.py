"""sitememory-plugin: a shared, durable memory of websites for browser agents."""

from ._browser import launch_kwargs as chromium_launch_options
from ._builtins.consent import ConsentDetector
from ._builtins.consent_managers import CONSENT_MANAGERS, ConsentManager
from ._builtins.politeness import AutoThrottle
from ._builtins.timeouts import AdaptiveTimeouts
from ._core.errors import (
    BackendUnavailable,
    InvalidInput,
    LockLost,
    LockTimeout,
    NavigationRefused,
    PluginError,
    ReplayFailed,
    SiteMemoryError,
    StoreFormatError,
    UnknownPurpose,
    UnknownTask,
    UnreplayableStep,
    VersionTooNew,
)
from ._core.evidence import Evidence
from ._core.history import VisitRecord
from ._core.keys import site_key
from ._core.locks import ReadWriteLock
from ._core.models import ActionPattern, CandidateStats, Quirk, Selector, SiteProfile
from ._core.stats import StoreStats
from ._core.steps import ReplayResult
from ._core.transfer import ImportResult, Pruned
from ._core.version import package_version as _package_version
from ._hooktypes import Attempt, NavigationOptions, OverlayProbe, SiteUpdates, Visit
from ._memory import SiteMemory, default_storage_path
from ._playwright.async_site import AsyncSite
from ._playwright.attach import attach
from ._playwright.flows import Navigation
from ._playwright.recorder import BrowserUnavailable, CdpRecorder
from ._playwright.sync_site import SyncSite
from ._plugins import get_plugin_manager, make_plugin_manager
from .hookspecs import hookimpl

__version__ = _package_version()

__all__ = [
    "CONSENT_MANAGERS",
    "ActionPattern",
    "AdaptiveTimeouts",
    "AsyncSite",
    "Attempt",
    "AutoThrottle",
    "BackendUnavailable",
    "BrowserUnavailable",
    "CandidateStats",
    "CdpRecorder",
    "ConsentDetector",
    "ConsentManager",
    "Evidence",
    "ImportResult",
    "InvalidInput",
    "LockLost",
    "LockTimeout",
    "Navigation",
    "NavigationOptions",
    "NavigationRefused",
    "OverlayProbe",
    "PluginError",
    "Pruned",
    "Quirk",
    "ReadWriteLock",
    "ReplayFailed",
    "ReplayResult",
    "Selector",
    "SiteMemory",
    "SiteMemoryError",
    "SiteProfile",
    "SiteUpdates",
    "StoreFormatError",
    "StoreStats",
    "SyncSite",
    "UnknownPurpose",
    "UnknownTask",
    "UnreplayableStep",
    "VersionTooNew",
    "Visit",
    "VisitRecord",
    "__version__",
    "attach",
    "chromium_launch_options",
    "default_storage_path",
    "get_plugin_manager",
    "hookimpl",
    "make_plugin_manager",
    "site_key",
]
