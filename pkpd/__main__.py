"""``python -m pkpd``: the ``pkpd`` command (see :mod:`pkpd.cli`)."""

import sys

from .cli import main

sys.exit(main())
