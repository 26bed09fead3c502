"""The Redis store: the same site documents as the file store, in one Redis database.

An update is optimistic: the client applies the update to the state it has (its cache, or
nothing) and asks a script to commit it only if the site's version is still that state's; if
another client committed first, the script answers with the current document and the client
applies the update again. One round trip when nobody else wrote, no lock held across the
network, and the merge logic stays in Python (:mod:`.updates`), shared with the file store.

A retried update is never applied twice: each carries an operation id, and the site keeps the
ids of its last updates, so a retry after a reply lost to a dropped connection answers "done"
(write-behind keeps the id of a batch whose flush failed for its next attempt).

The store-wide :meth:`RedisStore.maintenance` lock (import, prune, migrate) is an expiring
Redis key: updates wait for it, and a crashed holder's lock expires.

Version 2 of the store keeps an origin id in ``<prefix>:meta`` (see :mod:`.ledger`); opening a
version-1 store adds one, and later clients of the old version refuse it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from . import redisscripts
from .bounds import MAX_HISTORY
from .cache import ANY, Entry, TTLCache
from .documents import Parsed, encode, parse
from .errors import BackendUnavailable, LockLost, LockTimeout, StoreFormatError, VersionTooNew
from .history import VisitRecord, newest
from .models import SiteProfile
from .redisconn import RedisOptions, Retrying, connect, eviction_policy
from .redislock import MAX_POLL, ExpiringLock
from .stats import Counters
from .storage import Backend, BatchId, Durability, live, new_origin, note_forgotten
from .updates import Update, apply_all, creates, history_of

log = logging.getLogger("sitememory.redisstore")

STORE_FORMAT = "sitememory-redis"
STORE_VERSION = 2
#: Oldest server with script flags (``#!lua``), which keep out-of-memory writes whole.
MIN_SERVER = (7, 0)
#: Longest a follower of a history blocks in one call, in seconds (at most half the socket
#: timeout, so that a block never reads as a dead server).
_MAX_BLOCK = 1.0


@dataclass(frozen=True)
class _Absent:
    """Cache signature of a site this process deleted, at the deletion's version."""

    version: int


def _version(signature: object) -> int:
    """The version a cache signature stands for; -1 when it says nothing about order."""
    if isinstance(signature, int):
        return signature
    return signature.version if isinstance(signature, _Absent) else -1


def _known(entry: Entry[SiteProfile] | None) -> str:
    """The version to send for a cached entry: "" for none or for a site known absent."""
    return str(entry.signature) if entry is not None and isinstance(entry.signature, int) else ""


def _records(entries: list[Any]) -> list[VisitRecord]:
    """The records of stream entries (id, {b"v": line}), junk skipped."""
    return [r for _, fields in entries if (r := VisitRecord.from_line(fields.get(b"v", b"")))]


class _Scripts:
    def __init__(self, client: Any) -> None:
        self.update = client.register_script(redisscripts.UPDATE)
        self.fetch = client.register_script(redisscripts.FETCH)
        self.delete = client.register_script(redisscripts.DELETE)
        self.put = client.register_script(redisscripts.PUT)
        self.quarantine = client.register_script(redisscripts.QUARANTINE)
        self.acquire = client.register_script(redisscripts.ACQUIRE)
        self.renew = client.register_script(redisscripts.RENEW)
        self.release = client.register_script(redisscripts.RELEASE)


