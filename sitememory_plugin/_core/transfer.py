"""Moving a store's knowledge in and out: JSON Lines export and import, copies between stores,
and pruning old sites.

An export is one site document per line, exactly as stored. Importing merges each line into the
store's document of that site (:func:`~.merge.merge`): the same knowledge in whatever order, how
many times it comes, so importing an export again, an older one, or one that went round through
another store counts nothing twice. Import checks the whole input first and writes nothing when a
line is bad.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .bounds import MAX_HISTORY, MAX_ORIGIN_NAME, shorten
from .documents import within_bounds
from .errors import InvalidInput, StoreFormatError, VersionTooNew
from .evidence import DEFAULT_HALF_LIFE, Evidence
from .frozen import FrozenDict
from .history import newest
from .keys import site_key
from .merge import equivalent, merge
from .models import Reader, SiteProfile, read_document
from .storage import Storage
from .validate import check_document


@dataclass(frozen=True)
class ImportResult:
    """What an import did: sites written, and entries skipped with the reason."""

    imported: tuple[str, ...]
    skipped: Mapping[str, str] = field(default_factory=lambda: FrozenDict({}))


def export_lines(store: Storage) -> Iterator[str]:
    """Each site's document as one line of JSON (no newline), in site-key order."""
    sites = store.keys()
    for key in sites:
        profile = store.read(key)
        if profile is not None:
            yield json.dumps(
                profile.to_dict(), ensure_ascii=False, allow_nan=False, separators=(",", ":")
            )


