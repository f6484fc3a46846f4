"""``python -m autorr ...`` = the ``autorr`` command."""

import sys

from .cli import main

sys.exit(main())
