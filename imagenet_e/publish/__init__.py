"""Publishing the benchmark: the metric Space, the leaderboard Space, the texts that point at them.

Every Space file is generated from the package at publish time (one source of truth); nothing here
keeps a copy by hand. Heavy imports (huggingface_hub, evaluate) stay inside the functions, so
``import imagenet_e.publish`` and ``imagenet-e --help`` stay light.
"""

from imagenet_e_dataset.hub_ids import PublishedIds

__all__ = ["PublishedIds"]
