"""Exception types the package raises on purpose."""

from __future__ import annotations


class SiteMemoryError(Exception):
    """Base class of every error this package raises on purpose."""


class LockTimeout(SiteMemoryError, TimeoutError):
    """A lock could not be taken within its timeout."""

    def __init__(self, name: str, timeout: float, site: str | None = None) -> None:
        for_site = f" for site {site!r}" if site else ""
        super().__init__(f"could not take lock {name!r}{for_site} within {timeout:g} s")
        self.name = name
        self.timeout = timeout
        self.site = site


class StoreFormatError(SiteMemoryError, ValueError):
    """A document is well-formed JSON but not a format this version can safely read or write."""


class VersionTooNew(StoreFormatError):
    """The store or a document was written by a newer version of this library."""


class PluginError(SiteMemoryError):
    """A plugin failed to load, or raised inside a hook; ``plugin`` names it."""

    def __init__(self, message: str, plugin: str, hook: str | None = None) -> None:
        super().__init__(message)
        self.plugin = plugin
        self.hook = hook


class NavigationRefused(SiteMemoryError):
    """A plugin refused a navigation on purpose (e.g. the site fails too often)."""


class UnknownPurpose(SiteMemoryError, LookupError):
    """No selector is known or given for a purpose on a site."""


class BackendUnavailable(SiteMemoryError, ConnectionError):
    """The store's server (Redis) could not be reached or refused writes, after bounded retries.

    Nothing was half-applied: an update either committed whole or not at all.
    """


class LockLost(SiteMemoryError):
    """A store-wide lock expired while held (its holder stalled longer than the lock's TTL)."""
