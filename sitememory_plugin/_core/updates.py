"""Updates as values: each one is applied, as a pure function, to the current state of a site.

The store applies them under the site's lock to what is on disk (write-through), or keeps them as
pending changes and applies them later in the same way (write-behind), so a batch never overwrites
what another process wrote in between.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Protocol

from . import ranking
from .models import LOAD_WINDOW, RECENT_WINDOW, ActionPattern, Quirk, SiteProfile, freeze, quantize

#: Error texts of a timeout: Playwright's "Timeout 30000ms exceeded", net::ERR_TIMED_OUT.
_TIMEOUT = re.compile(r"time(?:d)?[ _-]?out", re.IGNORECASE)


class Update(Protocol):
    """One change to a site; ``apply`` returns the new state and never mutates its argument."""

    def apply(self, profile: SiteProfile) -> SiteProfile: ...


def apply_all(profile: SiteProfile, updates: Iterable[Update]) -> SiteProfile:
    for update in updates:
        profile = update.apply(profile)
    return profile


def coalesce(updates: Iterable[Update]) -> list[Update]:
    """The same changes in fewer steps: each run of consecutive visits becomes one batch."""
    out: list[Update] = []
    run: list[Visit] = []
    for update in updates:
        if isinstance(update, Visit):
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
class Visit:
    duration: float
    at: float
    status: int | None = None
    error: str | None = None
    timings: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        _check_number("duration", self.duration)
        if self.status is not None and (
            isinstance(self.status, bool) or not isinstance(self.status, int)
        ):
            raise TypeError("status must be an int HTTP status or None")
        if self.status is not None and not 0 <= self.status <= 999:
            raise ValueError(f"status must be an HTTP status code, not {self.status}")
        if self.error is not None:
            _check_text("error", self.error, allow_empty=True)
        if self.timings is not None:
            if not isinstance(self.timings, Mapping):
                raise TypeError("timings must be a mapping of names to seconds")
            for name, value in self.timings.items():
                _check_text("timing name", name)
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

    def apply(self, profile: SiteProfile) -> SiteProfile:
        return VisitBatch((self,)).apply(profile)


@dataclass(frozen=True)
class VisitBatch:
    """Several visits applied in one step; equal to applying them one by one."""

    visits: tuple[Visit, ...]

    def apply(self, profile: SiteProfile) -> SiteProfile:
        visits = self.visits
        ok = sum(1 for v in visits if v.ok)
        times = [v.at for v in visits]
        if profile.first_visit is not None:
            times.append(profile.first_visit)
        latest = [v.at for v in visits]
        if profile.last_visit is not None:
            latest.append(profile.last_visit)
        timings = next((v.timings for v in reversed(visits) if v.timings is not None), None)
        return replace(
            profile,
            visit_count=profile.visit_count + len(visits),
            success_count=profile.success_count + ok,
            failure_count=profile.failure_count + len(visits) - ok,
            first_visit=min(times),
            last_visit=max(latest),
            last_status=visits[-1].status,
            last_error=visits[-1].error,
            load_times=(
                *profile.load_times, *(quantize(v.duration) for v in visits if v.measures_load)
            )[-LOAD_WINDOW:],
            recent_outcomes=(*profile.recent_outcomes, *(v.ok for v in visits))[-RECENT_WINDOW:],
            last_timings=(
                MappingProxyType({str(k): float(v) for k, v in timings.items()})
                if timings is not None else profile.last_timings
            ),
        )


@dataclass(frozen=True)
class CacheSelector:
    purpose: str
    selector: str
    fallbacks: tuple[str, ...]
    at: float

    def __post_init__(self) -> None:
        _check_text("purpose", self.purpose)
        _check_text("selector", self.selector)
        for fallback in self.fallbacks:
            _check_text("fallback", fallback)

    def apply(self, profile: SiteProfile) -> SiteProfile:
        current = profile.selectors.get(self.purpose)
        new = ranking.with_candidates(current, self.purpose, self.selector, self.fallbacks, self.at)
        return replace(profile, selectors=MappingProxyType({**profile.selectors, self.purpose: new}))


@dataclass(frozen=True)
class SelectorResult:
    purpose: str
    selector: str
    ok: bool
    at: float

    def __post_init__(self) -> None:
        _check_text("purpose", self.purpose)
        _check_text("selector", self.selector)

    def apply(self, profile: SiteProfile) -> SiteProfile:
        current = profile.selectors.get(self.purpose)
        new = ranking.record_result(current, self.purpose, self.selector, bool(self.ok), self.at)
        return replace(profile, selectors=MappingProxyType({**profile.selectors, self.purpose: new}))


@dataclass(frozen=True)
class QuirkSeen:
    description: str
    workaround: str | None
    at: float

    def __post_init__(self) -> None:
        _check_text("description", self.description)
        if self.workaround is not None and not isinstance(self.workaround, str):
            raise TypeError("workaround must be a str or None")

    def apply(self, profile: SiteProfile) -> SiteProfile:
        quirks = list(profile.quirks)
        for i, quirk in enumerate(quirks):
            if quirk.description == self.description:
                quirks[i] = replace(
                    quirk,
                    occurrences=quirk.occurrences + 1,
                    workaround=self.workaround if self.workaround is not None else quirk.workaround,
                    last_seen=self.at,
                )
                break
        else:
            quirks.append(Quirk(self.description, self.workaround, 1, self.at, self.at))
        return replace(profile, quirks=tuple(quirks))


@dataclass(frozen=True)
class CachePattern:
    task_type: str
    actions: tuple[Any, ...]
    at: float

    def __post_init__(self) -> None:
        _check_text("task_type", self.task_type)

    @classmethod
    def create(cls, task_type: str, actions: Iterable[Any], at: float) -> CachePattern:
        """Validate ``actions`` as JSON now, so a bad payload fails before anything is written.

        They are kept as JSON would give them back (tuples as lists, keys as strings)."""
        if isinstance(actions, str | bytes | Mapping):
            raise TypeError("actions must be a sequence of JSON values, e.g. a list of dicts")
        try:
            text = json.dumps(list(actions), allow_nan=False, ensure_ascii=False)
            text.encode()  # a lone surrogate passes dumps but can never be written
            items = json.loads(text)
        except (TypeError, ValueError, RecursionError) as exc:
            raise TypeError(f"actions are not JSON-serialisable: {exc}") from exc
        return cls(task_type, freeze(items), at)

    def apply(self, profile: SiteProfile) -> SiteProfile:
        old = profile.patterns.get(self.task_type)
        new = (
            ActionPattern(self.task_type, self.actions, 1, self.at, self.at) if old is None
            else replace(old, actions=self.actions, times_cached=old.times_cached + 1,
                         updated_at=self.at)
        )
        return replace(profile, patterns=MappingProxyType({**profile.patterns, self.task_type: new}))


#: Largest number of seconds a duration or timing may be (about 30 years): bounded, so that
#: it converts to milliseconds and back exactly.
MAX_SECONDS = 1e9


def _check_number(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not 0 <= value <= MAX_SECONDS:  # also false for NaN
        raise ValueError(f"{name} must be a finite number of seconds in [0, 1e9], not {value!r:.40}")


def _check_text(name: str, value: object, *, allow_empty: bool = False) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise ValueError(f"{name} must not be empty")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not valid Unicode (it has a lone surrogate)") from None
