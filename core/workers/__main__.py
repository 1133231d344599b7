"""``python -m core.workers``: one worker process (the supervisor starts these)."""

import sys

from core.workers.worker import main

sys.exit(main())
