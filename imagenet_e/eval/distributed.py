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

from imagenet_e_dataset.runtime import choose_device, launch_environment


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


# torch's own default for process groups; a rank that has not joined (or stopped answering in a
# collective) by then is named in the error instead of being waited for.
DEFAULT_RANK_TIMEOUT_S = 1800.0


def setup(device_type: str, timeout_s: float = DEFAULT_RANK_TIMEOUT_S) -> DistContext:
    """Read the launcher's environment and join (or create) the process group when world_size > 1.

    Every rank must join within ``timeout_s`` seconds; otherwise a ``ValueError`` says which ranks
    are missing (``WORLD_SIZE=2 RANK=0`` started alone no longer waits forever).
    """
    if not 0 < timeout_s < float("inf"):
        raise ValueError(f"--rank-timeout must be a positive number of seconds, got {timeout_s}")
    launch = launch_environment()
    world, rank, local = launch.world_size, launch.rank, launch.local_rank
    if world == 1:
        return DistContext()
    import datetime
    import re

    import torch.distributed as dist

    created = False
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            # The same local-rank -> GPU rule as the model's device (modulo the GPUs this rank sees), so a
            # launcher that gives each rank one GPU (CUDA_VISIBLE_DEVICES per rank) still works.
            torch.cuda.set_device(torch.device(choose_device("cuda", local_rank=local)))
        try:
            dist.init_process_group(backend=backend, rank=rank, world_size=world,
                                    timeout=datetime.timedelta(seconds=timeout_s))
        except (RuntimeError, ValueError) as exc:
            text = " ".join(str(exc).split())
            joined = re.search(r"([0-9]+)/([0-9]+) clients joined", text)
            others = ", ".join(str(r) for r in range(world) if r != rank)
            count = f" ({joined[1]} of {joined[2]} joined)" if joined else ""
            raise ValueError(
                f"rank {rank} of {world}: the other rank(s) ({others}) did not join within {timeout_s:g} s{count}; "
                "start every rank (torchrun --nproc_per_node N / accelerate launch), or raise --rank-timeout "
                f"[{text[:200]}]"
            ) from None
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
