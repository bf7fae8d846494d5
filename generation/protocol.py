"""Named editing protocols: ``official`` (the authors' pipeline, step by step) and ``corrected``.

A :class:`Protocol` is a preset of :class:`~generation.edit_types.EditOptions` plus the overrides a
user asked for. ``official`` is the default of ``imagenet-e generate`` and ``imagenet-e edit`` and of
``EditOptions()`` itself: every step as the authors' ImageNet-Editing code does it (the table in
``docs/fidelity.md``). ``corrected`` changes the steps listed in :data:`DEVIATIONS`,
each with its reason. The blended-diffusion step itself (blend at the step's own noise level, the
detached ``class_guided`` adversarial gradient) is the same under both: it is simply correct.

Which subsets a protocol sends through the background editor follows from the attribute plug-ins
(``generation.attributes.requirements(subset, options)``): under ``official`` every edited subset but ``size_full`` does.

The protocol's label (``"official"``, ``"corrected"`` or ``"official protocol with overrides: ..."``)
is recorded in every edit's params, ``manifest.jsonl``, ``edits.json``, the dataset card, the
dataset's ``protocol.json`` and the evaluation results (``dataset.protocol``); datasets made under
different labels are not comparable.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, fields, replace
from typing import Any, Iterable, Mapping

from imagenet_e_dataset.vocab import Resample, parse_choice

from .composite import Compositing
from .edit_types import EditOptions, SizeInvalid, SizeLoop
from .interfaces import Rounding
from .transforms import FullMode, ObjectBox, RotationCenter
from .working import WorkingResize

__all__ = ["DEFAULT_PROTOCOL", "DEVIATIONS", "Deviation", "Protocol", "ProtocolName", "parse_protocol_name", "preset"]


class ProtocolName(str, enum.Enum):
    OFFICIAL = "official"
    """The authors' pipeline, step by step."""
    CORRECTED = "corrected"
    """The authors' pipeline with the fixes in :data:`DEVIATIONS`."""


DEFAULT_PROTOCOL = ProtocolName.OFFICIAL


@dataclass(frozen=True)
class Deviation:
    """One step where ``corrected`` differs from ``official``: the option fields, both values, why."""

    step: str
    settings: tuple[tuple[str, Any, Any], ...]
    """``(EditOptions field, official value, corrected value)``."""
    reason: str


DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(
        "size / position / direction subsets and `background_random`",
        (("harmonize", True, False),),
        "The authors run every edited image through the blended diffusion with λ = 0, which regenerates the "
        "whole background around the transformed object. Without it a transform subset differs from its original "
        "only in the transformed attribute (over the inpainted background), instead of mixing the transform with "
        "the regeneration that `background_0` measures on its own. `harmonize=true` turns it back on.",
    ),
    Deviation(
        "working resolution (photo and mask resampling)",
        (("working_resize", WorkingResize.LANCZOS, WorkingResize.BICUBIC),),
        "The authors binarise the working mask at `> 0.5` of its 0..255 values after a NEAREST resize: on the grey "
        "masks their bilinear size loop carries, every pixel the filter touched at all (value 1 of 255) counts as "
        "object, so a faint rim of the old surroundings travels with a rescaled object. Corrected binarises at the "
        "half level (`> 127`); its photo filter is bicubic (no LANCZOS ringing along high-contrast object edges).",
    ),
    Deviation(
        "which pixels are the object (size rate, `full` box, position box)",
        (("object_box", ObjectBox.LARGEST_CONTOUR, ObjectBox.WHOLE_MASK),),
        "The authors keep only the bounding box of the mask's largest contour: an object in several parts (behind "
        "a branch, a fence) has its rate under-counted, and `position` moves only that box and drops the rest of "
        "the object. The whole mask is the object.",
    ),
    Deviation(
        "`size_full` window",
        (("full_mode", FullMode.OFFICIAL, FullMode.ASPECT),),
        "The authors' window is `new_w = w/H·h` wide (or the height analogue) instead of the frame's aspect, so "
        "resizing it to the frame stretches the object anisotropically. The corrected window is the smallest "
        "window of the frame's aspect that holds the object's box.",
    ),
    Deviation(
        "size loop",
        (("size_loop", SizeLoop.OFFICIAL, SizeLoop.CENTRED), ("size_max_steps", 50, 20)),
        "The authors' loop resamples the already resampled picture (and its grey mask) at every step, up to 50 "
        "times, blurring the object. The centred loop warps the original once per try about the object's centre "
        "and corrects the scale from the measured rate.",
    ),
    Deviation(
        "size: growing past the frame",
        (("size_allow_clip", True, False),),
        "Cropping to grow cuts an object that reaches the frame: the image then shows part of the object "
        "(an occlusion by the frame), not the object at another size. Corrected reports the target unreachable "
        "for that image.",
    ),
    Deviation(
        "size: targets not below the `full` rate",
        (("size_full_fallback", True, False),),
        "The authors use the `full` image (the stretched crop of `size_full`) for such a target: another edit, "
        "not an object of the target size. Corrected reports the target unreachable.",
    ),
    Deviation(
        "size: \"Invalid size\"",
        (("size_invalid", SizeInvalid.ORIGINAL, SizeInvalid.DROP),),
        "When the loop fails the authors' script copies the original, so the size subset holds images whose object "
        "kept its size. Corrected leaves the row out (listed in `skipped.tsv`); paired metrics use the source "
        "images both subsets hold.",
    ),
    Deviation(
        "direction",
        (("rotation_center", RotationCenter.IMAGE, RotationCenter.OBJECT), ("rotation_keep_inside", False, True),
         ("rotation_resample", Resample.NEAREST, Resample.BILINEAR)),
        "`PIL.Image.rotate(angle)` turns the object about the image centre: an off-centre object also travels "
        "along a circle, may be cut by the frame or leave it (nothing is left to classify), and NEAREST leaves "
        "jagged edges. Corrected rotates about the object's own centre, shifts it back inside the frame and "
        "resamples bilinear, so only its direction changes.",
    ),
    Deviation(
        "object edge over the background (transform subsets, `background_random`)",
        (("compositing", Compositing.HARD, Compositing.SOFT),),
        "Pasted under a binary mask at the working resolution, the object's outline is a staircase and its own rim "
        "pixels (mixed with its old surroundings) show as dark or greenish fringes on the new background. Corrected "
        "feathers the mask's inner rim by a guided filter on the object and mixes in linear light; every pixel "
        "outside the mask stays the background's, the interior the object's.",
    ),
    Deviation(
        "editor output to 8 bits",
        (("output_rounding", Rounding.FLOOR, Rounding.ROUND),),
        "Truncating (`to_pil_image` of a float tensor) darkens every regenerated pixel by half a level on average; "
        "corrected rounds to the nearest level.",
    ),
    Deviation(
        "object removal (the clean background)",
        (("inpainter", "patchmatch", "layered"),),
        "The authors' TFill model cannot be installed offline; `official` keeps the PatchMatch stand-in it has always "
        "used (hole grown by the object's halo and ~3.5 % of its side, push-pull structure), so official datasets stay "
        "comparable. That hole replaces true background around the object and the push-pull guide tints large holes "
        "with their surroundings' mean colour. Corrected removes the object with `layered`: the halo, the cast shadow "
        "and 1 px, PatchMatch texture over Telea's (edge) and the membrane's (deep) low frequencies, better on every "
        "score of `benchmarks/bench_removal.py`.",
    ),
)

