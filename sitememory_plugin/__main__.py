"""``python -m sitememory_plugin``: the ``sitememory`` command."""

import sys

from ._cli import main

sys.exit(main())
