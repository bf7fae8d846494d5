"""Sharding one evaluation across processes started by ``torchrun`` or ``accelerate launch``.

Both launchers export ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``. Each rank scores a strided share of the flat image list; rank 0 gathers every
rank's (position, prediction) pairs, scores them with the metric and alone writes files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from imagenet_e_dataset.runtime import launch_environment


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False
    """True when this module created the process group (and so must destroy it)."""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def share(self, n: int) -> np.ndarray:
        """This rank's positions among ``n``: every ``world_size``-th, so configs spread evenly."""
        return np.arange(self.rank, n, self.world_size, dtype=np.int64)


def setup(device_type: str) -> DistContext:
    """Read the launcher's environment and join (or create) the process group when world_size > 1."""
    launch = launch_environment()
    world, rank, local = launch.world_size, launch.rank, launch.local_rank
    if world == 1:
        return DistContext()
    import torch.distributed as dist

    created = False
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
        created = True
    return DistContext(rank=rank, world_size=world, local_rank=local, initialized_here=created)


def gather_to_main(ctx: DistContext, payload: Any) -> list[Any] | None:
    """Every rank's ``payload`` on rank 0 (in rank order); None on the other ranks."""
    if not ctx.is_distributed:
        return [payload]
    import torch.distributed as dist

    gathered: list[Any] | None = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(payload, gathered, dst=0)
    return gathered


def broadcast_from_main(ctx: DistContext, value: Any) -> Any:
    """Rank 0's ``value`` on every rank (so every rank's caller gets the same results document)."""
    if not ctx.is_distributed:
        return value
    import torch.distributed as dist

    box = [value if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def teardown(ctx: DistContext) -> None:
    if ctx.initialized_here:
        import torch.distributed as dist

        dist.destroy_process_group()