class RedisStore(Backend):
    """Site documents in Redis under ``prefix``, shared by any number of clients and machines."""

    def __init__(
        self,
        url: str,
        *,
        lock_timeout: float = 10.0,
        cache_ttl: float | None = 60.0,
        durability: Durability = "fsync",
    ) -> None:
        if durability not in ("fsync", "none"):
            raise ValueError(f"durability must be 'fsync' or 'none', not {durability!r}")
        if lock_timeout is not None and lock_timeout < 0:
            raise ValueError("lock_timeout must be >= 0")
        self.options = RedisOptions.parse(url)
        self.lock_timeout = lock_timeout
        self.durability = durability
        self.cache: TTLCache[SiteProfile] = TTLCache(cache_ttl)
        self.stats = Counters()
        self._call = Retrying(self.options, lambda: self.stats.add("backend_retries"))
        p = self.options.prefix
        self._sites, self._clock, self._lock_key, self._gone = (
            f"{p}:sites", f"{p}:clock", f"{p}:lock", f"{p}:gone")
        self._meta = self.options.meta_key
        self._origin = ""
        self._client: Any = None
        self._run_id = ""
        self._scripts: _Scripts | None = None
        self._maintenance: ExpiringLock | None = None
        self._open_lock = threading.Lock()
        # Cache writes compare versions under this lock, so a slow thread never caches an older
        # state over a newer one another thread committed.
        self._newest = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def location(self) -> str:
        return self.options.display

    @property
    def opened(self) -> bool:
        return self._scripts is not None

    def identity(self) -> str:
        self.open()
        db = self._client.connection_pool.connection_kwargs.get("db", 0)
        return f"redis:{self._run_id}:{db}:{self.options.prefix}"

    def open(self) -> None:
        """Connect, check the server and the store's format. Idempotent."""
        if self._scripts is not None:
            return
        with self._open_lock:
            if self._scripts is not None:
                return
            client = connect(self.options)
            info = self._call("connect", client.info, "server")
            version = tuple(int(x) for x in str(info.get("redis_version", "0.0")).split(".")[:2])
            if version < MIN_SERVER:
                raise StoreFormatError(
                    f"Redis {info.get('redis_version')} at {self.location} is too old: the store "
                    f"needs Redis {'.'.join(map(str, MIN_SERVER))} or later")
            self._run_id = str(info.get("run_id", self.location))
            self._origin = self._check_format(client)
            self._warn_if_evicting(client)
            if self.durability == "fsync":
                self._warn_if_volatile(client)
            self._client = client
            self._scripts = _Scripts(client)

    def _check_format(self, client: Any) -> str:
        """Check the store's marker, creating it for a new store and upgrading a version-1 one;
        the store's origin id."""
        meta = self._call("connect", client.hgetall, self._meta)
        if not meta:  # a new store; read-only when it exists, so a full server can be read
            self._call("connect", client.hsetnx, self._meta, "format", STORE_FORMAT)
            self._call("connect", client.hsetnx, self._meta, "version", str(STORE_VERSION))
            meta = self._call("connect", client.hgetall, self._meta)
        found = meta.get(b"format", b"").decode()
        if found != STORE_FORMAT:
            raise StoreFormatError(f"{self.location} holds {found!r} under prefix "
                                   f"{self.options.prefix!r}, not a sitememory store")
        version = int(meta.get(b"version", b"0"))
        if version > STORE_VERSION:
            raise VersionTooNew(f"store version {meta[b'version'].decode()} is newer than this "
                                f"library ({STORE_VERSION}); upgrade sitememory-plugin")
        if b"origin" in meta and version == STORE_VERSION:
            return str(meta[b"origin"].decode())
        # One origin, whoever upgrades first; then the version that old clients refuse.
        self._call("upgrade", client.hsetnx, self._meta, "origin", new_origin())
        self._call("upgrade", client.hset, self._meta, "version", str(STORE_VERSION))
        origin = self._call("upgrade", client.hget, self._meta, "origin")
        if version < STORE_VERSION:
            log.info("upgraded the store at %s to version %d", self.location, STORE_VERSION)
        return str(origin.decode())

    def _warn_if_volatile(self, client: Any) -> None:
        info = self._call("connect", client.info, "persistence")
        if not info.get("aof_enabled"):
            log.warning("Redis at %s runs without appendonly: a restart keeps only its last "
                        "snapshot (set appendonly yes for durable updates)", self.location)

    def _warn_if_evicting(self, client: Any) -> None:
        policy = eviction_policy(client, self._call)
        if policy not in (None, "noeviction"):
            log.warning("Redis at %s evicts keys when full (maxmemory-policy %s): sites and the "
                        "store's marker can vanish without an error (set maxmemory-policy "
                        "noeviction)", self.location, policy)

    def after_fork(self) -> None:
        """In a forked child: fresh thread locks (redis-py reconnects by itself)."""
        self._open_lock = threading.Lock()
        self._newest = threading.Lock()
        self._maintenance = None
        self.cache.after_fork()
        self.stats.after_fork()

    def close(self) -> None:
        self.cache.clear()
        with self._open_lock:
            client, self._client, self._scripts = self._client, None, None
        if client is not None:
            client.close()

    # -- keys --------------------------------------------------------------------------------

    def _site(self, key: str) -> str:
        return f"{self.options.prefix}:site:{key}"

    def _history(self, key: str) -> str:
        return f"{self.options.prefix}:visits:{key}"

    def _ready(self) -> _Scripts:
        self.open()
        assert self._scripts is not None
        return self._scripts

    # -- reads -------------------------------------------------------------------------------

    def read(self, key: str) -> SiteProfile | None:
        scripts = self._ready()
        hit, value = self.cached(key)
        if hit:
            return value
        entry = self.cache.get(key)
        reply = self._call("read", scripts.fetch, keys=[self._site(key)], args=[_known(entry)])
        now = time.monotonic()
        if entry is not None and len(reply) <= 1:
            # Absent on the server is what an entry cached by our own delete says, too.
            absent = entry.signature if isinstance(entry.signature, _Absent) else None
            current = int(reply[0]) if reply else absent
            if self.cache.confirm(entry, current, now):
                self.stats.add("cache_revalidations")
                return live(entry.value)
            if reply:  # another thread replaced our entry meanwhile: take the server's state
                return self.read_locked(key)
        self.stats.add("cache_misses")
        return self._take(key, reply, seen=entry)

    def state(self, key: str) -> SiteProfile | None:
        """:meth:`read`, or the site's tombstone if it was forgotten (cached like a profile)."""
        profile = self.read(key)
        if profile is not None:
            return profile
        entry = self.cache.get(key)
        return None if entry is None else entry.value

    def lock_group(self, key: str) -> str:
        """Updates wait only for the store-wide lock: one group."""
        return self._lock_key

    def read_locked(self, key: str) -> SiteProfile | None:
        """The stored state, its tombstone included; the caller holds :meth:`maintenance`."""
        reply = self._call("read", self._ready().fetch, keys=[self._site(key)], args=[""])
        return self._take(key, reply, tombstone=True)

    def _take(
        self, key: str, reply: list[bytes], seen: Entry[SiteProfile] | object | None = ANY,
        *, tombstone: bool = False,
    ) -> SiteProfile | None:
        """Parse a FETCH reply ({} or {version, document}) and cache it."""
        self.stats.add("reads")
        if not reply:
            self.cache.put(key, None, None, time.monotonic(), unless_changed_from=seen)
            return None
        profile, version = self._parse(key, int(reply[0]), reply[1])
        if profile is None:
            return None
        # A tombstone is cached as it is: an update builds on it, a read sees nothing.
        self._remember(key, profile, version, seen)
        return profile if tombstone else live(profile)

    def _parse(self, key: str, version: int, doc: bytes) -> tuple[SiteProfile | None, int]:
        """The document and its version, or ``None`` after moving a corrupt one aside (like the
        file store); one that reading had to repair is written back repaired unless another
        client wrote first, and then the version is the repaired document's."""
        try:
            parsed = parse(doc, key, time.time())
        except VersionTooNew:
            raise
        except StoreFormatError as exc:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            aside = f"{self.options.prefix}:corrupt:{key}:{stamp}-{time.time_ns() % 10**9:09d}"
            moved = self._call("quarantine", self._ready().quarantine,
                               keys=[self._site(key), self._sites, aside, self._gone],
                               args=[version, key])
            self.cache.drop(key)
            if moved:
                self.stats.add("corrupt_files")
                log.warning("corrupt site document %s moved aside to %s (%s); the site starts "
                            "fresh", self._site(key), aside, exc)
            return None, version
        if parsed.repaired:
            return self._repair(key, version, parsed)
        return parsed.profile, version

    def _repair(self, key: str, version: int, parsed: Parsed) -> tuple[SiteProfile, int]:
        """Write the repaired document back if ``version`` is still current: then the profile
        stored and its new version, else the profile read and ``version``."""
        profile, data = encode(parsed.profile)
        reply = self._commit(key, str(version), data, uuid.uuid4().hex, None, not profile.gone)
        if reply[0] != b"ok":
            return parsed.profile, version
        self.stats.add("repaired_files")
        log.warning("site document %s had %s; written back repaired", self._site(key),
                    ", ".join(parsed.repaired))
        return profile, int(reply[1])

    def _remember(
        self, key: str, profile: SiteProfile | None, version: int,
        seen: Entry[SiteProfile] | object | None = ANY,
    ) -> None:
        with self._newest:
            entry = self.cache.get(key)
            if entry is not None and _version(entry.signature) > version:
                return
            self.cache.put(key, profile, version, time.monotonic(), unless_changed_from=seen)

    # -- history -----------------------------------------------------------------------------

    def history(self, key: str, limit: int | None = None) -> list[VisitRecord]:
        """The site's last ``limit`` visits (all it keeps for ``None``), oldest first."""
        self._ready()
        if limit == 0:
            return []
        name = self._history(key)
        if limit is not None:
            entries = self._call("read", self._client.xrevrange, name, count=limit)
            records = _records(entries[::-1])
            if len(records) == limit or len(entries) < limit:
                return newest(records, limit)
            # Junk among the last entries (planted): read them all, so that limit good ones come.
        return newest(_records(self._call("read", self._client.xrange, name)), limit)

    def put_history(self, key: str, records: Sequence[VisitRecord]) -> None:
        """Make ``records`` the site's history; the caller holds :meth:`maintenance`."""
        self._token()  # held, so no update adds to it meanwhile
        name = self._history(key)

        def replace() -> None:
            pipe = self._client.pipeline(transaction=True)
            pipe.delete(name)
            for record in records[-MAX_HISTORY:]:
                pipe.xadd(name, {"v": record.to_line().rstrip(b"\n")}, maxlen=MAX_HISTORY)
            pipe.execute()

        self._call("write", replace)

    def history_since(
        self, key: str, cursor: object | None, wait: float = 0.0
    ) -> tuple[list[VisitRecord], object | None]:
        """Visits added after ``cursor`` (all for ``None``), in the order they were added, and the
        cursor after them (a stream id); waits up to ``wait`` seconds (at most one) for one."""
        self._ready()
        name = self._history(key)
        if not isinstance(cursor, str):
            entries = self._call("read", self._client.xrange, name)
        else:
            timeout = self._client.connection_pool.connection_kwargs.get("socket_timeout")
            longest = _MAX_BLOCK if not timeout else min(_MAX_BLOCK, timeout / 2)
            block = round(min(max(wait, 0.0), longest) * 1000)
            reply = self._call("read", self._client.xread, {name: cursor}, count=MAX_HISTORY,
                               **({"block": block} if block > 0 else {}))
            entries = reply[0][1] if reply else []
        last = entries[-1][0].decode() if entries else cursor if isinstance(cursor, str) else "0-0"
        return _records(entries), last

    # -- writes ------------------------------------------------------------------------------

    def update(self, key: str, updates: Sequence[Update], batch: BatchId | None = None) -> SiteProfile:
        """Commit ``updates`` atomically; re-applied to the current state if another client
        committed first. Waits for a held maintenance lock up to ``lock_timeout``.

        ``batch`` names a write-behind batch the caller may send again later: once it committed,
        the same batch changes nothing, for :data:`~.redisscripts.MARKER_TTL` seconds after the
        buffer's last commit. Each call's own retries are recognised by an operation id.
        """
        return self._update(key, updates, batch)[1]

    def _update(
        self, key: str, updates: Sequence[Update], batch: BatchId | None
    ) -> tuple[SiteProfile | None, SiteProfile]:
        """The state committed over (``None`` for none, or a tombstone) and the new one."""
        self._ready()
        entry = self.cache.get(key)
        # Optimistic: whatever this process last saw (or "absent") is usually still current.
        base = None if entry is None else entry.value
        version = _known(entry)
        op = uuid.uuid4().hex
        deadline = None if self.lock_timeout is None else time.monotonic() + self.lock_timeout
        conflicts = 0
        while True:
            start = base or SiteProfile(key)
            kept: list[Update] = []
            applied = apply_all(start, updates, self._origin, waited=batch is not None, kept=kept)
            if applied is start and base is None and not creates(updates):
                return None, start  # nothing to write, and no site made of nothing
            if applied is start and base is not None and version:
                # Nothing changed (updates that came after a forget): only check it is current.
                reply = self._call("read", self._ready().fetch, keys=[self._site(key)], args=[version])
                if len(reply) == 1:
                    note_forgotten(self.stats, key, batch, base, updates)
                    return base, base
                base = self._take(key, reply, tombstone=True) if reply else None
                version = reply[0].decode() if reply and base is not None else ""
                continue
            profile, data = encode(applied)
            history = history_of(kept)
            reply = self._commit(key, version, data, op, batch, not profile.gone, history)
            status = reply[0]
            if status == b"ok":
                self.stats.add("writes")
                if len(reply) > 2 and reply[2]:
                    self.stats.add("history_errors")
                    log.warning("a %s planted at the history %s was replaced by the site's visits",
                                reply[2].decode(errors="replace"), self._history(key))
                note_forgotten(self.stats, key, batch, base, updates)
                self._remember(key, profile, int(reply[1]))
                return base, profile
            if status == b"done":  # committed before a lost reply: never apply it twice
                self.stats.add("writes")
                self.cache.drop(key)
                return base, self.read_locked(key) or profile
            if status == b"conflict":
                self.stats.add("conflicts")
                conflicts += 1
                version, base = reply[1].decode(), None
                if version:
                    base, found = self._parse(key, int(version), reply[2])
                    version = "" if base is None else str(found)  # "": a corrupt one moved aside
                self._back_off(conflicts, deadline, key)
                continue
            self._wait_for_maintenance(int(reply[1]), deadline, key)

    def _commit(
        self, key: str, version: str, data: bytes, op: str, batch: BatchId | None, live: bool,
        history: tuple[bool, list[VisitRecord]] = (False, []),
    ) -> list[bytes]:
        client = f"{self.options.prefix}:client:{batch.client}" if batch else self._clock
        cleared, records = history
        return self._call(
            "update", self._ready().update,
            keys=[self._site(key), self._sites, self._clock, self._lock_key, client, self._gone,
                  self._history(key)],
            args=[version, data, key, op, "" if batch is None else batch.seq, "1" if live else "0",
                  redisscripts.MARKER_TTL, "1" if cleared else "0", MAX_HISTORY,
                  *(r.to_line().rstrip(b"\n") for r in records)],
        )

    def _back_off(self, conflicts: int, deadline: float | None, key: str) -> None:
        """After repeated conflicts on a hot site, wait a random moment (so contenders stop
        colliding in lockstep); past ``lock_timeout``, give up as a lock would."""
        if deadline is not None and time.monotonic() >= deadline:
            raise LockTimeout(f"{self._site(key)} (contended)", self.lock_timeout, key)
        if conflicts >= 2:
            time.sleep(random.uniform(0, min(0.0005 * 2 ** (conflicts - 2), 0.02)))

    def _wait_for_maintenance(self, pttl: int, deadline: float | None, key: str) -> None:
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            raise LockTimeout(self._lock_key, self.lock_timeout, key)
        pause = MAX_POLL if pttl < 0 else min(MAX_POLL, pttl / 1000)
        if deadline is not None:
            pause = min(pause, deadline - now)
        time.sleep(max(pause, 0.001))

    def _deleted(self, key: str, reply: list[bytes]) -> bool:
        """Cache "absent" at the deletion's version: an older state cached later loses."""
        version = int(reply[2])
        with self._newest:
            entry = self.cache.get(key)
            if entry is None or _version(entry.signature) < version:
                self.cache.put(key, None, _Absent(version), time.monotonic())
        return bool(reply[1] == b"1")

    def put(self, key: str, profile: SiteProfile) -> None:
        profile, data = encode(profile)
        reply = self._call("write", self._ready().put,
                           keys=[self._site(key), self._sites, self._clock, self._lock_key, self._gone,
                                 self._history(key)],
                           args=[data, key, self._token(), "0" if profile.gone else "1"])
        if reply[0] != b"ok":
            raise self._lost()
        self.stats.add("writes")
        self._remember(key, profile, int(reply[1]))

    def remove_locked(self, key: str) -> bool:
        marker = f"{self.options.prefix}:op:{uuid.uuid4().hex}"
        reply = self._call("delete", self._ready().delete,
                           keys=[self._site(key), self._sites, self._lock_key, self._clock, marker,
                                 self._gone, self._history(key)],
                           args=[key, self._token(), redisscripts.MARKER_TTL])
        if reply[0] != b"ok":
            raise self._lost()
        return self._deleted(key, reply)

    def tombstones(self) -> list[str]:
        self._ready()
        return sorted(m.decode() for m in self._call("list", self._client.smembers, self._gone))

    # -- store-wide --------------------------------------------------------------------------

    def keys(self) -> list[str]:
        self._ready()
        members = self._call("list", self._client.smembers, self._sites)
        return sorted(m.decode() for m in members)

    @contextmanager
    def maintenance(self) -> Iterator[None]:
        """Hold the store-wide lock: updates of every client wait until it is released."""
        scripts = self._ready()
        lock = ExpiringLock(self._call, scripts, self._lock_key, self.options.lock_ttl,
                            self.lock_timeout, self.stats.waited)
        lock.acquire()
        self._maintenance = lock
        try:
            yield
        finally:
            self._maintenance = None
            try:
                lock.release()
            except BackendUnavailable as exc:  # it expires on its own; keep the first error
                log.warning("could not release %s: %s", self._lock_key, exc)

    def _token(self) -> str:
        lock = self._maintenance
        if lock is None or not lock.token:
            raise RuntimeError("the caller must hold maintenance()")
        if lock.lost:
            raise self._lost()
        return lock.token

    def _lost(self) -> LockLost:
        return LockLost(f"the maintenance lock {self._lock_key} of {self.location} expired while "
                        f"held (longer than lock_ttl={self.options.lock_ttl:g} s without renewal)")
