"""Group every subdomain of a site under one key: its registrable domain (eTLD+1).

By default a site key is the host (``shop.example.co.uk`` and ``example.co.uk`` are two sites).
With this plugin both are ``example.co.uk``, so load times, selectors and quirks learnt on one
subdomain are shared with the others. The registrable domain comes from the Public Suffix List
snapshot bundled with ``tldextract`` (``pip install 'sitememory-plugin[hooks]'``); the plugin
never fetches the list over the network and never writes tldextract's cache directory.

Choices:

* A non-default port is kept, as the default key keeps it: ``a.example.com:8080`` is
  ``example.com:8080``. Another port is usually another service (a staging or dev server),
  and its timings and markup should not mix with the production site's.
* The PSL's private section counts, as it does for browsers' notion of a "site":
  ``alice.github.io`` and ``bob.github.io`` are two sites, not one ``github.io``. Set
  ``SITEMEMORY_REGISTRABLE_PRIVATE=0`` (or pass ``private_domains=False``) to use the ICANN
  section only.
* IP addresses, ``localhost``, hosts with no known public suffix (``intranet.corp``) and hosts
  that are themselves a public suffix answer ``None``, so the default key (the host) applies.

Enable it with ``SITEMEMORY_PLUGINS=hooks/registrable_domain.py``, or in code (with ``hooks/`` on
``sys.path``, or this file copied into your project)::

    from registrable_domain import RegistrableDomain

    pm = sitememory_plugin.make_plugin_manager()
    pm.register(RegistrableDomain(private_domains=False, extra_suffixes=["corp.example"]),
                "registrable_domain")
    site = sitememory_plugin.attach(context, memory, plugins=pm)

``SITEMEMORY_REGISTRABLE_PRIVATE`` (``1``/``0``, ``true``/``false``, ``yes``/``no``) is read at
each call, unless the instance was given ``private_domains``. Switching grouping on for a store
that already has per-host keys starts new profiles under the grouped keys; the old ones stay.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import tldextract

from sitememory_plugin import hookimpl, site_key

__all__ = ["ENV_PRIVATE", "RegistrableDomain", "sitememory_site_key"]

#: Whether the PSL's private section (``github.io``, ``blogspot.com`` ...) counts as suffixes.
ENV_PRIVATE = "SITEMEMORY_REGISTRABLE_PRIVATE"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class RegistrableDomain:
    """A ``sitememory_site_key`` plugin answering the registrable domain of a URL's host.

    :param private_domains: count the PSL's private section; ``None`` reads
        ``$SITEMEMORY_REGISTRABLE_PRIVATE`` at each call (default on).
    :param extra_suffixes: more suffixes to treat as public, e.g. ``["corp.example"]`` so that
        ``team-a.corp.example`` and ``team-b.corp.example`` stay apart.
    """

    def __init__(self, private_domains: bool | None = None, extra_suffixes: Sequence[str] = ()) -> None:
        self.private_domains = private_domains
        # No suffix list URLs and no cache dir: tldextract then goes straight to its bundled
        # snapshot (an empty URL loop, no request), and its disk cache is disabled.
        self._extract = tldextract.TLDExtract(
            cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True,
            extra_suffixes=tuple(extra_suffixes),
        )

    def private(self) -> bool:
        """Whether the private section counts now (the argument, else the environment)."""
        if self.private_domains is not None:
            return self.private_domains
        raw = os.environ.get(ENV_PRIVATE, "").strip().lower()
        if not raw or raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        raise ValueError(f"${ENV_PRIVATE} must be 1 or 0 (true/false, yes/no), not {raw!r}")

    def registrable(self, url: str) -> str | None:
        """The registrable domain of ``url`` as a site key (port kept), or ``None``."""
        try:
            # The default key does the hard parts: IDNA, case, trailing dot, default ports.
            host_key = site_key(url)
        except ValueError:
            return None  # not a web URL: the default key raises the error the caller expects
        if host_key.startswith("["):
            return None  # IPv6
        host, _, port = host_key.partition(":")
        result = self._extract.extract_str(host, include_psl_private_domains=self.private())
        domain = result.top_domain_under_public_suffix
        if not domain:
            return None
        answer = f"{domain}:{port}" if port else domain
        # "shop.www.co.uk" would give "www.co.uk", whose own key folds "www.": no valid answer.
        return answer if site_key(answer) == answer else None

    @hookimpl
    def sitememory_site_key(self, url: str) -> str | None:
        return self.registrable(url)


_default = RegistrableDomain()


@hookimpl
def sitememory_site_key(url: str) -> str | None:
    """Module-level hook for ``SITEMEMORY_PLUGINS``: the default :class:`RegistrableDomain`."""
    return _default.registrable(url)
