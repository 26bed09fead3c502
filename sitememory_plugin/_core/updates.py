"""Updates as values: each one is applied, as a pure function, to the current state of a site.

The store applies them under the site's lock to what is stored (write-through), or keeps them as
pending changes and applies them later in the same way (write-behind), so a batch never overwrites
what another process wrote in between. Every value is checked when the update is made, at the
call: a bad one raises there, and is never queued next to good ones.

Each update carries the time it was made. A forgotten site remembers when (:class:`Forget`), and
an update made before that is skipped wherever it waited: a forget wins over everything before it.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from . import ranking
from .bounds import (
    MAX_DESCRIPTION,
    MAX_ERROR,
    MAX_FALLBACKS,
    MAX_PATTERNS,
    MAX_PAUSE,
    MAX_PURPOSE,
    MAX_QUIRKS,
    MAX_SELECTOR,
    MAX_TASK_TYPE,
    MAX_TIMING_NAME,
    MAX_TIMINGS,
    MAX_WORKAROUND,
    check_actions,
    check_actions_size,
    check_text,
    shorten,
)
from .evidence import DEFAULT_HALF_LIFE
from .frozen import FrozenDict, freeze
from .history import VisitRecord, url_path
from .ledger import earlier, later
from .models import ActionPattern, Quirk, SiteProfile, recency, to_millis
from .ratelimit import RATE_LIMIT_STATUSES, WORKAROUND, latest_pause, quirk_description, retry_after_seconds
from .redact import redact

#: Error texts of a timeout: Playwright's "Timeout 30000ms exceeded", net::ERR_TIMED_OUT.
_TIMEOUT = re.compile(r"time(?:d)?[ _-]?out", re.IGNORECASE)


class Update(Protocol):
    """One change to a site, made at ``at``; ``apply`` returns the new state and never mutates
    its argument. ``origin`` is the store applying it (whose visit counts it adds to)."""

    @property
    def at(self) -> float: ...

    def apply(self, profile: SiteProfile, origin: str) -> SiteProfile: ...


def apply_all(
    profile: SiteProfile, updates: Iterable[Update], origin: str, *, waited: bool = False,
    kept: list[Update] | None = None,
) -> SiteProfile:
    """``updates`` applied in order. Those that ``waited`` (write-behind) and were made before the
    site was forgotten are skipped: a forget wins over updates made before it, wherever they
    waited. An update applied as it is made is as new as the forget, whatever the clocks say.

    ``kept``: gets each update as it was applied (what a forget skipped left out), for
    :func:`history_of`."""
    for update in updates:
        forgotten = profile.forgotten_at
        if waited and forgotten is not None:
            if update.at < forgotten:
                continue
            if isinstance(update, VisitBatch):  # some of it is as new as the forget: only that
                update = VisitBatch(tuple(v for v in update.visits if v.at >= forgotten))
        if kept is not None:
            kept.append(update)
        applied = update.apply(profile, origin)
        # A forgotten site lives again by an update that changes it (or a Touch): one that finds
        # nothing to change (a result for a quirk it no longer has) leaves it forgotten.
        changed = applied is not profile or isinstance(update, Touch)
        if applied.gone and changed and not isinstance(update, Forget):
            applied = replace(applied, gone=False)
        profile = applied
    return profile


def history_of(applied: Iterable[Update]) -> tuple[bool, list[VisitRecord]]:
    """What the updates :func:`apply_all` applied (its ``kept``) add to the site's history:
    whether it is cleared first (they forget the site), and the records of the visits after."""
    cleared, records = False, list[VisitRecord]()
    for update in applied:
        if isinstance(update, Forget):
            cleared, records = True, []
        elif isinstance(update, VisitSeen | VisitBatch):
            records.extend(v.record() for v in update.visits)
    return cleared, records


def creates(updates: Iterable[Update]) -> bool:
    """Whether ``updates`` make a site exist even when they change nothing (a :class:`Touch`)."""
    return any(isinstance(u, Touch) for u in updates)


def before_forget(profile: SiteProfile | None, updates: Iterable[Update]) -> int:
    """How many of ``updates`` (visits counted one by one) predate the site's forget."""
    cut = None if profile is None else profile.forgotten_at
    if cut is None:
        return 0
    return sum(sum(v.at < cut for v in u.visits) if isinstance(u, VisitBatch) else u.at < cut
               for u in updates)