_OPTION_FIELDS = tuple(f.name for f in fields(EditOptions))


def parse_protocol_name(name: str | ProtocolName) -> ProtocolName:
    """The protocol called ``name``; a ValueError listing the valid names otherwise."""
    return parse_choice(ProtocolName, name, "protocol")


def preset(name: str | ProtocolName) -> EditOptions:
    """The options of a named protocol (``official`` is ``EditOptions()``)."""
    return _preset(parse_protocol_name(name))


@functools.lru_cache(maxsize=None)
def _preset(name: ProtocolName) -> EditOptions:  # options are frozen: one instance per protocol is enough
    if name is ProtocolName.OFFICIAL:
        return EditOptions()
    return replace(EditOptions(), **{field: corrected for d in DEVIATIONS for field, _, corrected in d.settings})


def _text(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _json(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass(frozen=True)
class Protocol:
    """A named protocol's resolved options and the overrides that made them differ from the preset."""

    name: ProtocolName
    options: EditOptions
    overrides: tuple[tuple[str, Any], ...] = ()
    """``(EditOptions field, value)`` for every setting that differs from the preset, in field order."""
    resolution_from: str = "protocol"
    """Where the working resolution comes from: ``protocol`` (256), ``model`` (the UNet's ``sample_size``)
    or ``override`` (``--resolution`` / ``resolution=``)."""

    @classmethod
    def resolve(
        cls,
        name: str | ProtocolName = DEFAULT_PROTOCOL,
        overrides: Mapping[str, Any] | Iterable[tuple[str, Any]] = (),
        *,
        model_resolution: int | None = None,
    ) -> "Protocol":
        """The protocol ``name`` with ``overrides`` (EditOptions fields) applied.

        ``model_resolution`` (the diffusion UNet's ``sample_size``) replaces the preset's 256 unless
        ``resolution`` is overridden. Overrides equal to the preset are not recorded as overrides.
        """
        pname = parse_protocol_name(name)
        asked = dict(overrides)
        unknown = sorted(set(asked) - set(_OPTION_FIELDS))
        if unknown:
            raise ValueError(f"unknown edit option(s) {', '.join(unknown)}; valid: {', '.join(_OPTION_FIELDS)}")
        base = preset(pname)
        resolution_from = "protocol"
        if model_resolution is not None:
            base = replace(base, resolution=model_resolution)
            resolution_from = "model"
        options = replace(base, **asked) if asked else base
        if "resolution" in asked and options.resolution != base.resolution:
            resolution_from = "override"
        changed = tuple((f, _json(getattr(options, f))) for f in _OPTION_FIELDS
                        if getattr(options, f) != getattr(base, f))
        return cls(pname, options, changed, resolution_from)

    @classmethod
    def of(cls, options: EditOptions) -> "Protocol":
        """The protocol plain ``options`` follow: a preset they equal, else ``official`` with overrides."""
        for pname in ProtocolName:
            if options == preset(pname):
                return cls(pname, options)
        return cls.resolve(DEFAULT_PROTOCOL, {f: getattr(options, f) for f in _OPTION_FIELDS})

    @property
    def label(self) -> str:
        """``official``, ``corrected``, or ``<name> protocol with overrides: key=value, ...``."""
        if not self.overrides:
            return self.name.value
        return f"{self.name.value} protocol with overrides: " + ", ".join(f"{k}={_text(v)}" for k, v in self.overrides)

    def record(self) -> dict[str, Any]:
        """The protocol as JSON-safe data: name, label, overrides and every resolved setting."""
        return {
            "name": self.name.value,
            "label": self.label,
            "overrides": {k: v for k, v in self.overrides},
            "resolution_from": self.resolution_from,
            "settings": self.options.record(),
        }

    def deviations(self) -> tuple[Deviation, ...]:
        """The :data:`DEVIATIONS` in effect: every step whose settings are not the authors'."""
        return tuple(d for d in DEVIATIONS if any(getattr(self.options, f) != off for f, off, _ in d.settings))
