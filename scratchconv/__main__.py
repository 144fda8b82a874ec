"""``python -m scratchconv`` is the ``scratchconv`` command."""

import sys

from .cli import main

sys.exit(main())
