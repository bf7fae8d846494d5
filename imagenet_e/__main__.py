"""``python -m imagenet_e``: the same as the ``imagenet-e`` command."""

import sys

from .cli import main

sys.exit(main())
