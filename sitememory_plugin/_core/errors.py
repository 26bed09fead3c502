"""Exception types the package raises on purpose."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .steps import ReplayResult


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


class InvalidInput(StoreFormatError):
    """What an import was given is not valid (a line of JSON Lines, a seed-format file, the file
    as text): nothing was written. ``source`` names the input, ``line`` its first bad line
    (``None`` when the input as a whole is bad); the message names the field."""

    def __init__(self, message: str, source: str, line: int | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.line = line


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


class UnknownTask(SiteMemoryError, LookupError):
    """No steps (action pattern) are remembered for a task type on a site."""


class UnreplayableStep(SiteMemoryError, ValueError):
    """A remembered step that cannot be replayed: it is not in the action schema, or a
    placeholder of it has no value. Raised before any step runs.

    ``task`` is the task type, ``index`` the step's position in the pattern's actions (from 0).
    """

    def __init__(self, message: str, task: str, index: int) -> None:
        super().__init__(message)
        self.task = task
        self.index = index


class ReplayFailed(SiteMemoryError):
    """A step of ``site.replay`` failed on the page (recorded as a contradiction of the steps).

    ``result`` is the :class:`~sitememory_plugin.ReplayResult`: the steps done, the selectors
    they used, the failed step and its error, which is also this error's ``__cause__``.
    """

    def __init__(self, message: str, result: ReplayResult) -> None:
        super().__init__(message)
        self.result = result
