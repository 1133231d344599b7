"""``python -m core.cli``: the same as ``lmwb`` (workers and sweep drivers start it this way)."""

import sys

from core.cli.main import main

sys.exit(main())
