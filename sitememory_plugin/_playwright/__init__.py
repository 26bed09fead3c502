"""Playwright integration: ``attach()`` and the handles it returns (internal)."""
