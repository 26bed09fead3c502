"""What the async and sync handles share: site keys, per-page state, plugin errors, the script.

Nothing here waits on the browser or the store; the two handles repeat only that I/O.
"""

from __future__ import annotations

import json
import logging
import secrets
import weakref
from dataclasses import dataclass
from typing import Any

import pluggy

from .._core.errors import PluginError, UnknownPurpose
from .._core.keys import site_key
from .._hookcall import call_sync, report
from .._memory import SiteMemory
from .navigation import INIT_SCRIPT, NavigationOptions

log = logging.getLogger("sitememory_plugin")

_KEY_CACHE = 4096


@dataclass
class PageState:
    """What a handle tracks per page."""

    #: Failed navigations recorded on this page; a ``goto`` that fails records its own failure
    #: only if no event recorded it first.
    failures: int = 0
    #: URL of a ``goto`` that timed out: its late load is the same visit, not a new one (a load
    #: of any other URL, or a redirect's target, is a new visit and clears it).
    timed_out: str | None = None


class SiteBase:
    """State and pure decisions of a handle returned by ``attach()``."""

    def __init__(
        self, target: Any, memory: SiteMemory, plugins: pluggy.PluginManager, *, owns_memory: bool,
        is_context: bool,
    ) -> None:
        self.target = target
        self.memory = memory
        self.plugins = plugins
        #: Plugin errors raised while recording navigations (which happens off the navigation's
        #: path); each is logged, and the next ``settle()`` raises the first one.
        self.errors: list[PluginError] = []
        self._unraised: list[PluginError] = []
        self._owns_memory = owns_memory
        self._is_context = is_context
        # Unique per handle: a context can be attached, detached and attached again.
        self._binding = f"__sitememory_{secrets.token_hex(8)}"
        self._attached = False
        self._detached = False
        self._disposables: list[Any] = []
        self._keys: dict[str, str] = {}
        self._current: Any = None
        self._pages: weakref.WeakKeyDictionary[Any, PageState] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        state = "detached" if self._detached else "attached" if self._attached else "not attached"
        return f"<{type(self).__name__} {state} to {type(self.target).__name__} memory={self.memory!r}>"

    @property
    def script(self) -> str:
        return INIT_SCRIPT % {"name": json.dumps(self._binding)}

    def key(self, url: str) -> str:
        """The site key of ``url``: the first ``sitememory_site_key`` answer, else the host.

        :raises ValueError: the URL names no web site.
        :raises PluginError: a plugin raised, or answered something that is not a site key.
        """
        cached = self._keys.get(url)
        if cached is not None:
            return cached
        answers = call_sync(self.plugins, "sitememory_site_key", firstresult=True, url=url)
        if answers:
            plugin, answer = answers[0]
            try:
                valid = isinstance(answer, str) and site_key(answer) == answer
            except ValueError:
                valid = False
            if not valid:
                raise PluginError(
                    f"plugin {plugin!r}: sitememory_site_key answered {answer!r} for {url!r}, "
                    "which is not a site key",
                    plugin, "sitememory_site_key",
                )
            key = str(answer)
        else:
            key = site_key(url)
        if len(self._keys) >= _KEY_CACHE:
            self._keys.clear()
        self._keys[url] = key
        return key

    def web_key(self, url: str) -> str | None:
        """:meth:`key`, or ``None`` for a URL that is no web site (``about:blank``, ``data:``)."""
        try:
            return self.key(url)
        except PluginError:
            raise
        except ValueError:
            return None

    def state(self, page: Any) -> PageState:
        state = self._pages.get(page)
        if state is None:
            state = self._pages[page] = PageState()
        return state

    def options(
        self, timeout: float | None, wait_until: str | None, referer: str | None
    ) -> NavigationOptions:
        given = {"timeout": timeout, "wait_until": wait_until, "referer": referer}
        return NavigationOptions(
            timeout=timeout, wait_until=wait_until, referer=referer,
            explicit=frozenset(name for name, value in given.items() if value is not None),
        )

    def unknown(self, purpose: str, key: str) -> UnknownPurpose:
        return UnknownPurpose(
            f"no selector known for {purpose!r} on {key}: pass one, e.g. "
            f"site.click({purpose!r}, '#id'); it is remembered once it works"
        )

    def is_main_frame_source(self, source: Any) -> bool:
        try:
            return bool(source["frame"] == source["page"].main_frame)
        except (KeyError, TypeError, AttributeError):
            return False

    def keep_error(self, error: PluginError) -> None:
        report(error)
        self.errors.append(error)
        self._unraised.append(error)

    def raise_kept(self) -> None:
        """Raise the first plugin error kept since the last call, if any."""
        if self._unraised:
            first, self._unraised = self._unraised[0], []
            raise first

    def check_open(self) -> None:
        if self._detached:
            raise RuntimeError("this handle was detached; attach() the target again")
