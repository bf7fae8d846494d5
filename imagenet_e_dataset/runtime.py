"""Where this process runs: its place in a ``torchrun`` / ``accelerate launch`` job, its torch device and dtype.

Shared by generation (``imagenet-e edit`` / ``generate``) and evaluation (``imagenet-e evaluate``), so
both read the launcher's environment and choose a GPU the same way. torch is imported only inside
the functions that need it: this module stays importable without torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

DtypeName = Literal["fp32", "bf16", "fp16"]
DTYPE_NAMES: tuple[DtypeName, ...] = ("fp32", "bf16", "fp16")


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


def choose_device(choice: str = "auto", *, local_rank: int | None = None) -> str:
    """The torch device name for ``--device choice``.

    ``auto``: this process's GPU when CUDA is available, else ``cpu``. ``cuda``: this process's GPU,
    an error when there is none. This process's GPU is ``local_rank`` (default: ``LOCAL_RANK``, else
    ``RANK``) modulo the GPUs, so each launcher process of a node gets its own. Anything else
    (``cpu``, ``cuda:1``, ``mps``) is taken as given once torch accepts the name.
    """
    if choice == "cpu":
        return "cpu"
    try:
        import torch
    except ModuleNotFoundError:
        if choice == "auto":
            return "cpu"
        raise ValueError(f"device {choice!r} needs torch, which is not installed") from None
    if choice in ("auto", "cuda"):
        if not torch.cuda.is_available():
            if choice == "cuda":
                raise ValueError("--device cuda asked for, but torch sees no CUDA device")
            return "cpu"
        if local_rank is None:
            local_rank = env_int("LOCAL_RANK", env_int("RANK", 0))
        return f"cuda:{local_rank % torch.cuda.device_count()}"
    try:
        torch.device(choice)
    except RuntimeError:
        raise ValueError(f"unknown device {choice!r}") from None
    return choice


def choose_dtype(choice: str, device: Any) -> DtypeName:
    """The compute dtype for ``--dtype choice`` on ``device`` (a name or a ``torch.device``).

    ``auto``: fp32 on CPU (CPU autocast is slower than fp32 for most networks, and changes results);
    on a GPU bf16 where supported (no loss scaling needed for gradients), else fp16.
    """
    if choice == "auto":
        kind = getattr(device, "type", None) or str(device).split(":")[0]
        if kind != "cuda":
            return "fp32"
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if choice not in DTYPE_NAMES:
        raise ValueError(f"unknown dtype {choice!r}; choose one of auto, {', '.join(DTYPE_NAMES)}")
    return choice  # type: ignore[return-value]


def torch_dtype(name: DtypeName) -> Any:
    """The ``torch.dtype`` of a dtype name."""
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


__all__ = [
    "DTYPE_NAMES",
    "DtypeName",
    "LaunchEnvironment",
    "choose_device",
    "choose_dtype",
    "env_int",
    "launch_environment",
    "torch_dtype",
]