def coalesce(updates: Iterable[Update]) -> list[Update]:
    """The same changes in fewer steps: each run of consecutive visits becomes one batch."""
    out: list[Update] = []
    run: list[VisitSeen] = []
    for update in updates:
        if isinstance(update, VisitSeen):
            run.append(update)
            continue
        if run:
            out.append(run[0] if len(run) == 1 else VisitBatch(tuple(run)))
            run = []
        out.append(update)
    if run:
        out.append(run[0] if len(run) == 1 else VisitBatch(tuple(run)))
    return out


@dataclass(frozen=True)
class VisitSeen:
    """A visit. Its error text is kept without credentials and at most :data:`MAX_ERROR` long;
    ``path`` is the URL's path, for the site's history (:mod:`.history`)."""

    duration: float
    at: float
    status: int | None = None
    error: str | None = None
    timings: Mapping[str, float] | None = None
    path: str = "/"

    @classmethod
    def create(
        cls, duration: float, status: int | None, error: object, timings: Mapping[str, float] | None,
        at: float, url: str | None = None,
    ) -> VisitSeen:
        """A visit as the public calls take it: ``error`` may be any object (its text is kept)."""
        return cls(duration, at, status, None if error is None else str(error), timings,
                   "/" if url is None else url_path(url))

    def record(self) -> VisitRecord:
        """The visit as the site's history keeps it."""
        return VisitRecord.create(self.at, self.path, self.duration, self.status, self.error, self.timings)

    def __post_init__(self) -> None:
        _check_number("duration", self.duration)
        if self.status is not None and (
            isinstance(self.status, bool) or not isinstance(self.status, int)
        ):
            raise TypeError("status must be an int HTTP status or None")
        if self.status is not None and not 0 <= self.status <= 999:
            raise ValueError(f"status must be an HTTP status code, not {self.status}")
        if self.error is not None:
            # Any length: an error comes from the browser, and is kept shortened.
            check_text("error", self.error, len(self.error), allow_empty=True)
            object.__setattr__(self, "error", shorten(redact(self.error), MAX_ERROR))
        if self.timings is not None:
            if not isinstance(self.timings, Mapping):
                raise TypeError("timings must be a mapping of names to seconds")
            if len(self.timings) > MAX_TIMINGS:
                raise ValueError(f"{len(self.timings)} timings given; at most {MAX_TIMINGS} are kept")
            for name, value in self.timings.items():
                check_text("timing name", name, MAX_TIMING_NAME)
                _check_number(f"timing {name!r}", value)

    @property
    def ok(self) -> bool:
        return self.error is None and (self.status is None or self.status < 400)

    @property
    def measures_load(self) -> bool:
        """Whether the duration says how long the site takes to load: a success's does, and a
        timeout's is a lower bound of it (so a site slower than the timeout is learned); a
        refused connection or an error page says nothing about it and would drag the
        percentiles down."""
        return self.ok or (self.status is None and _TIMEOUT.search(self.error or "") is not None)

    def apply(self, profile: SiteProfile, origin: str) -> SiteProfile:
        return VisitBatch((self,)).apply(profile, origin)

    @property
    def visits(self) -> tuple[VisitSeen, ...]:
        return (self,)


@dataclass(frozen=True)
class VisitBatch:
    """Several visits applied in one step; equal to applying them one by one."""

    visits: tuple[VisitSeen, ...]

    @property
    def at(self) -> float:
        # The batch is skipped only if all of it predates a forget; apply_all() filters the rest.
        return max(v.at for v in self.visits)

    def apply(self, profile: SiteProfile, origin: str) -> SiteProfile:
        if not self.visits:
            return profile
        ledger = profile.visits_ledger().record(
            origin, ((v.at, v.ok, to_millis(v.duration) if v.measures_load else None) for v in self.visits)
        )
        # The newest visit says what the site is like now, also when an older one arrives later.
        last, status, error, timings = (profile.last_visit, profile.last_status, profile.last_error,
                                        profile.last_timings)
        for v in self.visits:
            if last is None or v.at >= last:
                last, status, error = v.at, v.status, v.error
                if v.timings is not None:
                    timings = FrozenDict({str(k): float(t) for k, t in v.timings.items()})
        # One replace: the profile derives its counts from the ledger, none of the last_* fields.
        return replace(profile, ledger=ledger, last_visit=last, last_status=status, last_error=error,
                       last_timings=timings)


