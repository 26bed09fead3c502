"""The installed distribution's version."""

from __future__ import annotations

import importlib.metadata


def package_version() -> str:
    """``sitememory-plugin``'s version, or ``0+unknown`` for a source tree never installed."""
    try:
        return importlib.metadata.version("sitememory-plugin")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"
