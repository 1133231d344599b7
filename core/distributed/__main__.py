"""``python -m core.distributed RUN [--resume]``: one rank of a stored run (torchrun starts it)."""

import sys

from core.distributed.rank import main

sys.exit(main())