@dataclass(frozen=True, kw_only=True)
class Attributed:
    """What every update of an entry carries besides its change: who made it (the memory's
    ``agent``), and the half-life its memory weighs evidence with (which ranks and evicts)."""

    by: str | None = None
    half_life: float = DEFAULT_HALF_LIFE

    def signed(self, by: str, half_life: float) -> Any:
        """This update made by ``by``, weighing evidence with ``half_life`` (itself if signed
        already). A copy, not ``replace()``: its values were checked (and redacted) once."""
        if self.by is not None:
            return self
        signed = copy.copy(self)
        object.__setattr__(signed, "by", by)
        object.__setattr__(signed, "half_life", half_life)
        return signed


@dataclass(frozen=True)
class CacheSelector(Attributed):
    purpose: str
    selector: str
    fallbacks: tuple[str, ...]
    at: float
    #: The primary worked (an agent remembering it says so); ``False`` only names candidates.
    confirm: bool = True

    @classmethod
    def create(
        cls, purpose: str, selector: str, fallbacks: Iterable[str] | None, at: float, *,
        confirm: bool = True,
    ) -> CacheSelector:
        """``fallbacks`` as the public calls take them: any iterable of selectors but a ``str``."""
        if isinstance(fallbacks, str):
            raise TypeError("fallbacks must be a list of selectors, not a str")
        return cls(purpose, selector, tuple(fallbacks or ()), at, confirm)

    def __post_init__(self) -> None:
        check_text("purpose", self.purpose, MAX_PURPOSE)
        check_text("selector", self.selector, MAX_SELECTOR)
        if len(self.fallbacks) > MAX_FALLBACKS:
            raise ValueError(f"{len(self.fallbacks)} fallbacks given; at most {MAX_FALLBACKS} are kept")
        for fallback in self.fallbacks:
            check_text("fallback", fallback, MAX_SELECTOR)

    def apply(self, profile: SiteProfile, origin: str) -> SiteProfile:
        current = profile.selectors.get(self.purpose)
        new = ranking.with_candidates(current, self.purpose, self.selector, self.fallbacks, self.at,
                                      confirm=self.confirm, by=self.by)
        return ranking.with_selector(profile, new, self.at, self.half_life)


@dataclass(frozen=True)
class SelectorResult(Attributed):
    purpose: str
    selector: str
    ok: bool
    at: float

    def __post_init__(self) -> None:
        check_text("purpose", self.purpose, MAX_PURPOSE)
        check_text("selector", self.selector, MAX_SELECTOR)
        _check_bool(self.ok)

    def apply(self, profile: SiteProfile, origin: str) -> SiteProfile:
        current = profile.selectors.get(self.purpose)
        new = ranking.record_result(current, self.purpose, self.selector, self.ok, self.at,
                                    by=self.by, half_life=self.half_life)
        return ranking.with_selector(profile, new, self.at, self.half_life)


@dataclass(frozen=True)
class QuirkSeen(Attributed):
    """A quirk; its texts are kept without credentials."""

    description: str
    workaround: str | None
    at: float

    def __post_init__(self) -> None:
        check_text("description", self.description, MAX_DESCRIPTION)
        object.__setattr__(self, "description", redact(self.description))
        if self.workaround is not None:
            check_text("workaround", self.workaround, MAX_WORKAROUND, allow_empty=True)
            object.__setattr__(self, "workaround", redact(self.workaround))

    def apply(self, profile: SiteProfile, origin: str) -> SiteProfile:
        quirks = list(profile.quirks)
        for i, quirk in enumerate(quirks):
            if quirk.description == self.description:
                newer = quirk.last_seen is None or self.at >= quirk.last_seen
                quirks[i] = replace(
                    quirk,
                    occurrences=quirk.occurrences + 1,
                    workaround=self.workaround if self.workaround is not None and newer
                    else quirk.workaround,
                    last_seen=self.at if newer else quirk.last_seen,
                    first_seen=earlier(quirk.first_seen, self.at),
                    imported=False,
                )
                break
        else:
            quirks.append(Quirk(self.description, self.workaround, 1, self.at, self.at, origin=self.by))
            if len(quirks) > MAX_QUIRKS:  # the least confident of the others: a new one gets its chance
                quirks.remove(min(quirks[:-1], key=lambda q: (q.confidence(self.at, self.half_life),
                                                              recency(q.last_seen))))
        return replace(profile, quirks=tuple(quirks))


