"""``python -m scratchconv.bench`` is ``scratchconv bench``."""

import os
import sys

from .main import main

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.exit(main())
