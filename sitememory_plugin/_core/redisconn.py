"""A Redis connection for the store: our URL options, bounded retries, and typed errors.

``redis-py`` would retry on its own; we turn that off and retry here instead, because only the
store knows which calls are safe to repeat (every script is: see :mod:`.redisscripts`) and
because giving up must raise one clear error, :class:`BackendUnavailable`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .errors import BackendUnavailable

if TYPE_CHECKING:
    import redis

log = logging.getLogger("sitememory.redisconn")
T = TypeVar("T")

INSTALL_HINT = "the Redis backend needs the redis package: pip install 'sitememory-plugin[redis]'"


@dataclass(frozen=True)
class RedisOptions:
    """The store's own query parameters of a ``redis://`` URL; the rest go to ``redis-py``.

    ``prefix``: namespace of every key (several stores may share one database); ``lock_ttl``:
    seconds after which a crashed client's store-wide lock expires; ``retries``: attempts after
    the first before :class:`BackendUnavailable`, waiting ``backoff`` seconds, doubling up to
    ``backoff_cap``.
    """

    url: str
    prefix: str = "sitememory"
    lock_ttl: float = 10.0
    retries: int = 6
    backoff: float = 0.05
    backoff_cap: float = 2.0

    def __post_init__(self) -> None:
        problem = _malformed(self.url)
        if problem:
            raise ValueError(problem)

    def __repr__(self) -> str:
        # Not the dataclass repr: that prints ``url``, password included.
        return (f"RedisOptions({self.display!r}, lock_ttl={self.lock_ttl!r}, retries={self.retries!r}, "
                f"backoff={self.backoff!r}, backoff_cap={self.backoff_cap!r})")

    @classmethod
    def parse(cls, url: str) -> RedisOptions:
        problem = _malformed(url)
        if problem:
            raise ValueError(problem)
        parts = urlsplit(url)
        ours: dict[str, Any] = {}
        rest = []
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name in ("prefix",):
                ours[name] = value
            elif name in ("lock_ttl", "backoff", "backoff_cap"):
                ours[name] = _number(name, value, float)
            elif name == "retries":
                ours[name] = _number(name, value, int)
            elif name in ("decode_responses", "encoding"):
                raise ValueError(f"{name} cannot be set in a store's Redis URL: documents are bytes")
            else:
                rest.append((name, value))
        if "prefix" in ours and (not ours["prefix"] or any(c in ours["prefix"] for c in "{}*?[] ")):
            raise ValueError(f"prefix must be a non-empty name without spaces or {{}}*?[]: "
                             f"{ours['prefix']!r}")
        if ours.get("lock_ttl", 1.0) <= 0 or ours.get("retries", 0) < 0:
            raise ValueError("lock_ttl must be > 0 and retries >= 0")
        return cls(urlunsplit(parts._replace(query=urlencode(rest))), **ours)

    @property
    def display(self) -> str:
        """The URL without its password or query (but for ``prefix``), fit for logs and errors."""
        parts = urlsplit(self.url)
        # The host as written: ``parts.hostname`` drops an IPv6 address's brackets and is None
        # for a unix socket.
        userinfo, at, hostinfo = parts.netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:***@{hostinfo}" if at and colon else parts.netloc
        query = f"?prefix={self.prefix}" if self.prefix != "sitememory" else ""
        return urlunsplit(parts._replace(netloc=netloc, query="", fragment="")) + query

    @property
    def meta_key(self) -> str:
        """The store's marker (format, version and origin id): there is a store if it exists."""
        return f"{self.prefix}:meta"


def _malformed(url: str) -> str:
    """What makes ``url`` unsafe to use or print, in words that quote none of it; "" if nothing.

    A password holding ``/``, ``?`` or ``#`` unencoded ends the URL's host part early: the rest
    of the password becomes the path, query or fragment (printed as they are), and its start is
    taken for a port (which urllib's error quotes).
    """
    parts = urlsplit(url)
    if parts.fragment or "@" in parts.path + parts.query:
        return ("the Redis URL is malformed: percent-encode '/', '?', '#' and '@' in its user name "
                "and password (%2F, %3F, %23, %40)")
    try:
        _ = parts.port
    except ValueError:  # returned, not raised: urllib's error (it quotes the port) stays out of it
        return "the Redis URL's port must be a number from 0 to 65535"
    return ""


