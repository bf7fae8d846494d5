"""The closed vocabularies that generation and evaluation share: ``--device``, ``--dtype`` and resampling filters.

Defined once on the ground floor so ``imagenet-e generate`` / ``edit`` and ``imagenet-e evaluate`` accept
the same words and refuse a bad one with the same message. What a word means on this machine (which
GPU ``auto`` is, which dtype ``auto`` is) is :mod:`imagenet_e_dataset.runtime`'s job; this module
imports neither torch nor PIL.
"""

from __future__ import annotations

import argparse
import enum
import re
from typing import Any, TypeVar


E = TypeVar("E", bound=enum.Enum)


def parse_choice(vocabulary: type[E], value: Any, what: str) -> E:
    """The member of ``vocabulary`` whose value is ``value``: the one check at the boundary of every closed
    vocabulary, with one message naming the bad value and the valid ones.

    >>> parse_choice(DtypeChoice, "bf16", "dtype")
    <DtypeChoice.BF16: 'bf16'>
    >>> parse_choice(DtypeChoice, "fp64", "dtype")
    Traceback (most recent call last):
    ...
    ValueError: unknown dtype 'fp64'; valid: auto, fp32, bf16, fp16
    """
    try:
        return vocabulary(value)
    except ValueError:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(str(m.value) for m in vocabulary)}") from None


class DeviceChoice(str, enum.Enum):
    """The named ``--device`` values; ``cuda:N`` (one GPU by index) is accepted beside them (:func:`parse_device`)."""

    AUTO = "auto"
    """This process's GPU when CUDA is available, else the CPU."""
    CPU = "cpu"
    CUDA = "cuda"
    """This process's GPU (``LOCAL_RANK`` modulo the GPUs); an error without one."""
    MPS = "mps"
    """Apple's Metal GPU."""


DEVICE_FORMS = f"{', '.join(choice.value for choice in DeviceChoice)} or cuda:N"
"""Every accepted form, for help texts and error messages."""
_CUDA_INDEX = re.compile(r"cuda:([0-9]+)")
_DEVICE_VALUES = frozenset(choice.value for choice in DeviceChoice)


def parse_device(value: str | DeviceChoice) -> str:
    """The canonical device name of ``value``: a :class:`DeviceChoice` value or ``cuda:N``.

    >>> parse_device("cuda:01"), parse_device(DeviceChoice.MPS)
    ('cuda:1', 'mps')
    """
    if isinstance(value, DeviceChoice):
        return value.value
    if isinstance(value, str):
        if value in _DEVICE_VALUES:
            return value
        match = _CUDA_INDEX.fullmatch(value)
        if match:
            return f"cuda:{int(match.group(1))}"
    raise ValueError(f"unknown device {value!r}; valid: {DEVICE_FORMS}")


class DtypeChoice(str, enum.Enum):
    """``--dtype``: the compute precision (``auto``: :func:`imagenet_e_dataset.runtime.choose_dtype` picks)."""

    AUTO = "auto"
    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"


def parse_dtype(value: str | DtypeChoice) -> DtypeChoice:
    """The :class:`DtypeChoice` of ``value``; a ValueError naming it and the valid ones otherwise."""
    return parse_choice(DtypeChoice, value, "dtype")


class Resample(str, enum.Enum):
    """A PIL resampling filter, by its lower-case name (what results and edit records store).

    Evaluation preprocessing takes any of them; rotating an object takes only the filters that both
    ``PIL.Image.rotate`` and OpenCV's warp implement alike (``generation.geometry.ROTATION_RESAMPLES``).
    """

    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    LANCZOS = "lanczos"

    @property
    def pil(self) -> Any:
        """The ``PIL.Image.Resampling`` member (PIL is imported only here)."""
        from PIL import Image

        return Image.Resampling[self.name]


def device_argument(text: str) -> str:
    """argparse ``type`` of every ``--device`` flag (:func:`parse_device`, its message as the flag's error)."""
    try:
        return parse_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def dtype_argument(text: str) -> DtypeChoice:
    """argparse ``type`` of every ``--dtype`` flag (:func:`parse_dtype`, its message as the flag's error)."""
    try:
        return parse_dtype(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


__all__ = [
    "DEVICE_FORMS",
    "DeviceChoice",
    "DtypeChoice",
    "Resample",
    "device_argument",
    "dtype_argument",
    "parse_device",
    "parse_dtype",
]
