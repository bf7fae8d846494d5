"""The data types the editing toolkit passes between its steps.

:class:`EditOptions` (settings that change the images), :class:`PreparedSource` (a photo at the
working resolution with its clean background), :class:`PlannedEdit` (the CPU-side part of one edit,
finished or waiting for the background editor) and :class:`EditResult`. They live apart from
:mod:`generation.edits` so the attribute plug-ins (:mod:`generation.attributes`) can build them
without importing the subset registry that is made from those plug-ins.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from .composite import Compositing
from .interfaces import BackgroundEditRequest, Rounding
from imagenet_e_dataset.vocab import Resample

from .transforms import ROTATION_RESAMPLES, EditStatus, FullMode, ObjectBox, RotationCenter
from .working import Fit, WorkingResize

__all__ = [
    "EditOptions", "EditResult", "EditStatus", "Fit", "PlannedEdit", "PreparedSource", "SizeInvalid", "SizeLoop",
    "check_photo",
]


class SizeLoop(str, enum.Enum):
    """The loop that brings an object to a size target."""

    OFFICIAL = "official"
    """The authors' crop/canvas steps (:func:`generation.transforms_official.official_rescale`)."""
    CENTRED = "centred"
    """The toolkit's: the original warped once per try about the object's centre (:func:`generation.transforms.rescale_to_rate`)."""


class SizeInvalid(str, enum.Enum):
    """What a size edit that fails ("Invalid size") gives."""

    ORIGINAL = "original"
    """The authors': the untransformed object is used for that target (their script copies the original)."""
    DROP = "drop"
    """The edit is reported unreachable and the row is left out (listed in ``skipped.tsv``)."""


# Option fields that hold an enum, and the enum (strings from a CLI or a config file become members).
_ENUM_FIELDS: dict[str, type[enum.Enum]] = {
    "fit": Fit, "working_resize": WorkingResize, "object_box": ObjectBox, "full_mode": FullMode,
    "size_loop": SizeLoop, "size_invalid": SizeInvalid, "rotation_center": RotationCenter,
    "rotation_resample": Resample, "output_rounding": Rounding, "compositing": Compositing,
}
# Enum fields that take only some of their enum's members (the rest mean nothing to that step).
_ALLOWED_MEMBERS: dict[str, tuple[enum.Enum, ...]] = {"rotation_resample": ROTATION_RESAMPLES}
_BOOL_FIELDS = ("full_at_photo_size", "size_allow_clip", "size_full_fallback", "rotation_keep_inside", "harmonize")


