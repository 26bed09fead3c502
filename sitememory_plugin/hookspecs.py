"""Hook specifications: where a plugin joins a browser agent's lifecycle.

Implement any of these with :data:`sitememory_plugin.hookimpl`; an implementation may take any
subset of a hook's parameters, and may be ``async def`` when it is used with Playwright's async
API (its result is awaited), except ``sitememory_site_key``, which is always a plain function.
Register a plugin through the ``sitememory`` entry-point group, the ``SITEMEMORY_PLUGINS``
environment variable, or ``plugins.register(...)`` in code.

The navigation and action hooks get ``page`` (a Playwright ``Page``, async or sync API) and
``memory`` (the :class:`~sitememory_plugin.SiteMemory` in use). The after-hooks decide what to
record by adding to ``updates`` (:class:`~sitememory_plugin.SiteUpdates`); the handle writes
those, so ``site.settle()`` waits for them whichever plugin made them. A hook that raises stops the
agent's call with a :class:`~sitememory_plugin.PluginError` naming the plugin, after every other
implementation has run, so a failing plugin never stops the recording of visits. Raise
:class:`~sitememory_plugin.NavigationRefused` to refuse a navigation on purpose.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from ._core.models import SiteProfile
    from ._hooktypes import Attempt, NavigationOptions, OverlayProbe, SiteUpdates, Visit
    from ._memory import SiteMemory

PROJECT = "sitememory"

hookspec = pluggy.HookspecMarker(PROJECT)
#: Marks a function or method as a hook implementation: ``@hookimpl def sitememory_...``.
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- sites ---------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def sitememory_site_key(url: str) -> str | None:
    """Return the site key ``url`` belongs to, or ``None`` to let the next plugin decide.

    Called by a handle of ``attach()`` for every URL it records or consults, synchronously (a
    plain function, also under the async API). The first non-``None`` answer wins; without one,
    :func:`~sitememory_plugin.site_key` decides (the host, ``www.`` folded). An answer must itself
    be a valid key (``site_key(answer) == answer``). ``SiteMemory``'s own methods do not call
    plugins: give them ``site.key(url)`` to use the same key.

    :param url: an ``http`` or ``https`` URL.
    """


# -- navigation ----------------------------------------------------------------------------------


@hookspec
def sitememory_before_navigation(
    page: Any, url: str, key: str, profile: SiteProfile | None, options: NavigationOptions,
    memory: SiteMemory,
) -> None:
    """Adjust a navigation before it starts: change ``options`` in place.

    Called by ``site.goto(url)`` before the politeness delay and ``page.goto``. The built-in
    plugins set ``options.timeout`` (adaptive timeouts) and ``options.delay`` (politeness, which
    also refuses a site rate limited for longer than its ``max_delay``);
    ``options.explicit`` names what the caller set, which plugins should leave alone.

    :param page: the Playwright page about to navigate.
    :param url: where it goes.
    :param key: the site key of ``url``.
    :param profile: what the memory knows of the site, or ``None`` for a new site.
    :param options: the navigation's options, mutable.
    :param memory: the memory in use.
    """


@hookspec
def sitememory_navigation_abandoned(url: str, key: str, options: NavigationOptions) -> None:
    """A navigation that ``sitememory_before_navigation`` prepared did not start: a plugin
    refused it, or its caller gave up while it waited for its delay (a crawler's budget). Give
    back what you set aside for it (the built-in ``politeness`` plugin frees its start slot).

    Called without awaiting (an ``async def`` implementation is refused).
    """


@hookspec
def sitememory_after_navigation(
    page: Any, url: str, key: str, visit: Visit, profile: SiteProfile | None, memory: SiteMemory,
    updates: SiteUpdates,
) -> None:
    """A main-frame navigation finished or failed; ``visit`` says how.

    Called for every navigation of an attached page, whoever started it (``goto``, a click, a
    redirect, a script, a new page), once per navigation, off the navigation's path: ``goto``
    does not wait for it, ``site.settle()`` does. The built-in recorder adds the visit to
    ``updates``; the handle writes them once every implementation has run (also when one raised).

    :param page: the page that navigated.
    :param url: the URL the page ended on (after redirects), or that failed.
    :param key: its site key.
    :param visit: url, status, error, duration and the browser's Navigation Timing figures.
    :param profile: what the memory knew of the site before this visit (may be cached).
    :param memory: the memory in use.
    :param updates: what to record about the site ``key``: add to it.
    """


# -- actions -------------------------------------------------------------------------------------


@hookspec
def sitememory_before_action(
    page: Any, action: str, purpose: str, key: str, profile: SiteProfile | None,
    candidates: list[str], memory: SiteMemory,
) -> None:
    """Order or add the selectors to try for ``purpose``: change ``candidates`` in place.

    Called by ``site.click``, ``site.fill``, ``site.locator`` and each step of ``site.replay`` that
    acts on an element, before any selector is tried. The built-in resolver runs first and puts
    the remembered selector and its fallbacks, best first, ahead of the ones the caller passed.

    :param action: ``"click"``, ``"fill"``, ``"locator"``, or ``"press"`` (a replayed step
        pressing a key on the element).
    :param purpose: what the element is for, e.g. ``"search box"``.
    :param candidates: selectors to try in order, mutable.
    """


@hookspec
def sitememory_after_action(
    page: Any, action: str, purpose: str, key: str, profile: SiteProfile | None,
    candidates: list[str], selector: str | None, ok: bool, error: BaseException | None,
    attempts: list[Attempt], memory: SiteMemory, updates: SiteUpdates,
) -> None:
    """An action on ``purpose`` succeeded or failed.

    The handle writes ``updates`` before the action returns, so the next action sees them.

    :param candidates: the selectors that were to be tried, in order.
    :param selector: the selector finally used, or ``None`` when no candidate matched.
    :param ok: whether the action succeeded.
    :param error: the error that failed it, if any.
    :param attempts: every candidate tried, in order, with its outcome; the built-in resolver
        records them, so a fallback that works is promoted for every agent sharing the store.
    :param updates: what to record about the site ``key``: add to it.
    """


# -- overlays ------------------------------------------------------------------------------------


@hookspec
def sitememory_overlays(url: str, key: str, profile: SiteProfile | None, selectors: list[str]) -> None:
    """Name overlays to dismiss on the site: append their selectors to ``selectors`` in place.

    Called by ``site.goto`` and before every ``click``, ``fill`` and ``locator`` (and by
    ``site.remember_overlay``). The handle installs a Playwright locator handler that clicks each
    selector not yet handled on the page, and removes them on ``detach()``. The built-in
    ``overlays`` plugin names the quirks whose workaround reads ``click <selector>``.

    :param url: the page's URL, or where it is about to go.
    :param selectors: selectors to click when they appear, mutable.
    """


@hookspec
def sitememory_overlay_probes(
    url: str, key: str, profile: SiteProfile | None, probes: list[OverlayProbe]
) -> None:
    """Name overlays the handle should recognise by itself: append to ``probes`` in place.

    Called when an attached (or recorded) page loads, and when an action fails because another
    element intercepts its pointer events. With probes named, the handle asks the page once (one
    ``evaluate``) for the first probe whose control is visible inside its root in a layer over
    the page (after a failed action: whose root holds the intercepting element), records its
    quirk (``description``, workaround ``click <control>``) and dismisses it as
    ``site.remember_overlay`` would; an overlay no probe names is not recorded. Name none for a
    site whose profile knows the overlay already: then a load costs no round trip. The built-in
    ``consent`` plugin names the banners of common consent managers.

    :param url: the page's URL.
    :param profile: what the memory knows of the site (may be cached).
    :param probes: :class:`~sitememory_plugin.OverlayProbe` values, mutable.
    """


# -- prompts -------------------------------------------------------------------------------------


@hookspec
def sitememory_prompt_context(
    key: str, profile: SiteProfile | None, lines: list[str], tasks: Sequence[str], half_life: float
) -> None:
    """Add lines to the text an LLM prompt gets about a site: append to ``lines`` in place.

    ``tasks``: the task types whose remembered steps the caller asked for; ``half_life``: the
    memory's, in seconds, to weigh evidence by age as the built-in lines do.

    Called by ``site.prompt_context()`` and the MCP server's ``site_context``. The built-in
    ``prompt`` plugin adds load times, quirks, selectors and patterns first, ``timeouts`` and
    ``politeness`` what they would apply to a navigation; every line is then made inert (control
    and format characters removed: no escape sequence or bidi override reaches a prompt) and the
    text cut, at whole lines, to its size bound. Quote text that came from a site or an agent,
    as the built-in plugin does.
    """
