"""The ``sitememory`` command's exit codes (see the package's docstring)."""

NOT_FOUND, USAGE, STORE, INTERRUPTED = 1, 2, 3, 130
