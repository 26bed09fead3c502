"""``SiteMemory``: the public face of the store, as an async API and a sync twin of each method.

Each operation is written once, as blocking code (``_x``). A ``_sync`` method calls it in the
caller's thread and never touches an event loop, so it works inside a running loop and from many
threads. The async method runs it on this memory's worker threads, so a lock wait, a read or an
fsync never blocks the event loop; reads the cache can answer are served without a thread hop.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ParamSpec, TypeVar

import platformdirs

from ._core import legacy, transfer
from ._core.bounds import MAX_ORIGIN_NAME, check_text
from ._core.evidence import DEFAULT_HALF_LIFE, check_half_life
from ._core.history import VisitRecord, check_limit, newest
from ._core.keys import site_key
from ._core.models import ActionPattern, Quirk, Selector, SiteProfile
from ._core.prompt import DEFAULT_MAX_CHARS, check_tasks, render_context
from ._core.stats import StoreStats
from ._core.storage import Durability, is_url, open_storage
from ._core.transfer import ImportResult, Pruned
from ._core.updates import (
    Attributed,
    CachePattern,
    CacheSelector,
    PatternResult,
    QuirkResult,
    QuirkSeen,
    RateLimited,
    SelectorResult,
    Touch,
    Update,
    VisitSeen,
)
from ._core.writebehind import WriteBehind
from ._gates import SiteGates

P = ParamSpec("P")
T = TypeVar("T")

ENV_PATH = "SITEMEMORY_PATH"
#: The name of the agent or run whose updates these are (see ``SiteMemory(agent=...)``).
ENV_AGENT = "SITEMEMORY_AGENT"


_HOST = socket.gethostname()
_INSTANCES: weakref.WeakSet[SiteMemory] = weakref.WeakSet()
#: The gate of the async API's backpressure flushes (no site key is empty).
_FLUSH_GATE = ""


def _after_fork_in_child() -> None:
    for memory in list(_INSTANCES):
        memory._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, not {value}")
    return value


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not 0 < value < float("inf"):
        raise ValueError(f"{name} must be > 0 seconds, not {value!r}")
    return float(value)


def default_storage_path() -> Path | str:
    """``$SITEMEMORY_PATH`` if set (a directory or a ``redis://`` URL), else the user data
    directory for ``sitememory``."""
    configured = os.environ.get(ENV_PATH)
    if configured and is_url(configured):
        return configured
    return Path(configured or platformdirs.user_data_dir("sitememory")).expanduser()


class SiteMemory:
    """A durable memory of websites, shared safely by threads, tasks and processes.

    :param storage_path: the store's directory, or a Redis URL (``redis://host:6379/0``, needs
        the ``redis`` extra) to share one memory between machines (default:
        :func:`default_storage_path`).
    :param lock_timeout: seconds to wait for a lock before :class:`LockTimeout`.
    :param cache_ttl: seconds a read is served from memory; ``None`` never expires, ``0``
        revalidates every read (a ``stat``, or one round trip to Redis, re-reading only what
        changed).
    :param durability: ``"fsync"`` (default) makes each write survive power loss; ``"none"`` skips
        the fsyncs (still atomic: readers never see a partial file). On Redis, durability is the
        server's persistence setting (``appendonly yes``, ``appendfsync always``).
    :param flush_interval: ``None`` (default) writes through; seconds to batch updates in memory
        (write-behind), flushed on :meth:`close` and at interpreter exit.
    :param max_pending: with write-behind, an update that finds this many pending flushes them
        in the caller (backpressure), so memory and the cost of the next flush stay bounded.
    :param agent: who is learning, kept as the origin of each entry it reports first (default:
        ``$SITEMEMORY_AGENT``, else ``host:pid``).
    :param half_life: how fast evidence ages (seconds or a ``timedelta``; default 30 days): it
        weighs the counts that rank selectors, evict entries and mark stale knowledge.
    """

    def __init__(
        self,
        storage_path: str | os.PathLike[str] | None = None,
        lock_timeout: float = 10.0,
        cache_ttl: float | None = 60.0,
        *,
        durability: Durability = "fsync",
        flush_interval: float | None = None,
        max_pending: int = 10_000,
        max_workers: int = 8,
        agent: str | None = None,
        half_life: float | timedelta = DEFAULT_HALF_LIFE,
    ) -> None:
        if agent is None:
            agent = os.environ.get(ENV_AGENT) or None
        if agent is not None:
            check_text("agent", agent, MAX_ORIGIN_NAME)
        self._agent = agent
        #: How fast evidence ages, in seconds.
        self.half_life = check_half_life(half_life)
        location = storage_path if storage_path is not None else default_storage_path()
        #: The store's directory, or its Redis URL (a ``str``).
        self.storage_path: Path | str = (
            str(location) if is_url(location) else Path(location).expanduser()
        )
        self._store = open_storage(
            self.storage_path, lock_timeout=lock_timeout, cache_ttl=cache_ttl, durability=durability
        )
        self._behind = (
            WriteBehind(self._store, flush_interval, max_pending)
            if flush_interval is not None else None
        )
        self._max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._gates = SiteGates()

        _INSTANCES.add(self)

    def __repr__(self) -> str:
        return f"SiteMemory({self.location!r})"

    @property
    def agent(self) -> str:
        """Who is learning: the ``agent`` given, or ``host:pid`` of this process."""
        return self._agent if self._agent is not None else f"{_HOST}:{os.getpid()}"

    @property
    def location(self) -> str:
        """Where the store is, fit to print: its directory, or its Redis URL without password."""
        return self._store.location

    def _after_fork(self) -> None:
        # The parent's worker threads do not exist in a forked child, its locks may be held, and
        # its pending updates are the parent's to write.
        self._executor = None
        self._executor_lock = threading.Lock()
        self._gates.after_fork()
        self._store.after_fork()
        if self._behind is not None:
            self._behind.after_fork()

    # -- lifecycle ---------------------------------------------------------------------------

    async def initialize(self) -> None:
        """Create the store if needed. Optional: every method initializes on first use."""
        await self._run(self._store.open)

    def initialize_sync(self) -> None:
        self._store.open()

    async def close(self) -> None:
        """Flush pending updates and release worker threads. The memory may be used again."""
        await self._run(self._close_store)
        self._shutdown_executor()

    def close_sync(self) -> None:
        self._close_store()
        self._shutdown_executor()

    async def __aenter__(self) -> SiteMemory:
        await self.initialize()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __enter__(self) -> SiteMemory:
        self.initialize_sync()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close_sync()

    # -- profiles ----------------------------------------------------------------------------

    async def get_profile(self, url: str) -> SiteProfile | None:
        """What is known about ``url``'s site, or ``None`` if nothing is."""
        return await self._profile(site_key(url))

    def get_profile_sync(self, url: str) -> SiteProfile | None:
        return self._read(site_key(url))

    async def get_or_create_profile(self, url: str) -> SiteProfile:
        """Like :meth:`get_profile`, creating an empty profile for a new site."""
        key = site_key(url)
        return await self._run_site(key, self._get_or_create, key)

    def get_or_create_profile_sync(self, url: str) -> SiteProfile:
        return self._get_or_create(site_key(url))

    async def list_sites(self) -> list[str]:
        """Every site key in the store, sorted (reads the directory: O(number of sites))."""
        return await self._run(self._list_sites)

    def list_sites_sync(self) -> list[str]:
        return self._list_sites()

    async def forget(self, url: str) -> bool:
        """Delete everything known about the site; ``True`` if there was anything.

        Updates made before the forget are discarded wherever they still wait (this process's
        or another's write-behind): the site keeps a tombstone with the time of the forget."""
        key = site_key(url)
        return await self._run_site(key, self._forget, key, time.time())

    def forget_sync(self, url: str) -> bool:
        return self._forget(site_key(url), time.time())

    # -- visits ------------------------------------------------------------------------------

    async def record_visit(
        self, url: str, duration: float, *, status: int | None = None, error: str | None = None,
        timings: Mapping[str, float] | None = None,
    ) -> None:
        """Record a visit that took ``duration`` seconds; a failure if ``error`` or status >= 400.

        ``timings`` are the browser's figures (e.g. ``ttfb``, ``dom_content_loaded``, ``load``).
        The duration joins the site's load times when the visit succeeded or timed out (an
        ``error`` saying "timeout" or "timed out"), not for other failures.
        """
        visit = VisitSeen.create(duration, status, error, timings, time.time(), url)
        await self._apply(site_key(url), (visit,))

    def record_visit_sync(
        self, url: str, duration: float, *, status: int | None = None, error: str | None = None,
        timings: Mapping[str, float] | None = None,
    ) -> None:
        visit = VisitSeen.create(duration, status, error, timings, time.time(), url)
        self._apply_now(site_key(url), (visit,))

    async def visit_history(self, url: str, limit: int | None = None) -> list[VisitRecord]:
        """The site's most recent visits, oldest first: the last ``limit`` (default: all it keeps,
        at most :data:`MAX_HISTORY`). Visits still waiting in a write-behind buffer are not in it
        until they are flushed.

        :raises ValueError: a negative ``limit``.
        """
        key = site_key(url)
        return await self._run(self._store.history, key, check_limit(limit))

    def visit_history_sync(self, url: str, limit: int | None = None) -> list[VisitRecord]:
        return self._store.history(site_key(url), check_limit(limit))

    def follow_visits_sync(
        self, url: str, *, last: int = 10, poll: float = 1.0
    ) -> Iterator[VisitRecord]:
        """The site's ``last`` visits, then each visit as any agent's store records it, for ever
        (stop iterating to stop). Every ``poll`` seconds at most it looks again. A follower that
        falls behind by more than the history keeps skips the visits it no longer keeps.

        :raises ValueError: a bad URL, a negative ``last``, a ``poll`` that is not > 0.
        """
        key, last, poll = site_key(url), _count("last", last), _seconds("poll", poll)
        return self._follow(key, last, poll)

    def _follow(self, key: str, last: int, poll: float) -> Iterator[VisitRecord]:
        records, cursor = self._store.history_since(key, None)
        yield from newest(records, last)
        while True:
            records, cursor = self._store.history_since(key, cursor, poll)
            yield from records

    def follow_visits(
        self, url: str, *, last: int = 10, poll: float = 1.0
    ) -> AsyncGenerator[VisitRecord, None]:
        """:meth:`follow_visits_sync` for the async API. Between looks it sleeps in the event
        loop, so followers hold no worker thread while they wait."""
        key, last, poll = site_key(url), _count("last", last), _seconds("poll", poll)
        return self._follow_async(key, last, poll)

    async def _follow_async(self, key: str, last: int, poll: float) -> AsyncGenerator[VisitRecord, None]:
        records, cursor = await self._run(self._store.history_since, key, None)
        for record in newest(records, last):
            yield record
        while True:
            records, cursor = await self._run(self._store.history_since, key, cursor)
            for record in records:
                yield record
            if not records:
                await asyncio.sleep(poll)

    async def record_rate_limit(self, url: str, retry_after: float | str, *, status: int = 429) -> None:
        """Record that the site rate limited a request: it answered ``status`` (429 or 503)
        with a ``Retry-After`` of ``retry_after``, seconds or the field's text (delay-seconds or
        an HTTP-date). The site is paused until then, for every agent sharing the store (the
        ``politeness`` plugin waits for it), and its quirk counts one more occurrence.

        More than a day counts as a day. The latest rate limit says when the pause ends,
        sooner or later than the one before said. Not a visit: record that with
        :meth:`record_visit`.

        :raises TypeError: ``retry_after`` is neither a number nor a str, or ``status`` no int.
        :raises ValueError: a negative or non-finite number, a text that is neither
            delay-seconds nor an HTTP-date, a status other than 429 or 503.
        """
        await self._apply(site_key(url), (RateLimited.create(retry_after, status, time.time()),))

    def record_rate_limit_sync(self, url: str, retry_after: float | str, *, status: int = 429) -> None:
        self._apply_now(site_key(url), (RateLimited.create(retry_after, status, time.time()),))

    # -- selectors ---------------------------------------------------------------------------

    async def cache_selector(
        self, url: str, purpose: str, selector: str, fallbacks: Iterable[str] | None = None
    ) -> None:
        """Remember ``selector`` (first) and ``fallbacks`` for ``purpose`` on the site."""
        await self._apply(site_key(url), (CacheSelector.create(purpose, selector, fallbacks, time.time()),))

    def cache_selector_sync(
        self, url: str, purpose: str, selector: str, fallbacks: Iterable[str] | None = None
    ) -> None:
        self._apply_now(site_key(url), (CacheSelector.create(purpose, selector, fallbacks, time.time()),))

    async def get_selector(self, url: str, purpose: str) -> Selector | None:
        """The remembered selector for ``purpose``; try ``.ranked()`` in order."""
        profile = await self.get_profile(url)
        return None if profile is None else profile.selectors.get(purpose)

    def get_selector_sync(self, url: str, purpose: str) -> Selector | None:
        profile = self.get_profile_sync(url)
        return None if profile is None else profile.selectors.get(purpose)

    async def record_selector_result(self, url: str, purpose: str, selector: str, ok: bool) -> None:
        """Record whether ``selector`` worked for ``purpose``; re-ranks primary and fallbacks."""
        await self._apply(site_key(url), (SelectorResult(purpose, selector, ok, time.time()),))

    def record_selector_result_sync(self, url: str, purpose: str, selector: str, ok: bool) -> None:
        self._apply_now(site_key(url), (SelectorResult(purpose, selector, ok, time.time()),))

    # -- quirks ------------------------------------------------------------------------------

    async def record_quirk(self, url: str, description: str, workaround: str | None = None) -> None:
        """Record a quirk; the same description again increments its ``occurrences``."""
        await self._apply(site_key(url), (QuirkSeen(description, workaround, time.time()),))

    def record_quirk_sync(self, url: str, description: str, workaround: str | None = None) -> None:
        self._apply_now(site_key(url), (QuirkSeen(description, workaround, time.time()),))

    async def record_quirk_result(self, url: str, description: str, ok: bool) -> None:
        """Confirm a known quirk (it happened again) or contradict it (it did not hold: its
        workaround failed, the oddity is gone); a quirk the site does not have is left alone."""
        await self._apply(site_key(url), (QuirkResult(description, ok, time.time()),))

    def record_quirk_result_sync(self, url: str, description: str, ok: bool) -> None:
        self._apply_now(site_key(url), (QuirkResult(description, ok, time.time()),))

    async def get_quirks(self, url: str) -> tuple[Quirk, ...]:
        profile = await self.get_profile(url)
        return () if profile is None else profile.quirks

    def get_quirks_sync(self, url: str) -> tuple[Quirk, ...]:
        profile = self.get_profile_sync(url)
        return () if profile is None else profile.quirks

    # -- action patterns ---------------------------------------------------------------------

    async def cache_action_pattern(self, url: str, task_type: str, actions: Iterable[Any]) -> None:
        """Remember the actions (JSON values) that accomplished ``task_type``.

        Raises :class:`TypeError` before writing anything if they are not JSON-serialisable.
        """
        await self._apply(site_key(url), (CachePattern.create(task_type, actions, time.time()),))

    def cache_action_pattern_sync(self, url: str, task_type: str, actions: Iterable[Any]) -> None:
        self._apply_now(site_key(url), (CachePattern.create(task_type, actions, time.time()),))

    async def get_action_pattern(self, url: str, task_type: str) -> ActionPattern | None:
        profile = await self.get_profile(url)
        return None if profile is None else profile.patterns.get(task_type)

    def get_action_pattern_sync(self, url: str, task_type: str) -> ActionPattern | None:
        profile = self.get_profile_sync(url)
        return None if profile is None else profile.patterns.get(task_type)

    async def record_pattern_result(self, url: str, task_type: str, ok: bool) -> None:
        """Record that replaying the pattern of ``task_type`` worked (a confirmation) or failed
        (a contradiction); a task the site has no pattern for is left alone."""
        await self._apply(site_key(url), (PatternResult(task_type, ok, time.time()),))

    def record_pattern_result_sync(self, url: str, task_type: str, ok: bool) -> None:
        self._apply_now(site_key(url), (PatternResult(task_type, ok, time.time()),))

    # -- prompt context ----------------------------------------------------------------------

    async def get_context_for_prompt(
        self, url: str, max_chars: int = DEFAULT_MAX_CHARS, *, tasks: Iterable[str] = ()
    ) -> str:
        """A compact text about the site for an LLM prompt, at most ``max_chars`` long, with the
        remembered steps of the task types ``tasks``; evidence weighed by this memory's half-life."""
        return render_context(await self.get_profile(url), max_chars, half_life=self.half_life,
                              tasks=check_tasks(tasks))

    def get_context_for_prompt_sync(
        self, url: str, max_chars: int = DEFAULT_MAX_CHARS, *, tasks: Iterable[str] = ()
    ) -> str:
        return render_context(self.get_profile_sync(url), max_chars, half_life=self.half_life,
                              tasks=check_tasks(tasks))

    # -- store-wide --------------------------------------------------------------------------

    async def flush(self) -> int:
        """Write pending updates now (write-behind); returns how many were written."""
        return await self._run(self._flush)

    def flush_sync(self) -> int:
        return self._flush()

    async def stats(self) -> StoreStats:
        """Cache hits and misses, reads, writes and lock waits in this process."""
        return self.stats_sync()

    def stats_sync(self) -> StoreStats:
        return self._store.stats.snapshot(len(self._behind) if self._behind else 0)

    async def import_legacy(self, path: str | os.PathLike[str] | IO[str]) -> ImportResult:
        """Merge a seed-format single JSON file (``{domain: profile}``; a path or a text file)
        into the store; a file that is not one is :class:`InvalidInput`, and nothing is written."""
        return await self._run(self._import_legacy, path)

    def import_legacy_sync(self, path: str | os.PathLike[str] | IO[str]) -> ImportResult:
        return self._import_legacy(path)

    async def export(self, file: str | os.PathLike[str] | IO[str]) -> int:
        """Write every site's document as JSON Lines to a path or text file; returns the count."""
        return await self._run(self._export, file)

    def export_sync(self, file: str | os.PathLike[str] | IO[str]) -> int:
        return self._export(file)

    async def import_jsonl(self, file: str | os.PathLike[str] | IO[str]) -> ImportResult:
        """Merge an :meth:`export` into the store: new sites as they are, known ones merged;
        importing the same file again counts nothing twice. Every line is checked first: a bad
        one is :class:`InvalidInput` naming the line and field, and nothing is written."""
        return await self._run(self._import_jsonl, file)

    def import_jsonl_sync(self, file: str | os.PathLike[str] | IO[str]) -> ImportResult:
        return self._import_jsonl(file)

    async def copy_to(self, other: SiteMemory, *, replace: bool = False) -> ImportResult:
        """Copy every site, document as it is, into ``other`` (e.g. a directory into Redis).

        Sites ``other`` has with a different document are skipped unless ``replace``; both
        stores are locked meanwhile, so no agent's update is lost or half-copied.
        """
        return await self._run(self._copy_to, other, replace)

    def copy_to_sync(self, other: SiteMemory, *, replace: bool = False) -> ImportResult:
        return self._copy_to(other, replace)

    async def prune(
        self, older_than: float | timedelta, *, dry_run: bool = False, min_confidence: float | None = None
    ) -> Pruned:
        """Forget sites with no activity (visit, selector, quirk, pattern) for ``older_than``
        (seconds or a ``timedelta``); returns their keys. ``dry_run`` only lists them.

        With ``min_confidence`` (in [0, 1]), the sites kept also lose the purposes, quirks and
        patterns less confident than that now; ``result.entries`` counts them per site."""
        return await self._run(self._prune, older_than, dry_run, min_confidence)

    def prune_sync(
        self, older_than: float | timedelta, *, dry_run: bool = False, min_confidence: float | None = None
    ) -> Pruned:
        return self._prune(older_than, dry_run, min_confidence)

    # -- the one implementation of each operation ----------------------------------------
    # These take a site key as site_key() (or a site-key plugin) gave it: the handles of
    # attach() compute a page's key once and call them directly.

    async def _profile(self, key: str) -> SiteProfile | None:
        hit, profile = self._cached(key)
        if hit:
            return profile
        if self._pending(key):  # may wait while this site's updates are written
            return await self._run_site(key, self._read, key)
        return await self._run(self._read, key)

    def _pending(self, key: str) -> bool:
        return self._behind is not None and self._behind.has(key)

    def _cached(self, key: str) -> tuple[bool, SiteProfile | None]:
        """``(True, profile)`` if memory can answer without I/O or a wait."""
        return (False, None) if self._pending(key) else self._store.cached(key)

    def _read(self, key: str) -> SiteProfile | None:
        if self._behind is not None and self._pending(key):
            return self._behind.read(key)
        return self._store.read(key)

    def _get_or_create(self, key: str) -> SiteProfile:
        profile = self._read(key)
        return profile if profile is not None else self._store.update(key, (Touch(time.time()),))

    def _attributed(self, updates: Sequence[Update]) -> Sequence[Update]:
        """``updates`` signed with this memory's agent and half-life (they are made, checked,
        by calls and plugins that know no memory)."""
        if not any(isinstance(u, Attributed) and u.by is None for u in updates):
            return updates
        return tuple(u.signed(self.agent, self.half_life) if isinstance(u, Attributed) else u
                     for u in updates)

    def _apply_now(self, key: str, updates: Sequence[Update]) -> None:
        """Apply ``updates`` to the site in order: one locked write (write-through), or queued."""
        updates = self._attributed(updates)
        if self._behind is None:
            self._store.update(key, tuple(updates))
            return
        self._make_room()
        for update in updates:
            self._behind.add(key, update)

    async def _apply(self, key: str, updates: Sequence[Update]) -> None:
        updates = self._attributed(updates)
        behind = self._behind
        if behind is None:
            await self._run_site(key, self._apply_now, key, updates)
            return
        if not self._store.opened or behind.full:
            # One worker at most: a flush that waits for a locked site must not take them all.
            await self._run_site(_FLUSH_GATE, self._make_room)
        for update in updates:
            behind.add(key, update)  # memory only: no reason to leave the loop

    def _submit(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn`` on this memory's worker threads; its future (see also :meth:`_run`)."""
        while True:
            executor = self._pool()
            try:
                return executor.submit(fn)
            except RuntimeError:
                if executor is self._executor:
                    raise
                # a close() in another thread shut that pool down; the next one serves

    def _make_room(self) -> None:
        self._store.open()
        if self._behind is not None:
            self._behind.make_room()

    def _list_sites(self) -> list[str]:
        keys = set(self._store.keys())
        if self._behind is not None:
            keys.update(self._behind.keys())
        return sorted(keys)

    def _forget(self, key: str, at: float) -> bool:
        had_pending = self._behind is not None and self._behind.discard(key)
        return self._store.delete(key, at) or had_pending

    def _flush(self) -> int:
        return self._behind.flush() if self._behind is not None else 0

    def _close_store(self) -> None:
        try:
            if self._behind is not None:
                self._behind.close()
        finally:
            self._store.close()

    def _export(self, file: str | os.PathLike[str] | IO[str]) -> int:
        self._flush()
        count = 0
        with _opened(file, "w") as out:
            for line in transfer.export_lines(self._store):
                out.write(line + "\n")
                count += 1
        return count

    def _import_jsonl(self, file: str | os.PathLike[str] | IO[str]) -> ImportResult:
        self._flush()
        with _opened(file, "r") as source:
            result = transfer.import_lines(self._store, source, getattr(source, "name", "<input>"))
        return result

    def _prune(self, older_than: float | timedelta, dry_run: bool, min_confidence: float | None) -> Pruned:
        self._flush()
        seconds = older_than.total_seconds() if isinstance(older_than, timedelta) else older_than
        return transfer.prune(self._store, float(seconds), dry_run=dry_run, min_confidence=min_confidence,
                              half_life=self.half_life)

    def _copy_to(self, other: SiteMemory, replace: bool) -> ImportResult:
        self._flush()
        other._flush()
        return transfer.copy_store(self._store, other._store, replace=replace)

    def _import_legacy(self, path: str | os.PathLike[str] | IO[str]) -> ImportResult:
        return legacy.import_file(self._store, Path(path) if isinstance(path, str | os.PathLike) else path)

    # -- threads -----------------------------------------------------------------------------

    async def _run_site(self, key: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """:meth:`_run` for a call that may wait on ``key``'s lock: one worker per site at most."""
        async with self._gates.hold(key):
            return await self._run(fn, *args, **kwargs)

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on a worker thread, awaited (as ``run_in_executor`` does)."""
        return await asyncio.wrap_future(self._submit(functools.partial(fn, *args, **kwargs)))

    def _pool(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._max_workers, "sitememory")
            return self._executor

    def _shutdown_executor(self) -> None:
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)


@contextmanager
def _opened(file: str | os.PathLike[str] | IO[str], mode: str) -> Iterator[IO[str]]:
    """A path opened as UTF-8 text (closed afterwards), or a file object as it is.

    For writing, a new file is created with mode 0600, like the store's files (a umask can only
    narrow it); an existing file is truncated and keeps its mode, as with ``>`` in a shell.
    """
    if isinstance(file, str | os.PathLike):
        # An export is the store's contents: as private as the store, whatever the umask says.
        with open(file, mode, encoding="utf-8", newline="\n",
                  opener=lambda path, flags: os.open(path, flags, 0o600)) as handle:
            yield handle
    else:
        yield file
