"""Hugging Face Space entry point for the ImageNet-E leaderboard.

The app lives in the ``imagenet-e`` package (:mod:`imagenet_e.leaderboard.app`); this file only
hands its ``demo`` to the Space runtime, which reads ``app.demo`` and serves it.
``imagenet-e publish-leaderboard`` uploads it with a wheel of the package (see below).
"""

import os
import sys
from pathlib import Path

# Published by `imagenet-e publish-leaderboard`, the Space carries the project as the wheel built at
# publish time (wheels/imagenet_e-<version>-py3-none-any.whl). A pure-Python wheel is importable as a
# zip, so the app starts without imagenet-e on PyPI; it cannot be a line of requirements.txt because
# the Hub installs that file before it copies the rest of the repo. Run from a checkout (no wheels/
# folder), the installed package is used.
for _wheel in sorted(Path(__file__).resolve().parent.glob("wheels/imagenet_e-*.whl")):
    sys.path.insert(0, str(_wheel))

from imagenet_e.leaderboard.app import build_app
from imagenet_e.leaderboard.app import launch
from imagenet_e.leaderboard.benchmark import own_benchmark_id
from imagenet_e.leaderboard.table import default_source

# With no board.yaml in the results repo, the board ranks only the benchmark this Space was published
# for (the `datasets:` id publish-leaderboard wrote into README.md, or $IMAGENET_E_DATASET_ID).
demo = build_app(default_source(), own_dataset=own_benchmark_id(Path(__file__).resolve().parent / "README.md"))

if __name__ == "__main__":
    launch(demo, host=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"), port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