@dataclass(frozen=True)
class RateLimited(Attributed):
    """A rate limit: the site answered ``status`` (429 or 503) with a ``Retry-After`` of
    ``retry_after`` seconds (at most :data:`~.bounds.MAX_PAUSE`; more is cut to it).

    It counts an occurrence of the quirk :func:`~.ratelimit.quirk_description` names and pauses
    the site until ``at + retry_after``. The latest response says when the pause ends: a rate
    limit made later replaces the pause, longer or shorter; one made earlier (it waited, in a
    write-behind buffer or another store) adds only to the quirk's count.
    """

    retry_after: float
    status: int
    at: float

    @classmethod
    def create(cls, retry_after: float | str, status: int, at: float) -> RateLimited:
        """``retry_after`` as the public calls take it: seconds, or the text of a
        ``Retry-After`` field (delay-seconds or an HTTP-date, counted from ``at``)."""
        if isinstance(retry_after, str):
            seconds = retry_after_seconds(retry_after, at)
            if seconds is None:
                raise ValueError(
                    f"retry_after {retry_after[:60]!r} is neither a number of seconds nor an HTTP-date"
                )
            return cls(seconds, status, at)
        return cls(retry_after, status, at)

    def __post_init__(self) -> None:
        if isinstance(self.status, bool) or not isinstance(self.status, int):
            raise TypeError(f"status must be an int HTTP status, not {type(self.status).__name__}")
        if self.status not in RATE_LIMIT_STATUSES:
            raise ValueError(f"status must be 429 or 503 for a rate limit, not {self.status}")
        value = self.retry_after
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(
                f"retry_after must be seconds or a Retry-After value, not {type(value).__name__}"
            )
        # An int is compared as it is: float() of a huge one overflows, and it is finite anyway.
        if not (value >= 0 and (isinstance(value, int) or math.isfinite(value))):  # NaN: false
            raise ValueError(f"retry_after must be a finite number of seconds >= 0, not {value!r:.40}")
        object.__setattr__(self, "retry_after", float(min(value, MAX_PAUSE)))

    def apply(self, profile: SiteProfile, origin: str) -> SiteProfile:
        quirk = QuirkSeen(quirk_description(self.status), WORKAROUND, self.at, by=self.by,
                          half_life=self.half_life)
        profile = quirk.apply(profile, origin)
        at, until = latest_pause((self.at, self.at + self.retry_after),
                                 (profile.paused_at, profile.paused_until))
        return replace(profile, paused_at=at, paused_until=until)


@dataclass(frozen=True)
class QuirkResult(Attributed):
    """A known quirk confirmed (it happened again) or contradicted (it did not hold: its
    workaround failed, the oddity is gone); unknown quirks are left alone."""

    description: str
    ok: bool
    at: float

    def __post_init__(self) -> None:
        check_text("description", self.description, MAX_DESCRIPTION)
        object.__setattr__(self, "description", redact(self.description))
        _check_bool(self.ok)

    def apply(self, profile: SiteProfile, origin: str) -> SiteProfile:
        quirks = list(profile.quirks)
        for i, quirk in enumerate(quirks):
            if quirk.description == self.description:
                quirks[i] = (
                    replace(quirk, occurrences=quirk.occurrences + 1, imported=False,
                            first_seen=earlier(quirk.first_seen, self.at),
                            last_seen=later(quirk.last_seen, self.at))
                    if self.ok else
                    replace(quirk, contradictions=quirk.contradictions + 1,
                            last_contradicted=later(quirk.last_contradicted, self.at))
                )
                return replace(profile, quirks=tuple(quirks))
        return profile


