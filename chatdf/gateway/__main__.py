"""``python -m chatdf.gateway``: the same as the ``chatdf-gateway`` command."""

import sys

from .cli import main

sys.exit(main())
