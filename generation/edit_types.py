"""The data types the editing toolkit passes between its steps.

:class:`EditOptions` (settings that change the images), :class:`PreparedSource` (a photo at the
working resolution with its clean background), :class:`PlannedEdit` (the CPU-side part of one edit,
finished or waiting for the background editor) and :class:`EditResult`. They live apart from
:mod:`generation.edits` so the attribute plug-ins (:mod:`generation.attributes`) can build them
without importing the subset registry that is made from those plug-ins.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .interfaces import BackgroundEditRequest
from .transforms import EditStatus, FullMode, RotationCenter

__all__ = ["EditOptions", "EditResult", "EditStatus", "Fit", "PlannedEdit", "PreparedSource", "check_photo"]


class Fit(str, enum.Enum):
    """How a photo is brought to the square working resolution."""

    STRETCH = "stretch"
    CENTER_CROP = "center_crop"


@dataclass(frozen=True)
class EditOptions:
    """Settings of the editing toolkit that change the images (recorded in every result's params)."""

    resolution: int = 256
    fit: Fit = Fit.STRETCH
    full_mode: FullMode = FullMode.ASPECT
    """``aspect`` (default) or the official anisotropic ``stretch`` of the bounding box."""
    full_at_photo_size: bool = True
    rotation_center: RotationCenter = RotationCenter.OBJECT
    """``object`` (default) or the official ``image`` centre (``PIL.rotate``)."""
    rotation_keep_inside: bool = True
    """Shift a rotated object that sticks out back into the frame; the official behaviour is
    ``rotation_center="image", rotation_keep_inside=False`` (clipping reported in params)."""
    angle_range: tuple[int, int] | None = None
    """Overrides the direction spec's ``[-max_angle, max_angle]`` when set."""
    size_tolerance: float = 0.015
    size_allow_clip: bool = False
    """Let a grown object be cut by the frame instead of reporting it unreachable."""
    inpainter: str = "patchmatch"
    inpaint_dilation: int | None = None
    """Halo margin removed with the object (pixels at the working resolution); None = automatic."""
    harmonize: bool = False
    """Send size/position/direction results through the background editor with λ = 0."""

    def __post_init__(self) -> None:
        # Strings from a CLI or a config file become the enums here, so bad values fail at the boundary.
        for name, kind in (("fit", Fit), ("full_mode", FullMode), ("rotation_center", RotationCenter)):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, kind(value))
            except ValueError:
                raise ValueError(f"EditOptions.{name}={value!r}; valid: {', '.join(k.value for k in kind)}") from None
        # Values from --edit-option KEY=VALUE arrive as JSON (64.0) or text ("64"); PIL needs a true int.
        try:
            resolution = int(self.resolution)
            integral = float(self.resolution) == resolution
        except (TypeError, ValueError):
            integral = False
        if not integral or not 16 <= resolution <= 4096:
            raise ValueError(f"EditOptions.resolution={self.resolution!r} must be an integer in 16..4096")
        object.__setattr__(self, "resolution", resolution)
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
        return {
            "resolution": self.resolution, "fit": self.fit.value, "full_mode": self.full_mode.value,
            "full_at_photo_size": self.full_at_photo_size, "rotation_center": self.rotation_center.value,
            "rotation_keep_inside": self.rotation_keep_inside, "angle_range": None if self.angle_range is None else list(self.angle_range),
            "size_tolerance": self.size_tolerance, "size_allow_clip": self.size_allow_clip,
            "inpainter": self.inpainter, "inpaint_dilation": self.inpaint_dilation, "harmonize": self.harmonize,
        }


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
