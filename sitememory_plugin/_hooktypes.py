"""The values hooks receive: a navigation's options and its visit, selector attempts, and the
updates an after-hook asks the memory to record."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._core.errors import PluginError
from ._core.frozen import FrozenDict
from ._core.updates import (
    CachePattern,
    CacheSelector,
    PatternResult,
    QuirkResult,
    QuirkSeen,
    RateLimited,
    SelectorResult,
    Update,
    VisitSeen,
)


@dataclass
class NavigationOptions:
    """Options of one navigation; ``sitememory_before_navigation`` hooks change them in place.

    ``timeout`` is in milliseconds like Playwright's; ``delay`` is seconds to wait before going.
    ``explicit`` names the options the caller set, which plugins should not override. ``notes``
    is the plugins' own, for this navigation only: what a plugin keeps there in
    ``sitememory_before_navigation`` it finds again in ``sitememory_navigation_abandoned``
    (key it by the plugin's name).
    """

    timeout: float | None = None
    wait_until: str | None = None
    referer: str | None = None
    delay: float = 0.0
    explicit: frozenset[str] = frozenset()
    notes: dict[str, Any] = field(default_factory=dict)

    def goto_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        if self.wait_until is not None:
            kwargs["wait_until"] = self.wait_until
        if self.referer is not None:
            kwargs["referer"] = self.referer
        return kwargs


@dataclass(frozen=True)
class Visit:
    """A finished or failed main-frame navigation, as ``sitememory_after_navigation`` sees it.

    ``duration`` is seconds from the start of the navigation (its first request, before any
    redirect) to the load event, or to the failure; ``timings`` holds the browser's timings of
    the navigation in seconds since its start (``ttfb``: first byte of the final response,
    ``dom_content_loaded``, ``load``) and ``transfer_bytes`` (the response's Content-Length, when
    it sends one), ``redirects``. The memory records it as one visit of the site.

    ``retry_after`` is the seconds a 429 or 503 asked clients to wait with a valid
    ``Retry-After`` (delay-seconds or an HTTP-date, at most a day), else ``None``; the built-in
    recorder records it as a rate limit too (``SiteUpdates.record_rate_limit``).
    """

    url: str
    duration: float
    status: int | None = None
    error: str | None = None
    timings: Mapping[str, float] = field(default_factory=lambda: FrozenDict({}))
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and (self.status is None or self.status < 400)


@dataclass(frozen=True)
class Attempt:
    """One selector tried for a purpose: did it match (and, for the one used, did the action work)."""

    selector: str
    ok: bool


@dataclass(frozen=True)
class OverlayProbe:
    """An overlay to recognise on a page (``sitememory_overlay_probes``): its ``roots`` (CSS
    selectors of the elements that hold it) and the ``controls`` that dismiss it, best first.

    Found when one of its controls is visible inside a root, in a layer over the page (or, after
    an action failed, when the element that intercepted it is inside a root): recorded as the
    quirk ``description`` with the workaround ``click <that control>``.
    """

    name: str
    roots: tuple[str, ...]
    controls: tuple[str, ...]
    description: str

    def to_json(self) -> dict[str, Any]:
        """What the page's probe reads."""
        return {"roots": list(self.roots), "controls": list(self.controls)}


def unique(selectors: Iterable[object]) -> list[str]:
    """Non-empty string selectors in order, first occurrence kept."""
    return list(dict.fromkeys(s for s in selectors if isinstance(s, str) and s.strip()))


_NOUNS = {
    VisitSeen: "a visit", CacheSelector: "a selector", SelectorResult: "a selector result",
    QuirkSeen: "a quirk", CachePattern: "an action pattern", QuirkResult: "a quirk result",
    PatternResult: "a pattern result", RateLimited: "a rate limit",
}


class SiteUpdates:
    """What the after-hooks ask the memory to record about one site (``key``).

    The methods are :class:`~sitememory_plugin.SiteMemory`'s, without the URL; each checks its
    values at the call (a bad one raises there, in the hook that made it) and adds an update.
    After the hook call the handle writes them all, in order, in one update of the site, and
    ``site.settle()`` waits for that write. A write that fails is a ``PluginError`` naming the
    plugin that asked for it.
    """

    __slots__ = ("_items", "_sealed", "author", "key")

    def __init__(self, key: str) -> None:
        self.key = key
        #: The plugin whose hook implementation is adding updates now (set by the hook caller).
        self.author: str | None = None
        self._items: list[tuple[str | None, Update]] = []
        self._sealed = False

    def __repr__(self) -> str:
        return f"<SiteUpdates {self.key} {len(self._items)} updates>"

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Update]:
        return (update for _, update in self._items)

    def add(self, update: Update) -> None:
        if self._sealed:
            raise RuntimeError(
                f"these updates about {self.key} are being written already: add to them inside the hook"
            )
        self._items.append((self.author, update))

    def seal(self) -> None:
        """No more updates: the hook call is over and the handle writes these."""
        self._sealed, self.author = True, None

    def record_visit(
        self, duration: float, *, status: int | None = None, error: str | None = None,
        timings: Mapping[str, float] | None = None, url: str | None = None,
    ) -> None:
        """``url``: the page visited, whose path the site's visit history keeps."""
        self.add(VisitSeen.create(duration, status, error, timings, time.time(), url))

    def cache_selector(
        self, purpose: str, selector: str, fallbacks: Iterable[str] | None = None, *,
        confirm: bool = True,
    ) -> None:
        """``confirm=False``: only name candidates, none of which is known to work yet."""
        self.add(CacheSelector.create(purpose, selector, fallbacks, time.time(), confirm=confirm))

    def record_selector_result(self, purpose: str, selector: str, ok: bool) -> None:
        self.add(SelectorResult(purpose, selector, ok, time.time()))

    def record_quirk(self, description: str, workaround: str | None = None) -> None:
        self.add(QuirkSeen(description, workaround, time.time()))

    def record_quirk_result(self, description: str, ok: bool) -> None:
        self.add(QuirkResult(description, ok, time.time()))

    def cache_action_pattern(self, task_type: str, actions: Iterable[Any]) -> None:
        self.add(CachePattern.create(task_type, actions, time.time()))

    def record_pattern_result(self, task_type: str, ok: bool) -> None:
        self.add(PatternResult(task_type, ok, time.time()))

    def record_rate_limit(self, retry_after: float | str, *, status: int = 429) -> None:
        self.add(RateLimited.create(retry_after, status, time.time()))

    def failed(self, error: BaseException, hook: str) -> PluginError:
        """The error to report when these updates could not be written."""
        authors = list(dict.fromkeys(author or "sitememory" for author, _ in self._items))
        names = ", ".join(repr(a) for a in authors)
        what = _NOUNS.get(type(self._items[0][1]), "an update") if len(self._items) == 1 \
            else f"{len(self._items)} updates"
        failure = PluginError(
            f"plugin{'s' if len(authors) > 1 else ''} {names} failed to write {what}: "
            f"{type(error).__name__}: {error}", authors[0], hook,
        )
        failure.__cause__ = error
        return failure
