"""``python -m imagenet_e.cli``: the same as the ``imagenet-e`` command (launchers such as torchrun need a module)."""

import sys

from . import main

sys.exit(main())