def redacted(url: str) -> str:
    """``url`` fit to print: :attr:`RedisOptions.display`, or only its scheme if malformed."""
    try:
        return RedisOptions.parse(url).display
    except ValueError:
        return f"{url.partition(':')[0]}://... (a malformed URL)"


def _number(name: str, value: str, kind: Callable[[str], T]) -> T:
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{name} in the Redis URL must be a number, not {value!r}") from None


def connect(options: RedisOptions) -> redis.Redis:
    """A client that never retries by itself and never blocks forever on a dead server."""
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    given = dict(parse_qsl(urlsplit(options.url).query))
    defaults: dict[str, Any] = {}
    if "socket_timeout" not in given:
        defaults["socket_timeout"] = 5.0
    if "socket_connect_timeout" not in given:
        defaults["socket_connect_timeout"] = 2.0
    return redis.Redis.from_url(
        options.url, retry=Retry(NoBackoff(), 0), retry_on_error=[], **defaults
    )


def store_exists(options: RedisOptions) -> bool:
    """Whether the URL's database holds a store under its prefix (without creating one)."""
    with connect(options) as client:
        return has_store(client, options, Retrying(options, lambda: None))


def has_store(client: redis.Redis, options: RedisOptions, call: Retrying | None = None) -> bool:
    """:func:`store_exists` on an open client, through ``call`` if given (else called once)."""
    return bool(_called(call, "check", client.exists, options.meta_key))


def eviction_policy(client: Any, call: Retrying | None = None) -> str | None:
    """The server's ``maxmemory-policy``, or ``None`` when it may not be read (a managed Redis
    that disables CONFIG); through ``call`` if given (else called once)."""
    import redis.exceptions

    try:
        reply = _called(call, "check", client.config_get, "maxmemory-policy")
    except (BackendUnavailable, redis.exceptions.ResponseError):
        return None
    value = reply.get("maxmemory-policy", reply.get(b"maxmemory-policy"))
    return None if value is None else value.decode() if isinstance(value, bytes) else str(value)


def _called(call: Retrying | None, what: str, fn: Callable[..., T], *args: Any) -> T:
    return fn(*args) if call is None else call(what, fn, *args)


def transient_errors() -> tuple[type[Exception], ...]:
    """Errors after which the same call may succeed: connection lost, server loading or
    failing over (``BusyLoadingError`` is a ``ConnectionError``)."""
    import redis.exceptions as e

    return (e.ConnectionError, e.TimeoutError, e.ReadOnlyError, e.TryAgainError)


class Retrying:
    """Runs calls against the server, retrying transient failures with exponential backoff."""

    def __init__(self, options: RedisOptions, on_retry: Callable[[], None]) -> None:
        self.options = options
        self._on_retry = on_retry
        self._transient = transient_errors()
        import redis.exceptions

        self._final = (redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError)
        self._redis_error = redis.exceptions.RedisError

    def __call__(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        delay = self.options.backoff
        attempt = 0
        while True:
            try:
                return fn(*args, **kwargs)
            except self._final as exc:  # a wrong password does not get right by waiting
                raise BackendUnavailable(
                    f"Redis at {self.options.display} refused us ({what}): {exc}") from exc
            except self._transient as exc:
                if attempt >= self.options.retries:
                    raise BackendUnavailable(
                        f"Redis at {self.options.display} is unavailable ({what}: {exc}); gave "
                        f"up after {attempt + 1} attempts"
                    ) from exc
                log.warning("Redis %s failed (%s); retrying in %.2f s", what, exc, delay)
            except self._redis_error as exc:
                # Out of memory, MISCONF (cannot persist), NOPERM...: the server refuses the
                # call and nothing was written (a write script is refused before it starts).
                raise BackendUnavailable(
                    f"Redis at {self.options.display} refused the {what}: {exc}"
                ) from exc
            self._on_retry()
            time.sleep(delay)
            delay = min(delay * 2, self.options.backoff_cap)
            attempt += 1
