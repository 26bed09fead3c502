"""Append one JSON line per navigation to an audit log: what every agent visited, and how it went.

Each main-frame navigation of an attached page (a ``goto``, a click, a redirect chain counted
once at its end, a failure) adds a line like::

    {"time": "2025-01-31T12:00:00.123Z", "url": "https://example.com/", "key": "example.com",
     "ok": true, "status": 200, "error": null, "duration": 0.412,
     "timings": {"load": 0.412, "ttfb": 0.05, ...}}

``time`` is when the navigation was recorded (UTC), ``duration`` is in seconds, ``timings`` are
the browser's Navigation Timing figures (see ``sitememory_plugin.Visit``).

Enable it with ``SITEMEMORY_PLUGINS=hooks/audit_log.py``; the file is ``$SITEMEMORY_AUDIT_LOG``,
read at each navigation, default ``sitememory-audit.jsonl`` in the current directory. In code
(with ``hooks/`` on ``sys.path``, or this file copied into your project)::

    from audit_log import AuditLog

    pm = sitememory_plugin.make_plugin_manager()
    pm.register(AuditLog("/var/log/agents/audit.jsonl"), "audit_log")

Many threads and processes may append to one file: it is opened with ``O_APPEND`` and each line
goes out in a single ``write``, which a local file system applies whole, at the end of the
file, without interleaving (NFS gives no such promise). Credentials in a URL or an error
(``user:password@``, ``?token=...``) are written as ``***``, and a new file is created with mode
0600, as URLs may still say more than they should; an existing file keeps its mode. Missing
parent directories are created. The write is a few microseconds of blocking I/O, so the hook
is a plain function under Playwright's async API too.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from sitememory_plugin import Visit, hookimpl
from sitememory_plugin._core.redact import redact

__all__ = ["DEFAULT_PATH", "ENV_PATH", "AuditLog", "audit_line", "sitememory_after_navigation"]

ENV_PATH = "SITEMEMORY_AUDIT_LOG"
DEFAULT_PATH = "sitememory-audit.jsonl"

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


def audit_line(url: str, key: str, visit: Visit, now: datetime | None = None) -> bytes:
    """One audit record as a JSON line, UTF-8 encoded, newline included."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    record = {
        "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "url": redact(url),
        "key": key,
        "ok": visit.ok,
        "status": visit.status,
        "error": None if visit.error is None else redact(visit.error),
        "duration": visit.duration,
        "timings": dict(visit.timings),
    }
    # ASCII-only and compact: one physical line whatever the URL or error text holds.
    return (json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n").encode("ascii")


class AuditLog:
    """A ``sitememory_after_navigation`` plugin appending :func:`audit_line` records to a file.

    :param path: the log file; ``None`` reads ``$SITEMEMORY_AUDIT_LOG`` at each navigation,
        default ``sitememory-audit.jsonl`` in the current directory.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else Path(path)

    def current_path(self) -> Path:
        """The file the next line goes to."""
        if self.path is not None:
            return self.path.expanduser()
        return Path(os.environ.get(ENV_PATH, "").strip() or DEFAULT_PATH).expanduser()

    def append(self, line: bytes) -> None:
        """Append ``line`` to the log with one ``write``."""
        path = self.current_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, _FLAGS, 0o600)
        try:
            written = os.write(fd, line)
        finally:
            os.close(fd)
        if written != len(line):
            # A short write (disk full) leaves a partial line; say so rather than retry, since a
            # second write could land after another process's line.
            raise OSError(f"audit log {path}: wrote {written} of {len(line)} bytes")

    @hookimpl
    def sitememory_after_navigation(self, url: str, key: str, visit: Visit) -> None:
        self.append(audit_line(url, key, visit))


_default = AuditLog()


@hookimpl
def sitememory_after_navigation(url: str, key: str, visit: Visit) -> None:
    """Module-level hook for ``SITEMEMORY_PLUGINS``: the default :class:`AuditLog`."""
    _default.append(audit_line(url, key, visit))
