"""The browser flows of a handle, each written once for both of Playwright's APIs.

Each flow is a generator driven by ``_drive``, as httpx drives its auth flows: where it does I/O
it calls the Playwright object (the sync and async classes have the same methods) or the
handle's ``io``, and yields what the call returned; it gets the result back, or the call's error
raised at the ``yield``. ``AsyncSite`` runs a flow with ``run_async``, ``SyncSite`` with
``run_sync``, and browser events start the record flow through ``io.spawn``: sync versus async
is decided once, when ``attach()`` picks the handle class. Hooks are called as flows too
(``_hookcall.call``), so an ``async def`` implementation is awaited under the async API and
refused under the sync one.

Hooks decide, flows act: after-hooks add update values to a :class:`SiteUpdates` and the flow
writes them through the memory; the ``sitememory_overlays`` hook names overlays and the flow
installs their locator handlers. So ``settle()`` and ``detach()`` wait for every write whichever
plugin asked for it, and no plugin needs a thread or an event loop of its own.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from playwright.async_api import Error as PlaywrightError  # one class for both APIs
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from .._builtins.overlays import overlay_workaround
from .._context import site_context
from .._core.errors import PluginError
from .._core.models import SiteProfile
from .._core.redact import redact
from .._drive import Flow
from .._hookcall import call, call_sync, report
from .._hooktypes import Attempt, NavigationOptions, OverlayProbe, SiteUpdates, Visit, unique
from .navigation import failed_visit, is_aborted

if TYPE_CHECKING:
    from .handle import Handle

log = logging.getLogger("sitememory.playwright")

AFTER_NAVIGATION = "sitememory_after_navigation"
AFTER_ACTION = "sitememory_after_action"


def page_of(h: Handle, page: Any) -> Flow[Any]:
    """The page to act on: ``page`` if given (it becomes the default), else the default one."""
    # A context's default page is the one last passed in, else its first open page: a popup
    # opening must not move the agent's actions to it behind its back.
    if page is not None:
        h._current = page
        return page
    if not h._is_context:
        return h.target
    current = h._current
    if current is not None and not current.is_closed():
        return current
    open_pages = [p for p in h.target.pages if not p.is_closed()]
    chosen = open_pages[0] if open_pages else (yield h.target.new_page())
    h._current = chosen
    return chosen


# -- navigation ------------------------------------------------------------------------------


@dataclass
class Navigation:
    """A navigation the plugins prepared (``site.prepare_navigation``): its page, URL, options
    (``goto_kwargs()`` for the client's ``page.goto``), and what
    the page had recorded when it started, so a failure is recorded once."""

    page: Any
    url: str
    #: The site key of ``url``; ``None`` for a URL that is no web site (nothing is recorded).
    key: str | None
    options: NavigationOptions
    failures: int = 0
    visits: int = 0
    started: float = field(default_factory=time.monotonic)

    def goto_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``page.goto`` the plugins chose (timeout, wait_until, referer)."""
        return self.options.goto_kwargs()


def prepare(h: Handle, url: str, page: Any, options: NavigationOptions) -> Flow[Navigation]:
    """What ``goto`` does before ``page.goto``: the before-navigation hooks (timeout, politeness
    delay, or a refusal), the overlay handlers, then the delay waited."""
    h._open()
    page = yield from page_of(h, page)
    key = h.web_key(url)
    if key is None:  # about:blank and the like: nothing to consult or record
        return Navigation(page, url, None, options)
    profile = yield h._io.read(key)
    try:
        yield from call(
            h.plugins, "sitememory_before_navigation", page=page, url=url, key=key, profile=profile,
            options=options, memory=h.memory,
        )
        yield from overlays(h, page, url, key, profile)
        if options.delay > 0:
            yield h._io.sleep(options.delay)
    except BaseException:
        # Refused, failed or cancelled before it started: what the plugins booked for it (a
        # politeness slot) would otherwise push every later navigation to the site back. Called
        # without yielding: a flow being closed must not yield again.
        try:
            call_sync(h.plugins, "sitememory_navigation_abandoned", url=url, key=key, options=options)
        except PluginError as exc:
            report(exc)
        except Exception:
            log.exception("sitememory: sitememory_navigation_abandoned failed for %s", redact(url))
        raise
    state = h.state(page)
    state.timed_out_url = None  # a new navigation cancels one still waiting for its response
    return Navigation(page, url, key, options, state.failures, state.visits)


def navigation_failed(
    h: Handle, nav: Navigation, error: BaseException | str, timed_out: bool | None = None
) -> Flow[bool]:
    """Record ``nav`` as failed with ``error`` (a Playwright error or a timeout of its ``goto``,
    or the text of a failure its client saw) unless the page's events recorded it already;
    returns whether it was recorded here.

    A visit recorded on the page since ``nav`` started means the navigation itself loaded (a
    later step failed, or a goto waiting for "networkidle" gave up): not recorded again.

    :param timed_out: its late load is then no new visit; default: ``error`` is a timeout.
    """
    if isinstance(error, BaseException):
        if not isinstance(error, PlaywrightError | TimeoutError) or _closed(error):
            return False  # not the navigation's failure: a framework's own error, a closed page
        if timed_out is None:
            timed_out = isinstance(error, PlaywrightTimeoutError | TimeoutError)
        error = str(error) or type(error).__name__
    if nav.key is None or is_aborted(error):
        return False
    yield h._io.recorded()  # a failure event may have recorded it already
    state = h.state(nav.page)
    if state.failures != nav.failures or state.visits != nav.visits:
        return False
    if timed_out:
        h.timed_out(nav.page, nav.url)
    return (yield from record(h, nav.page, failed_visit(nav.url, time.monotonic() - nav.started, error)))


def goto(h: Handle, url: str, page: Any, options: NavigationOptions, kwargs: dict[str, Any]) -> Flow[Any]:
    """``page.goto(url)`` after the plugins set its timeout and delay; a failure is recorded."""
    nav = yield from prepare(h, url, page, options)
    try:
        return (yield nav.page.goto(url, **nav.goto_kwargs(), **kwargs))
    except PlaywrightError as exc:
        # A goto that gives up after the load (wait_until="networkidle") loaded: one visit.
        yield from navigation_failed(h, nav, exc)
        raise


def record(h: Handle, page: Any, visit: Visit, counted: bool = False) -> Flow[bool]:
    """Run the after-navigation hooks for ``visit`` and write what they recorded (off the
    navigation's path: errors are kept for ``settle()``, never raised here); returns whether
    it was recorded without an error."""
    try:
        key = h.web_key(visit.url)
        if key is None:
            return False
        if not visit.ok and not counted:
            h.state(page).failures += 1
        profile = yield h._io.read(key)
        kept = yield from after_hook(
            h, AFTER_NAVIGATION, key, h._io.write_later, page=page, url=visit.url, visit=visit,
            profile=profile,
        )
        for error in kept:
            h.keep_error(error)
        return not kept
    except PluginError as exc:
        h.keep_error(exc)
    except Exception:
        log.exception("sitememory: could not record a visit to %s", redact(visit.url))
    return False


def after_hook(
    h: Handle, hook: str, key: str, write: Callable[[SiteUpdates], Any], **kwargs: Any
) -> Flow[list[PluginError]]:
    """Call an after-hook, then ``write`` what its implementations added to the site's updates,
    also when one of them raised; returns the plugin errors (the hook's first)."""
    updates = SiteUpdates(key)
    failed: list[PluginError] = []
    try:
        yield from call(h.plugins, hook, key=key, memory=h.memory, updates=updates, **kwargs)
    except PluginError as exc:
        failed.append(exc)  # every implementation ran: what the others added is written
    updates.seal()
    if updates:
        try:
            yield write(updates)
        except Exception as exc:
            failed.append(updates.failed(exc, hook))
    return failed


# -- actions ---------------------------------------------------------------------------------


def act(
    h: Handle, action: str, purpose: str, selectors: tuple[str, ...], page: Any,
    timeout: float | None, perform: Callable[[Any], Any] | None,
) -> Flow[str]:
    """Try the candidates for ``purpose`` in order, ``perform`` the action on the first visible
    one, and record each outcome; returns the selector used."""
    h._open()
    page = yield from page_of(h, page)
    key = h.key(page.url)
    profile = yield h._io.read(key)
    candidates = unique(selectors)
    yield from call(
        h.plugins, "sitememory_before_action", page=page, action=action, purpose=purpose, key=key,
        profile=profile, candidates=candidates, memory=h.memory,
    )
    yield from overlays(h, page, page.url, key, profile)
    candidates[:] = unique(candidates)
    if not candidates:
        raise h.unknown(purpose, key)
    chosen: str | None = None
    error: PlaywrightError | None = None
    try:
        chosen = yield from pick(page, candidates, timeout)
        if perform is not None:
            yield perform(page.locator(chosen).first)
    except PlaywrightError as exc:
        error = exc
        exc.add_note(f"sitememory: {action} {purpose!r} on {key}, candidates {candidates}")
        if chosen is not None and INTERCEPTED in str(exc):
            yield from learn_interceptor(h, page, key, profile, chosen, exc)
    failed = yield from after_hook(
        h, AFTER_ACTION, key, h._io.write, page=page, action=action, purpose=purpose,
        profile=profile, candidates=candidates, selector=chosen, ok=error is None, error=error,
        attempts=attempts_for(candidates, chosen, error is None),
    )
    # The action's own error wins over a plugin's, which is then kept for settle().
    first = failed.pop(0) if failed and error is None else None
    for failure in failed:
        h.keep_error(failure)
    if first is not None:
        raise first
    if error is not None:
        raise error
    assert chosen is not None
    return chosen


def locator(
    h: Handle, purpose: str, selectors: tuple[str, ...], page: Any, timeout: float | None
) -> Flow[Any]:
    """A locator for the first candidate for ``purpose`` that is visible (waits for one)."""
    page = yield from page_of(h, page)
    chosen = yield from act(h, "locator", purpose, selectors, page, timeout, None)
    return page.locator(chosen).first


def pick(page: Any, candidates: list[str], timeout: float | None) -> Flow[str]:
    """The best-ranked candidate that is visible now, else the first to become visible."""
    valid: list[str] = []
    for selector in candidates:
        try:
            if (yield page.locator(selector).first.is_visible()):
                return selector
        except PlaywrightError:
            continue  # not a valid selector: it never matches, and counts as a failure
        valid.append(selector)
    if not valid:
        raise PlaywrightError(f"no valid selector among {candidates}")
    combined = page.locator(valid[0])
    for selector in valid[1:]:
        combined = combined.or_(page.locator(selector))
    yield combined.first.wait_for(state="visible", timeout=timeout)
    for selector in valid:
        if (yield page.locator(selector).first.is_visible()):
            return selector
    return valid[0]  # it went away again in between; the action will say so


def attempts_for(candidates: list[str], chosen: str | None, ok: bool) -> list[Attempt]:
    """The outcome of every candidate tried: those ranked above ``chosen`` did not match.

    Candidates below the chosen one were never tried and get no outcome; when nothing matched,
    every candidate failed.
    """
    out: list[Attempt] = []
    for selector in candidates:
        if selector == chosen:
            out.append(Attempt(selector, ok))
            break
        out.append(Attempt(selector, False))
    return out


# -- overlays --------------------------------------------------------------------------------


def overlay_selectors(h: Handle, url: str, key: str, profile: SiteProfile | None) -> Flow[list[str]]:
    """The selectors of the overlays the plugins name for the site, each once."""
    selectors: list[str] = []
    yield from call(h.plugins, "sitememory_overlays", url=url, key=key, profile=profile, selectors=selectors)
    return unique(selectors)


def overlays(h: Handle, page: Any, url: str, key: str, profile: SiteProfile | None) -> Flow[None]:
    """Install a locator handler on ``page`` for each overlay the plugins name that it lacks."""
    for selector in (yield from overlay_selectors(h, url, key, profile)):
        yield from install_overlay(h, page, key, selector)


def install_overlay(h: Handle, page: Any, key: str, selector: str) -> Flow[None]:
    """Install the locator handler that clicks ``selector`` away on ``page``, unless it has one."""
    installed = h.state(page).overlays
    if selector in installed:
        return
    installed.add(selector)
    try:
        # Playwright installs any selector, and one it cannot parse then fails every later
        # action on the page: a bad stored quirk must not break the site for every agent.
        yield page.locator(selector).count()
        yield page.add_locator_handler(page.locator(selector).first, h._io.dismiss)
    except PlaywrightError as exc:
        if not _selector_error(exc):
            installed.discard(selector)  # the page, not the selector: try again next time
        log.warning("sitememory: no overlay handler for %r on %s: %s", selector, key, first_line(exc))


#: Whether an element sits in a layer over the page: inside a fixed-position box or a dialog
#: (an open ``<dialog>`` or popover, ``role=dialog``/``alertdialog``, ``aria-modal``), across
#: shadow roots. Where banners and modals live, and the only place the sweep clicks: not the
#: page's flow, nor a sticky header.
IN_OVERLAY = """el => {
  for (let node = el; node; ) {
    if (node.nodeType === Node.ELEMENT_NODE) {
      const role = node.getAttribute("role");
      if (getComputedStyle(node).position === "fixed" || role === "dialog" || role === "alertdialog"
          || node.getAttribute("aria-modal") === "true" || (node.tagName === "DIALOG" && node.open)
          || (node.matches && node.matches(":popover-open")))
        return true;
    }
    node = node.parentNode instanceof ShadowRoot ? node.parentNode.host : node.parentNode;
  }
  return false;
}"""


def sweep_overlays(h: Handle, page: Any, window: float) -> Flow[int]:
    """Click away the site's known overlays that show on ``page`` within ``window`` ms; returns
    how many were clicked.

    For a browser another client drives: a locator handler runs only before the actions of the
    Playwright client that installed it, so it would never fire for that client's clicks. Only
    an element in a layer over the page is clicked (:data:`IN_OVERLAY`), and only while the page
    is still on the site: a quirk any agent stored cannot make every browser click a "Buy" or
    "Delete" button in the page's own flow. The element checked is the element clicked (one
    handle, bound to its document).
    """
    url = page.url
    key = h.web_key(url)
    if key is None:
        return 0
    profile = yield h._io.read(key)
    valid: list[str] = []
    try:
        for selector in (yield from overlay_selectors(h, url, key, profile)):
            try:
                yield page.locator(selector).count()
                valid.append(selector)
            except PlaywrightError as exc:
                if not _selector_error(exc):
                    return 0  # the page closed or navigated away: nothing left to sweep
                log.warning("sitememory: overlay %r on %s: %s", selector, key, first_line(exc))
        if not valid:
            return 0
        combined = page.locator(valid[0])
        for selector in valid[1:]:
            combined = combined.or_(page.locator(selector))
        yield combined.first.wait_for(state="visible", timeout=window)
    except PlaywrightError:
        return 0  # none showed in time, or the page went away
    clicked = 0
    for selector in valid:
        if h.web_key(page.url) != key:
            break
        try:
            handle = yield page.locator(selector).first.element_handle(timeout=_NOW)
        except PlaywrightError:
            continue  # not there (any more)
        try:
            clicked += yield from _dismiss(handle, selector, key, window)
        except PlaywrightError as exc:
            log.info("sitememory: could not dismiss %r on %s: %s", selector, key, first_line(exc))
        with contextlib.suppress(PlaywrightError):  # not in a finally: a closed flow must not yield
            yield handle.dispose()
    return clicked


def _dismiss(handle: Any, selector: str, key: str, window: float) -> Flow[int]:
    """Click ``handle`` if it is shown in a layer over the page; 1 if it was clicked."""
    if not (yield handle.is_visible()):
        return 0
    if not (yield handle.evaluate(IN_OVERLAY)):
        log.warning("sitememory: not clicking %r on %s: it is not in an overlay", selector, key)
        return 0
    yield handle.click(timeout=window)
    return 1


# -- overlays the memory recognises by itself ------------------------------------------------

#: What Playwright's call log says when another element would receive an action's click.
INTERCEPTED = "intercepts pointer events"

#: ``(target, probes, wait) => found``: the first probe with a control that is visible inside
#: one of its roots, in a layer over the page, as ``{index, control}``, or ``null``. With a
#: ``target`` (an element whose click was intercepted) only the probe whose root holds the
#: element on top at the target's centre counts (``{index: -1}`` when no probe's does). The open
#: shadow roots of a probe's root (a banner drawn in a shadow host, as Usercentrics' is) are
#: searched too, as Playwright's CSS selectors pierce them; the rest of the page is not walked.
#: Read-only: it clicks nothing. With ``wait``, a banner that is in the page but not shown yet
#: (it fades in, as most do) is looked at once more after :data:`PENDING_MS`: one timer in the
#: page, no polling.
_FIND_OVERLAY = """async (target, probes, wait) => {
  const inOverlay = IN_OVERLAY;
  const up = n => n.parentNode instanceof ShadowRoot ? n.parentNode.host : n.parentElement;
  const query = (scope, selector) => {
    try { return [...scope.querySelectorAll(selector)]; } catch (e) { return []; }  // unreadable
  };
  const scopes = [document];
  const roots = probes.flatMap(p => p.roots);
  for (let i = 0; i < scopes.length; i++)
    for (const host of roots.flatMap(r => query(scopes[i], r)))
      for (const el of [host, ...host.querySelectorAll("*")])
        if (el.shadowRoot && !scopes.includes(el.shadowRoot)) scopes.push(el.shadowRoot);
  const all = selector => scopes.flatMap(scope => query(scope, selector));
  const matches = (el, selector) => { try { return el.matches(selector); } catch (e) { return false; } };
  const within = (el, roots) => {
    for (let node = el; node; node = up(node)) if (roots.some(r => matches(node, r))) return true;
    return false;
  };
  const visible = el => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0
      && el.checkVisibility({opacityProperty: true, visibilityProperty: true});
  };
  let pending = false;
  const control = probe => {
    for (const selector of probe.controls)
      for (const el of all(selector)) {
        if (!el.isConnected || !within(el, probe.roots)) continue;
        if (visible(el) && inOverlay(el)) return selector;
        pending = true;
      }
    return null;
  };
  let hit = null;
  if (target) {
    const box = target.getBoundingClientRect();
    const x = box.left + box.width / 2, y = box.top + box.height / 2;
    hit = document.elementFromPoint(x, y);
    while (hit && hit.shadowRoot) {
      const inner = hit.shadowRoot.elementFromPoint(x, y);
      if (!inner || inner === hit) break;
      hit = inner;
    }
    if (!hit || target === hit || target.contains(hit)) return null;
  }
  const find = () => {
    for (let index = 0; index < probes.length; index++) {
      if (hit && !within(hit, probes[index].roots)) continue;
      const selector = control(probes[index]);
      if (selector || hit) return {index, control: selector};
    }
    return hit ? {index: -1, control: null} : null;
  };
  const found = find();
  if (found || !pending || !wait) return found;
  await new Promise(resolve => setTimeout(resolve, PENDING_MS));
  return find();
}""".replace("IN_OVERLAY", IN_OVERLAY)

#: How long after a load a banner present but not shown yet is given to show (ms).
PENDING_MS = 1000
_FIND_OVERLAY = _FIND_OVERLAY.replace("PENDING_MS", str(PENDING_MS))
FIND_ON_PAGE = f"([probes, wait]) => ({_FIND_OVERLAY})(null, probes, wait)"
FIND_OVER_TARGET = f"(target, probes) => ({_FIND_OVERLAY})(target, probes, false)"


def overlay_probes(h: Handle, url: str, key: str, profile: SiteProfile | None) -> Flow[list[OverlayProbe]]:
    """The overlays the plugins want recognised on the site."""
    probes: list[OverlayProbe] = []
    yield from call(h.plugins, "sitememory_overlay_probes", url=url, key=key, profile=profile, probes=probes)
    return [p for p in probes if isinstance(p, OverlayProbe) and p.roots and p.controls]


def detect_overlays(h: Handle, page: Any) -> Flow[None]:
    """At a page's load: record and dismiss the first overlay the plugins name that it shows.

    One ``evaluate``, none when no plugin names a probe (the site's banner is known already);
    it waits for a banner that has not faded in yet at the first load of each site only, so a
    banner kept hidden in every page does not hold up each ``settle()``. Off the navigation's
    path and never in its way: a page that closed or navigated meanwhile has nothing to learn,
    and a store's or plugin's error is kept for ``settle()``.
    """
    try:
        if page.is_closed():
            return
        url = page.url
        key = h.web_key(url)
        if key is None:
            return
        profile = yield h._io.read(key)
        probes = yield from overlay_probes(h, url, key, profile)
        if not probes:
            return
        wait = key not in h.probed
        h.probed.add(key)
        found = yield page.evaluate(FIND_ON_PAGE, [[p.to_json() for p in probes], wait])
        if found and found.get("control") and h.web_key(page.url) == key:
            probe = probes[found["index"]]
            yield from learn_overlay(h, page, key, probe, found["control"], h._io.write_later)
    except PluginError as exc:
        h.keep_error(exc)
    except PlaywrightError:
        return  # closed, navigated, or its context destroyed by a new document: nothing to learn
    except Exception:
        log.exception("sitememory: could not look for overlays on %s", redact(page.url))


def learn_interceptor(
    h: Handle, page: Any, key: str, profile: SiteProfile | None, chosen: str, error: PlaywrightError
) -> Flow[None]:
    """An action on ``chosen`` failed because another element intercepts its pointer events:
    learn the overlay if a probe's root holds that element, else record nothing (the memory
    cannot tell what the element is nor what dismisses it); either way ``error`` says so."""
    try:
        probes = yield from overlay_probes(h, page.url, key, profile)
        if not probes:
            return
        found = yield page.locator(chosen).first.evaluate(
            FIND_OVER_TARGET, [p.to_json() for p in probes], timeout=_NOW
        )
    except PluginError as exc:
        h.keep_error(exc)
        return
    except PlaywrightError:
        return  # the page went away: nothing to tell
    if not found:
        return
    if found["index"] < 0:
        error.add_note(
            "sitememory: the element over it is no overlay the plugins know: nothing learned; "
            "site.remember_overlay(selector) once you know what dismisses it"
        )
        return
    if not found.get("control"):
        error.add_note(f"sitememory: {probes[found['index']].name} is in the way, but none of its "
                       "controls is shown yet: nothing learned")
        return
    probe = probes[found["index"]]
    try:
        yield from learn_overlay(h, page, key, probe, found["control"], h._io.write)
    except PluginError as exc:
        h.keep_error(exc)
        return
    error.add_note(
        f"sitememory: {probe.name} intercepted it; learned: {overlay_workaround(found['control'])} "
        "dismisses it before the next action"
    )


def learn_overlay(
    h: Handle, page: Any, key: str, probe: OverlayProbe, control: str, write: Callable[[SiteUpdates], Any]
) -> Flow[None]:
    """Record ``probe``'s quirk with the workaround that clicks ``control``, and dismiss it on
    ``page`` as the handle does (a locator handler; the recorder sweeps it)."""
    yield from record_overlay(h, page, key, probe.description, control, write, "sitememory_overlay_probes")
    log.info("sitememory: learned %s on %s: %s", probe.name, key, overlay_workaround(control))


def record_overlay(
    h: Handle, page: Any, key: str, description: str, selector: str,
    write: Callable[[SiteUpdates], Any], hook: str | None = None,
) -> Flow[None]:
    """Record the overlay quirk whose workaround clicks ``selector``, then dismiss it on ``page``
    as the handle does (a locator handler; the recorder sweeps it). A failed write raises as it
    is, or as a ``PluginError`` naming ``hook`` when a plugin asked for it."""
    updates = SiteUpdates(key)
    updates.record_quirk(description, overlay_workaround(selector))
    updates.seal()
    try:
        yield write(updates)
    except Exception as exc:
        if hook is None:
            raise
        raise updates.failed(exc, hook) from exc
    yield from h.overlay_learned(page, key, selector)


#: How long the sweep waits for an element it has seen shown already (ms).
_NOW = 1000


def _closed(error: BaseException) -> bool:
    """The page, context or browser closed under the call: no failure of the site."""
    return type(error).__name__ == "TargetClosedError" or "has been closed" in str(error)


def _selector_error(exc: PlaywrightError) -> bool:
    return "selector" in first_line(exc).lower()


def first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def remove_overlays(h: Handle, page: Any) -> Flow[None]:
    """Remove the locator handlers the handle installed on ``page``."""
    state = h.state(page)
    installed, state.overlays = state.overlays, set()
    if not installed or page.is_closed():
        return
    for selector in installed:
        try:
            yield page.remove_locator_handler(page.locator(selector).first)
        except PlaywrightError:
            return  # closed meanwhile: nothing left to remove


def remember_overlay(h: Handle, selector: str, description: str, page: Any) -> Flow[None]:
    """Record that ``selector`` dismisses an overlay on the page's site, and handle it now."""
    page = yield from page_of(h, page)
    key = h.key(page.url)
    yield from record_overlay(h, page, key, description, selector, h._io.write)


# -- knowledge and lifecycle -----------------------------------------------------------------


def prompt_context(
    h: Handle, url: str | None, page: Any, max_chars: int, tasks: Iterable[str] = ()
) -> Flow[str]:
    """What the memory knows of the site of ``url`` (default: the page's), for an LLM prompt,
    with the remembered steps of ``tasks``."""
    if url is None:
        url = (yield from page_of(h, page)).url
    key = h.key(url)
    yield from settle(h)
    profile = yield h._io.read(key)
    return (yield from site_context(h.plugins, key, profile, max_chars, tasks=tasks,
                                    half_life=h.memory.half_life))


def settle(h: Handle) -> Flow[None]:
    """Wait until what navigations so far recorded is written; raise a kept plugin error."""
    yield h._io.written()
    h.raise_kept()


def detach(h: Handle) -> Flow[None]:
    """Stop listening, remove the overlay handlers, wait for the writes, close an owned memory."""
    if h._detached:
        return
    h._detached = True
    if h._attached:
        for page in list(h._watched):  # a navigation its client did not wait to load
            visit = h.unloaded(page)
            if visit is not None:
                yield from h._record(page, visit)
        h.unsubscribe()
        # First what is in flight (a page's overlay detection may still install a handler),
        # then the handlers: none outlives the handle. Errors are logged and kept in .errors.
        yield h._io.written()
        for page in h.pages_with_overlays():
            yield from remove_overlays(h, page)
    if h._owns_memory:
        yield h._io.close_memory()
