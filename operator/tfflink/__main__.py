"""``python -m tfflink`` is the ``tfflink`` command."""

import sys

from .cli.main import main

sys.exit(main())
