"""Launch options for the browser tests (the package's own browser lookup)."""

from sitememory_plugin._browser import CHROMIUM_ARGS, chromium_executable, launch_kwargs

__all__ = ["CHROMIUM_ARGS", "chromium_executable", "launch_kwargs"]
