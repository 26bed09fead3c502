"""The report of a store: one self-contained HTML page (``sitememory report``), or the same page
live over HTTP on 127.0.0.1 (``sitememory serve``).

:mod:`.data` computes what is shown (pure), :mod:`.svg` draws the charts, :mod:`.page` writes the
page, :mod:`.source` reads the store, :mod:`.serve` serves it.
"""