@dataclass(frozen=True)
class CachePattern(Attributed):
    task_type: str
    actions: Sequence[Any]
    at: float

    def __post_init__(self) -> None:
        check_text("task_type", self.task_type, MAX_TASK_TYPE)

    @classmethod
    def create(cls, task_type: str, actions: Iterable[Any], at: float) -> CachePattern:
        """Validate ``actions`` as JSON now, so a bad payload fails before anything is written.

        They are kept as JSON would give them back (tuples as lists, keys as strings), at most
        :data:`~.bounds.MAX_ACTIONS` of them, nested at most
        :data:`~.bounds.MAX_ACTION_DEPTH` deep, and :data:`~.bounds.MAX_ACTIONS_BYTES` as JSON.
        """
        if isinstance(actions, str | bytes | Mapping):
            raise TypeError("actions must be a sequence of JSON values, e.g. a list of dicts")
        items = list(actions)
        check_actions(items)  # depth first: the JSON round trip below recurses
        try:
            encoded = json.dumps(items, allow_nan=False, ensure_ascii=False).encode()
            items = json.loads(encoded)
        except (TypeError, ValueError, RecursionError) as exc:  # a lone surrogate fails encode()
            raise TypeError(f"actions are not JSON-serialisable: {exc}") from exc
        # Again on what JSON made of them: a dict subclass can show the walk above other
        # children than the encoder reads.
        check_actions(items)
        check_actions_size(encoded)
        return cls(task_type, freeze(items), at)

    def apply(self, profile: SiteProfile, origin: str) -> SiteProfile:
        old = profile.patterns.get(self.task_type)
        if old is None:
            new = ActionPattern(self.task_type, self.actions, 1, self.at, self.at, origin=self.by)
        elif old.updated_at is not None and self.at < old.updated_at:  # it waited: keep the newer
            new = replace(old, times_cached=old.times_cached + 1, imported=False,
                          created_at=earlier(old.created_at, self.at))
        else:
            new = replace(old, actions=self.actions, times_cached=old.times_cached + 1,
                          updated_at=self.at, imported=False)
        return with_pattern(profile, new, self.at, self.half_life)


@dataclass(frozen=True)
class PatternResult(Attributed):
    """A replay of a known pattern worked (a confirmation) or failed (a contradiction); an
    unknown task type is left alone."""

    task_type: str
    ok: bool
    at: float

    def __post_init__(self) -> None:
        check_text("task_type", self.task_type, MAX_TASK_TYPE)
        _check_bool(self.ok)

    def apply(self, profile: SiteProfile, origin: str) -> SiteProfile:
        old = profile.patterns.get(self.task_type)
        if old is None:
            return profile
        new = (
            replace(old, times_cached=old.times_cached + 1, imported=False,
                    created_at=earlier(old.created_at, self.at), updated_at=later(old.updated_at, self.at))
            if self.ok else
            replace(old, contradictions=old.contradictions + 1,
                    last_contradicted=later(old.last_contradicted, self.at))
        )
        return replace(profile, patterns=FrozenDict({**profile.patterns, self.task_type: new}))


def with_pattern(
    profile: SiteProfile, pattern: ActionPattern, at: float, half_life: float
) -> SiteProfile:
    """``profile`` with ``pattern``, the least confident one evicted beyond :data:`MAX_PATTERNS`."""
    patterns = {**profile.patterns, pattern.task_type: pattern}
    if len(patterns) > MAX_PATTERNS:  # of the others: a new pattern gets its chance
        del patterns[min((t for t in patterns if t != pattern.task_type),
                         key=lambda t: (patterns[t].confidence(at, half_life),
                                        recency(patterns[t].updated_at)))]
    return replace(profile, patterns=FrozenDict(patterns))


@dataclass(frozen=True)
class Forget:
    """Forget everything known about the site, and every update made before ``at``."""

    at: float

    def apply(self, profile: SiteProfile, origin: str) -> SiteProfile:
        return SiteProfile(profile.domain, gone=True).with_ledger(profile.visits_ledger().forget(self.at))


@dataclass(frozen=True)
class Touch:
    """No change, but the site exists afterwards (``get_or_create_profile`` of a forgotten site)."""

    at: float

    def apply(self, profile: SiteProfile, origin: str) -> SiteProfile:
        return profile


#: Largest number of seconds a duration or timing may be (about 30 years): bounded, so that
#: it converts to milliseconds and back exactly.
MAX_SECONDS = 1e9


def _check_number(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not 0 <= value <= MAX_SECONDS:  # also false for NaN
        raise ValueError(f"{name} must be a finite number of seconds in [0, 1e9], not {value!r:.40}")


def _check_bool(ok: object) -> None:
    if not isinstance(ok, bool):
        raise TypeError(f"ok must be a bool, not {type(ok).__name__}")
