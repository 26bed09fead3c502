"""``sitememory demo``: agent processes shop on a local demo site twice, sharing one memory."""

from .run import run_demo

__all__ = ["run_demo"]