def read_lines(lines: Iterable[str], source: str = "<input>") -> list[SiteProfile]:
    """Every line's site document, checked; :class:`InvalidInput` naming the first bad line (and
    its field) if any is not a valid document of a valid site, or the input is not UTF-8 text.
    ``lines`` is iterated once, so standard input works as a file does."""
    out: list[SiteProfile] = []
    now = time.time()
    for number, line in enumerate(_decoded(lines, source), start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            doc = json.loads(line)
            check_document(doc)
            profile = read_document(doc, Reader(now))[0]
            try:
                valid = site_key(profile.domain) == profile.domain
            except ValueError as exc:
                raise StoreFormatError(f"domain: {exc}") from None
            if not valid:
                raise StoreFormatError(f"domain: {profile.domain!r} is not a site key")
        except VersionTooNew as exc:
            raise VersionTooNew(f"{where}: {exc}") from None
        except (ValueError, TypeError, RecursionError) as exc:  # StoreFormatError is a ValueError
            raise InvalidInput(f"{where}: {exc}", source, number) from None
        out.append(profile)
    return out


def _decoded(lines: Iterable[str], source: str) -> Iterator[str]:
    """``lines``, with a file's decoding error as :class:`InvalidInput`."""
    iterator = iter(lines)
    count = 0
    while True:
        try:
            line = next(iterator)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            # A text file decodes ahead of the line it hands out: which line is not known exactly.
            after = f" after line {count}" if count else ""
            raise InvalidInput(f"{source}: not UTF-8 text{after} ({exc.reason})", source, count + 1) from None
        count += 1
        yield line


def import_lines(store: Storage, lines: Iterable[str], source: str = "<input>") -> ImportResult:
    """Merge JSON Lines of site documents into ``store`` under :meth:`Storage.maintenance`.

    Every line is read and checked before anything is written (see :func:`read_lines`). What it
    brings is another store's evidence: each entry is marked imported (unconfirmed here until an
    agent here confirms it), and one that names no origin gets ``import <source>``.
    """
    incoming = [as_imported(p, f"import {source}") for p in read_lines(lines, source)]
    imported, skipped = merge_into(store, incoming)
    return ImportResult(tuple(imported), FrozenDict(skipped))


def merge_into(store: Storage, incoming: Iterable[SiteProfile]) -> tuple[list[str], dict[str, str]]:
    """Merge profiles into ``store``, holding it; the keys changed, and those skipped with why."""
    imported: list[str] = []
    skipped: dict[str, str] = {}
    with store.maintenance():
        for profile in incoming:
            key = profile.domain
            # Cut to the bounds, as the store's own documents from before them are.
            if not merged_in(store, within_bounds(profile)):
                skipped[key] = "already known"
            elif key not in imported:
                imported.append(key)
    return imported, skipped


def as_imported(profile: SiteProfile, origin: str) -> SiteProfile:
    """``profile`` with every selector candidate, quirk and pattern marked imported."""
    def mark(entry: Any) -> Any:
        return replace(entry, imported=True, origin=entry.origin or shorten(origin, MAX_ORIGIN_NAME))

    return replace(
        profile,
        selectors=FrozenDict({
            p: replace(s, candidates=FrozenDict({c: mark(st) for c, st in s.candidates.items()}))
            for p, s in profile.selectors.items()
        }),
        quirks=tuple(mark(q) for q in profile.quirks),
        patterns=FrozenDict({t: mark(a) for t, a in profile.patterns.items()}),
    )


class _Unread(enum.Enum):
    UNREAD = enum.auto()


def merged_in(
    store: Storage, profile: SiteProfile, current: SiteProfile | _Unread | None = _Unread.UNREAD
) -> bool:
    """Merge ``profile`` into the site's state in ``store``, which the caller holds; ``False``
    when that changes nothing (and nothing is written). ``current``: that state, if the caller
    has just read it (:meth:`Storage.read_locked`); by default it is read here."""
    if current is _Unread.UNREAD:
        current = store.read_locked(profile.domain)
    merged = profile if current is None else merge(current, profile)
    if current is not None and equivalent(merged, current):
        return False
    store.put(profile.domain, merged)
    trim_history(store, merged)
    return True


def trim_history(store: Storage, profile: SiteProfile) -> None:
    """Drop from the site's history the visits its forget (perhaps just merged in) discarded;
    a tombstone's history went with it when it was put."""
    cut = profile.forgotten_at
    if cut is None or profile.gone:
        return
    history = store.history(profile.domain)
    kept = [r for r in history if r.at >= cut]
    if len(kept) != len(history):
        store.put_history(profile.domain, kept)


def last_activity(profile: SiteProfile) -> float | None:
    """When anything was last learned about the site: a visit, a selector, a quirk, a pattern."""
    times = [profile.last_visit, profile.first_visit, profile.forgotten_at]
    times += [s.updated_at for s in profile.selectors.values()]
    times += [q.last_seen for q in profile.quirks]
    times += [p.updated_at for p in profile.patterns.values()]
    known = [t for t in times if t is not None]
    return max(known) if known else None


class Pruned(list[str]):
    """The keys of the sites :func:`prune` forgot, and in :attr:`entries`, for each site it kept,
    how many entries it dropped for their low confidence."""

    def __init__(self, keys: Iterable[str] = (), entries: Mapping[str, int] | None = None) -> None:
        super().__init__(keys)
        self.entries: dict[str, int] = dict(entries or {})


def prune(
    store: Storage, older_than: float, *, dry_run: bool = False, min_confidence: float | None = None,
    half_life: float = DEFAULT_HALF_LIFE,
) -> Pruned:
    """Forget every site with no activity in the last ``older_than`` seconds; the keys forgotten.

    A site with no timestamp at all is kept: nothing says it is old. Tombstones of sites
    forgotten longer ago are removed too (silently: they are no sites). With ``min_confidence``,
    the sites kept lose their purposes, quirks and patterns whose confidence is below it. Runs
    under :meth:`Storage.maintenance`, so no update is lost to a concurrent write.
    """
    if older_than < 0:
        raise ValueError("older_than must be >= 0 seconds")
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise ValueError(f"min_confidence must be in [0, 1], not {min_confidence!r}")
    now = time.time()
    cutoff = now - older_than
    gone = Pruned()
    with store.maintenance():
        sites = store.keys()
        for key in sites:
            profile = store.read_locked(key)
            seen = None if profile is None else last_activity(profile)
            if seen is not None and seen < cutoff:
                if not dry_run:
                    store.remove_locked(key)
                gone.append(key)
            elif profile is not None and min_confidence is not None:
                kept, dropped = confident(profile, min_confidence, now, half_life)
                if dropped:
                    gone.entries[key] = dropped
                    if not dry_run:
                        store.put(key, kept)
        if not dry_run:
            for key in store.tombstones():
                tomb = store.read_locked(key)
                if tomb is not None and tomb.gone and (last_activity(tomb) or 0) < cutoff:
                    store.remove_locked(key)
    return gone


def confident(
    profile: SiteProfile, minimum: float, now: float, half_life: float
) -> tuple[SiteProfile, int]:
    """``profile`` without the purposes, quirks and patterns gone stale (less confident than
    ``minimum``: :meth:`~.evidence.Evidence.stale`; a purpose when all its candidates are), and
    how many went."""
    def kept(evidence: Evidence) -> bool:
        return not evidence.stale(minimum, now, half_life)

    selectors = {p: s for p, s in profile.selectors.items()
                 if any(kept(s.stats(c).evidence) for c in s.ranked())}
    quirks = tuple(q for q in profile.quirks if kept(q.evidence))
    patterns = {t: a for t, a in profile.patterns.items() if kept(a.evidence)}
    dropped = (len(profile.selectors) - len(selectors) + len(profile.quirks) - len(quirks)
               + len(profile.patterns) - len(patterns))
    if not dropped:
        return profile, 0
    return replace(profile, selectors=FrozenDict(selectors), quirks=quirks,
                   patterns=FrozenDict(patterns)), dropped


def copy_history(src: Storage, dst: Storage, key: str) -> None:
    """Join the site's visit history in ``src`` into ``dst``'s, once ``dst`` holds the site as
    copied: both stores' visits, each once, but none a forget discarded (none at all for a
    forgotten site), the most recent :data:`~.bounds.MAX_HISTORY` kept. The caller holds both
    stores."""
    state = dst.read_locked(key)
    if state is None or state.gone:
        return
    cut = float("-inf") if state.forgotten_at is None else state.forgotten_at
    theirs = [r for r in src.history(key) if r.at >= cut]
    ours = dst.history(key)
    joined = newest({r.to_line(): r for r in (*ours, *theirs) if r.at >= cut}.values(), MAX_HISTORY)
    if joined != ours:
        dst.put_history(key, joined)


def copy_store(src: Storage, dst: Storage, *, replace: bool = False) -> ImportResult:
    """Copy every site from ``src`` to ``dst`` (any backend to any other).

    Both stores are held (:meth:`Storage.maintenance`), so no update lands in either meanwhile.
    A site ``dst`` does not have is copied as it is; one it has is merged as an import would
    (skipped when that changes nothing), or overwritten with ``replace``. The tombstones of
    forgotten sites are merged in too.
    """
    if src.identity() == dst.identity():
        raise ValueError(f"source and destination are the same store: {src.location}")
    copied: list[str] = []
    skipped: dict[str, str] = {}
    with src.maintenance(), dst.maintenance():
        # Tombstones too, so that what the source forgot stays forgotten there (not listed).
        for key in src.tombstones():
            tomb = src.read_locked(key)
            if tomb is not None and tomb.gone:
                merged_in(dst, tomb)
        sites = src.keys()
        for key in sites:
            profile = src.read_locked(key)
            if profile is None or profile.gone:
                continue
            existing = dst.read_locked(key)
            if existing is not None and existing.to_dict() == profile.to_dict():
                skipped[key] = "identical"
            elif replace or existing is None:
                dst.put(key, profile)
                copied.append(key)
            elif merged_in(dst, profile, existing):
                copied.append(key)
            else:
                skipped[key] = "already known"
            copy_history(src, dst, key)
    return ImportResult(tuple(copied), FrozenDict(skipped))
