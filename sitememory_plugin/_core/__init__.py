"""Internal core of sitememory-plugin: keys, models, pure updates, cache, locks and the file store.

Nothing here is public API; import from :mod:`sitememory_plugin` instead.
"""