@dataclass(frozen=True)
class EditOptions:
    """Settings of the editing toolkit that change the images (recorded in every result's params).

    The defaults are the ``official`` protocol, the authors' pipeline step by step; the ``corrected``
    protocol and the reason for each of its differences are in :mod:`generation.protocol`.
    """

    resolution: int = 256
    """Side of the square working resolution (with the diffusion backend: the UNet's ``sample_size``)."""
    fit: Fit = Fit.STRETCH
    working_resize: WorkingResize = WorkingResize.LANCZOS
    """How photo and mask reach the working resolution (:mod:`generation.working`)."""
    object_box: ObjectBox = ObjectBox.LARGEST_CONTOUR
    """Which mask pixels are the object that size measures, ``full`` frames and position moves."""
    full_mode: FullMode = FullMode.OFFICIAL
    full_at_photo_size: bool = True
    size_loop: SizeLoop = SizeLoop.OFFICIAL
    size_tolerance: float = 0.015
    size_max_steps: int = 50
    size_allow_clip: bool = True
    """Let a grown object be cut by the frame instead of reporting it unreachable."""
    size_full_fallback: bool = True
    """A target not below the rate of the ``full`` edit takes the ``full`` edit (the authors' rule)."""
    size_invalid: SizeInvalid = SizeInvalid.ORIGINAL
    rotation_center: RotationCenter = RotationCenter.IMAGE
    rotation_keep_inside: bool = False
    """Shift a rotated object that sticks out back into the frame (clipping is reported in params)."""
    rotation_resample: Resample = Resample.NEAREST
    angle_range: tuple[int, int] | None = None
    """Overrides the direction spec's ``[-max_angle, max_angle]`` when set."""
    harmonize: bool = True
    """Send size/position/direction results and ``background_random`` through the background editor
    with λ = 0 (the authors run every edited image through their blended diffusion)."""
    output_rounding: Rounding = Rounding.FLOOR
    compositing: Compositing = Compositing.HARD
    """How a transformed object (and ``background_random``'s object) meets the background
    (:mod:`generation.composite`): the authors paste it under its binary mask."""
    inpainter: str = "patchmatch"
    inpaint_dilation: int | None = None
    """Halo margin removed with the object (pixels at the working resolution); None = automatic."""

    def __post_init__(self) -> None:
        # Strings from a CLI or a config file become the enums here, so bad values fail at the boundary.
        for name, kind in _ENUM_FIELDS.items():
            value = getattr(self, name)
            valid = _ALLOWED_MEMBERS.get(name, tuple(kind))
            try:
                member = kind(value)
            except ValueError:
                member = None
            if member not in valid:
                raise ValueError(f"EditOptions.{name}={value!r}; valid: {', '.join(k.value for k in valid)}")
            object.__setattr__(self, name, member)
        for name in _BOOL_FIELDS:
            value = getattr(self, name)
            if isinstance(value, str) and value.lower() in ("true", "false"):
                value = value.lower() == "true"
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"EditOptions.{name}={value!r} must be true or false")
            object.__setattr__(self, name, bool(value))
        # Values from --edit-option KEY=VALUE arrive as JSON (64.0) or text ("64"); PIL needs a true int.
        for name, lo, hi in (("resolution", 16, 4096), ("size_max_steps", 1, 1000)):
            value = getattr(self, name)
            try:
                number = int(value)
                integral = not isinstance(value, bool) and float(value) == number
            except (TypeError, ValueError):
                integral = False
            if not integral or not lo <= number <= hi:
                raise ValueError(f"EditOptions.{name}={value!r} must be an integer in {lo}..{hi}")
            object.__setattr__(self, name, number)
        if self.angle_range is not None:
            lo, hi = self.angle_range
            if int(lo) != lo or int(hi) != hi or lo > hi:
                raise ValueError(f"EditOptions.angle_range={self.angle_range} must be two integers lo <= hi")
            object.__setattr__(self, "angle_range", (int(lo), int(hi)))
        try:
            tolerance = float(self.size_tolerance)
        except (TypeError, ValueError):
            tolerance = float("nan")
        if not 0 < tolerance < 0.5:
            raise ValueError(f"EditOptions.size_tolerance={self.size_tolerance!r} must be a number in (0, 0.5)")
        object.__setattr__(self, "size_tolerance", tolerance)

    def record(self) -> dict[str, Any]:
        """Every setting as JSON-safe data (enums as their values)."""
        doc: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            doc[f.name] = value
        return doc


@dataclass(frozen=True)
class PreparedSource:
    """One photo made ready for every subset: working-resolution copies and its clean background."""

    photo: np.ndarray
    mask: np.ndarray
    image: np.ndarray
    """The photo at the working resolution."""
    object_mask: np.ndarray
    background: np.ndarray
    """Clean, object-free background at the working resolution."""
    options: EditOptions
    inpainter: str
    source_id: str | None = None


@dataclass(frozen=True)
class EditResult:
    subset: str
    image: np.ndarray | None
    """uint8 (H, W, 3); None when ``status`` is unreachable."""
    object_mask: np.ndarray | None
    status: EditStatus
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is EditStatus.OK


@dataclass(frozen=True)
class PlannedEdit:
    subset: str
    seed: int
    params: dict[str, Any]
    result: EditResult | None = None
    request: BackgroundEditRequest | None = None

    @property
    def needs_editor(self) -> bool:
        return self.request is not None


def check_photo(photo: np.ndarray) -> np.ndarray:
    """The photo as a uint8 (H, W, 3) RGB array, or a ValueError saying what it is instead."""
    photo = np.asarray(photo)
    if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"photo must be a uint8 (H, W, 3) RGB array, got {photo.dtype} {photo.shape}")
    return photo
