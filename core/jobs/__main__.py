"""``python -m core.jobs``: one worker process (the supervisor starts these)."""

import sys

from core.jobs.worker import main

sys.exit(main())
