"""Where this process runs: its place in a ``torchrun`` / ``accelerate launch`` job, its torch device and dtype.

Shared by generation (``imagenet-e edit`` / ``generate``) and evaluation (``imagenet-e evaluate``), so
both read the launcher's environment and choose a GPU the same way. torch is imported only inside
the functions that need it: this module stays importable without torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .vocab import DeviceChoice, DtypeChoice, parse_device, parse_dtype


def env_int(name: str, default: int) -> int:
    """An integer environment variable; unset or empty means ``default``, anything else non-integer is an error."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from None


@dataclass(frozen=True)
class LaunchEnvironment:
    """``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` as a launcher exports them (one process when unset)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def launched(self) -> bool:
        """True when a launcher started several processes (``WORLD_SIZE`` > 1)."""
        return self.world_size > 1


def launch_environment() -> LaunchEnvironment:
    """Read the launcher's variables; ``LOCAL_RANK`` defaults to ``RANK`` (one process per node)."""
    world = env_int("WORLD_SIZE", 1)
    rank = env_int("RANK", 0)
    local = env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"invalid RANK={rank} / WORLD_SIZE={world}")
    return LaunchEnvironment(rank=rank, world_size=world, local_rank=local)


def choose_device(choice: str | DeviceChoice = "auto", *, local_rank: int | None = None) -> str:
    """The torch device name for ``--device choice`` (any form :func:`~imagenet_e_dataset.vocab.parse_device` takes).

    ``auto``: this process's GPU when CUDA is available, else ``cpu``. ``cuda``: this process's GPU,
    an error when there is none. This process's GPU is ``local_rank`` (default: ``LOCAL_RANK``, else
    ``RANK``) modulo the GPUs, so each launcher process of a node gets its own. ``cuda:N`` and ``mps``
    are taken as given once torch has that device, so a missing one fails here with its name rather
    than at the first tensor moved there.
    """
    name = parse_device(choice)
    if name == DeviceChoice.CPU:
        return name
    try:
        import torch
    except ModuleNotFoundError:
        if name == DeviceChoice.AUTO:
            return "cpu"
        raise ValueError(f"device {name!r} needs torch, which is not installed") from None
    if name == DeviceChoice.MPS:
        if not torch.backends.mps.is_available():
            raise ValueError("--device mps asked for, but torch sees no MPS device")
        return name
    if not torch.cuda.is_available():
        if name == DeviceChoice.AUTO:
            return "cpu"
        raise ValueError(f"--device {name} asked for, but torch sees no CUDA device")
    if name in (DeviceChoice.AUTO, DeviceChoice.CUDA):
        if local_rank is None:
            local_rank = env_int("LOCAL_RANK", env_int("RANK", 0))
        return f"cuda:{local_rank % torch.cuda.device_count()}"
    count = torch.cuda.device_count()
    if int(name.partition(":")[2]) >= count:
        raise ValueError(f"--device {name} asked for, but torch sees {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    return name


def choose_dtype(choice: str | DtypeChoice, device: Any) -> DtypeChoice:
    """The compute dtype for ``--dtype choice`` on ``device`` (a name or a ``torch.device``); never ``auto``.

    ``auto``: fp32 off CUDA (CPU autocast is slower than fp32 for most networks, and changes results);
    on a CUDA GPU bf16 where supported (no loss scaling needed for gradients), else fp16.
    """
    dtype = parse_dtype(choice)
    if dtype is not DtypeChoice.AUTO:
        return dtype
    kind = getattr(device, "type", None) or str(device).split(":")[0]
    if kind != "cuda":
        return DtypeChoice.FP32
    import torch

    return DtypeChoice.BF16 if torch.cuda.is_bf16_supported() else DtypeChoice.FP16


def torch_dtype(dtype: str | DtypeChoice) -> Any:
    """The ``torch.dtype`` of a dtype other than ``auto`` (resolve that with :func:`choose_dtype` first)."""
    import torch

    dtype = parse_dtype(dtype)
    if dtype is DtypeChoice.AUTO:
        raise ValueError("dtype 'auto' has no torch dtype until choose_dtype resolves it for a device")
    return {DtypeChoice.FP32: torch.float32, DtypeChoice.BF16: torch.bfloat16, DtypeChoice.FP16: torch.float16}[dtype]


__all__ = [
    "LaunchEnvironment",
    "choose_device",
    "choose_dtype",
    "env_int",
    "launch_environment",
    "torch_dtype",
]
