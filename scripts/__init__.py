"""The repository's setup helpers, not part of the installed package.

Run from the repository's root: ``python -m scripts.browser`` (``make browser``); the tests'
``python -m tests._redis`` (``make redis``) installs ``redis-server`` with :mod:`scripts.apt`.
"""
