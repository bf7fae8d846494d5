"""Hugging Face Space entry point for the ImageNet-E leaderboard.

The app lives in the ``imagenet-e`` package (:mod:`imagenet_e.leaderboard.app`); this file only
hands its ``demo`` to the Space runtime, which reads ``app.demo`` and serves it.
"""

import os

from imagenet_e.leaderboard.app import build_app
from imagenet_e.leaderboard.app import launch
from imagenet_e.leaderboard.table import default_source

demo = build_app(default_source())

if __name__ == "__main__":
    launch(demo, host=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"), port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
