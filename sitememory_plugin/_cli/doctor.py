"""``sitememory doctor``: is the store usable, is a browser there, do the plugins load?

Nothing here creates a store: a missing one (a mistyped ``--store``) is a failed check naming
where it looked, and the locks are probed only in a store that exists.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from .._browser import chromium_executable
from .._core.errors import PluginError, SiteMemoryError
from .._core.files import Layout
from .._memory import SiteMemory
from .._plugins import make_plugin_manager, plugin_hooks
from .render import plural


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def run_checks(store: Path | str) -> list[Check]:
    """Every check, in the order a user would fix them."""
    if isinstance(store, str):
        return [*_redis(store), _browser(), _plugins()]
    found, exists = _store(store)
    if not exists:
        return [found, NOT_PROBED, _browser(), _plugins()]
    return [found, *_store_contents(store), _locks(store), _browser(), _plugins()]


def _redis(url: str) -> list[Check]:
    # Imported here: the file store's checks must not need the redis extra.
    from .._core.redisconn import RedisOptions, connect, eviction_policy, has_store

    options = RedisOptions.parse(url)
    try:
        client = connect(options)
        with client:
            server = client.info("server")
            persistence = client.info("persistence")
            policy = eviction_policy(client)
            exists = has_store(client, options)
            sites = client.scard(f"{options.prefix}:sites")
            corrupt = sum(1 for _ in client.scan_iter(f"{options.prefix}:corrupt:*", count=1000))
    except ImportError as exc:
        return [Check("store", False, str(exc))]
    except Exception as exc:  # any failure to reach the server is the finding
        return [Check("store", False, f"{options.display}: {type(exc).__name__}: {exc}")]
    version = f"Redis {server.get('redis_version')}"
    checks = [Check("store", True, f"{options.display}: {version}") if exists else
              Check("store", False, f"no store at {options.display} ({version} answers, but holds no "
                                    f"store under prefix {options.prefix}; {CREATED})")]
    if persistence.get("aof_enabled"):
        checks.append(Check("persistence", True, "appendonly yes: updates survive a restart"))
    else:
        checks.append(Check("persistence", False, "appendonly no: a restart keeps only the last "
                            "snapshot (set appendonly yes, appendfsync always or everysec)"))
    if policy in (None, "noeviction"):
        checks.append(Check("eviction", True, "maxmemory-policy noeviction: a full server refuses "
                            "writes and drops nothing" if policy else "maxmemory-policy not "
                            "readable (CONFIG GET refused); it should be noeviction"))
    else:
        checks.append(Check("eviction", False, f"maxmemory-policy {policy}: a full server drops "
                            "keys, sites and the store's marker among them (set maxmemory-policy "
                            "noeviction)"))
    checks.append(Check("sites", True, plural(sites, "site document")))
    if corrupt:
        checks.append(Check("corrupt documents", False,
                            f"{corrupt} moved aside under {options.prefix}:corrupt:*"))
    # The probe would create the store: a mistyped prefix must not pass for a store.
    checks.append(_locks(url) if exists else NOT_PROBED)
    return checks


#: What makes a store, said where there is none.
CREATED = "the first write creates one: an agent's first visit, an import, the demo"
NOT_PROBED = Check("locks and writes", True, "not checked: there is no store")


def _store(store: Path) -> tuple[Check, bool]:
    """The store directory's check, and whether a store is there (else nothing more is checked)."""
    if not store.exists():
        return Check("store", False, f"no store at {store} ({CREATED})"), False
    if not store.is_dir():
        return Check("store", False, f"no store at {store}: it is not a directory"), False
    layout = Layout(store)
    try:
        marker = layout.read_marker()
    except (SiteMemoryError, OSError) as exc:
        return Check("store", False, f"{type(exc).__name__}: {exc}"), False
    if marker is None:
        return Check("store", False, f"no store at {store}: the directory has no {layout.marker.name} "
                                     f"({CREATED})"), False
    mode = stat.S_IMODE(store.stat().st_mode)
    if not os.access(store, os.R_OK | os.W_OK | os.X_OK):
        unusable = f"{store} is not readable and writable by this user (mode {mode:o})"
        return Check("store", False, unusable), True
    loose = " (others can read it: chmod 700)" if mode & 0o077 else ""
    return Check("store", not loose, f"{store}, mode {mode:o}{loose}"), True


def _store_contents(store: Path) -> list[Check]:
    if not (store / "sites").is_dir():
        return []
    corrupt = sorted(p.name for p in (store / "sites").rglob("*.corrupt-*"))
    sites = sum(1 for _ in (store / "sites").rglob("*.json"))
    checks = [Check("sites", True, plural(sites, "site document"))]
    if corrupt:
        checks.append(Check(
            "corrupt files", False,
            f"{plural(len(corrupt), 'file')} moved aside (the sites started fresh): {', '.join(corrupt[:3])}"
            + (" ..." if len(corrupt) > 3 else ""),
        ))
    return checks


def _locks(store: Path | str) -> Check:
    # A real update through a throwaway site proves the locks, a write and a rename work; the
    # callers probe only a store that exists, which the probe cannot then create.
    probe = "sitememory-doctor.invalid"
    try:
        started = time.perf_counter()
        with SiteMemory(store, lock_timeout=5) as memory:
            memory.record_visit_sync(probe, 0.0)
            memory.forget_sync(probe)
        took = (time.perf_counter() - started) * 1000
    except (SiteMemoryError, OSError) as exc:
        return Check("locks and writes", False, f"{type(exc).__name__}: {exc}")
    return Check("locks and writes", True, f"an update was committed and removed in {took:.1f} ms")


def _browser() -> Check:
    try:
        found = chromium_executable()
    except RuntimeError as exc:
        return Check("browser", False, str(exc))
    return Check("browser", True, found or "Playwright's own Chromium")


def _plugins() -> Check:
    try:
        hooks = plugin_hooks(make_plugin_manager())
    except PluginError as exc:
        return Check("plugins", False, str(exc))
    return Check("plugins", True, f"{len(hooks)} loaded: {', '.join(hooks)}")
