"""Per-image edit API: every ImageNet-E subset for one photo, in two phases for batching.

1. :func:`prepare_source` brings the photo to the working resolution and removes the object once
   (inpainting is the slow CPU step; it is shared by every subset of that photo).
2. :func:`plan_edit` does the CPU-side work of one subset (transform, compositing, random draws) and
   returns a :class:`PlannedEdit` holding either a finished :class:`EditResult` or a
   :class:`~generation.interfaces.BackgroundEditRequest`.
3. :func:`run_edits` sends all background requests of a list through ONE ``editor.edit`` call, so a
   GPU editor sees whole batches, and returns one :class:`EditResult` per plan, in order.

:func:`edit_subset` chains the three for a single subset.

Working resolution. The official edited images are 256x256. With ``Fit.STRETCH`` (default) the whole
photo is resized to ``resolution x resolution`` (bicubic; the mask with nearest), changing its aspect
ratio but keeping every object pixel, so object rates are measured on the full scene. With
``Fit.CENTER_CROP`` the shorter side is resized to ``resolution`` and the centre square kept (aspect
kept; an object reaching the cropped sides is cut). ``original`` returns the photo unchanged and
``size_full`` works at the photo's own size (the release keeps both as full-size JPEGs) unless
``full_at_photo_size=False``.

Background λ comes from the registry's level of each subset (``0``, ``-20``, ``20``, ``20_adv`` = 20
plus adversarial guidance); ``lam=`` overrides it. ``background_random`` pastes the object onto the
clean background of another source image, which the caller passes as ``other_background``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from imagenet_e_dataset.labels import check_label
from imagenet_e_dataset.registry import Attribute, Subset, resolve

from .composite import composite
from .inpaint import Inpainter, make_inpainter
from .interfaces import BackgroundEditor, BackgroundEditRequest
from .masks import resize_mask, validate_mask
from .seeding import rng_for
from .transforms import (
    EditStatus,
    FullMode,
    RotationCenter,
    TransformResult,
    crop_to_frame,
    move_random,
    rescale_to_rate,
    rotate_random,
)

__all__ = [
    "EditOptions", "EditResult", "EditStatus", "Fit", "FullMode", "PlannedEdit", "PreparedSource", "RotationCenter",
    "background_level", "edit_subset", "plan_edit", "prepare_source", "run_edits",
]


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
    angle_range: tuple[int, int] = (-45, 45)
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
            "rotation_keep_inside": self.rotation_keep_inside, "angle_range": list(self.angle_range),
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


# --- preparation --------------------------------------------------------------------------------

def _check_photo(photo: np.ndarray) -> np.ndarray:
    photo = np.asarray(photo)
    if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"photo must be a uint8 (H, W, 3) RGB array, got {photo.dtype} {photo.shape}")
    return photo


def to_working(photo: np.ndarray, mask: np.ndarray, options: EditOptions) -> tuple[np.ndarray, np.ndarray]:
    """Photo (bicubic) and mask (nearest) at ``resolution x resolution``, following ``options.fit``."""
    r = options.resolution
    h, w = mask.shape
    if options.fit is Fit.CENTER_CROP:
        side = min(h, w)
        y0, x0 = (h - side) // 2, (w - side) // 2
        photo, mask = photo[y0:y0 + side, x0:x0 + side], mask[y0:y0 + side, x0:x0 + side]
    image = np.asarray(Image.fromarray(photo).resize((r, r), Image.BICUBIC)) if photo.shape[:2] != (r, r) else photo
    work_mask = resize_mask(mask, (r, r)) if mask.shape != (r, r) else mask
    return image, validate_mask(work_mask, where=f"mask at the {r}x{r} working resolution")


def prepare_source(
    photo: np.ndarray,
    mask: np.ndarray,
    inpainter: str | Inpainter | None = None,
    options: EditOptions = EditOptions(),
    *,
    source_id: str | None = None,
) -> PreparedSource:
    """Bring a photo to the working resolution and inpaint its object away (once per photo)."""
    photo = _check_photo(photo)
    mask = validate_mask(mask, where=f"mask of {source_id or 'photo'}", shape=photo.shape[:2])
    image, work_mask = to_working(photo, mask, options)
    if inpainter is None:
        painter = make_inpainter(options.inpainter, dilation=options.inpaint_dilation)
    elif isinstance(inpainter, str):
        painter = make_inpainter(inpainter, dilation=options.inpaint_dilation)
    else:
        painter = make_inpainter(inpainter)
    background = painter.inpaint(image, work_mask)
    return PreparedSource(photo, mask, image, work_mask, background, options, getattr(painter, "name", type(painter).__name__), source_id)


def background_level(level: str) -> tuple[float, bool] | None:
    """λ and adversarial flag of a background subset's registry level; None for ``random``.

    >>> background_level("20_adv")
    (20.0, True)
    >>> background_level("-20")
    (-20.0, False)
    >>> background_level("random") is None
    True
    """
    if level == "random":
        return None
    adversarial = level.endswith("_adv")
    try:
        lam = float(level[: -len("_adv")] if adversarial else level)
    except ValueError:
        raise ValueError(f"background level {level!r} is neither 'random' nor a number (optionally with _adv)") from None
    return lam, adversarial


# --- per-attribute planners ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Context:
    source: PreparedSource
    subset: Subset
    seed: int
    options: EditOptions
    params: dict[str, Any]
    other_background: np.ndarray | PreparedSource | None
    label: int | None
    lam: float | None


_PLANNERS: dict[Attribute, Callable[[_Context], PlannedEdit]] = {}


def _planner(attribute: Attribute):
    def wrap(fn: Callable[[_Context], PlannedEdit]):
        _PLANNERS[attribute] = fn
        return fn

    return wrap


def _finished(ctx: _Context, image: np.ndarray | None, mask: np.ndarray | None, params: dict[str, Any],
              status: EditStatus = EditStatus.OK) -> PlannedEdit:
    result = EditResult(ctx.subset.name, image, mask, status, params)
    return PlannedEdit(ctx.subset.name, ctx.seed, params, result=result)


@_planner(Attribute.ORIGINAL)
def _plan_original(ctx: _Context) -> PlannedEdit:
    return _finished(ctx, ctx.source.photo, ctx.source.mask, ctx.params)


@_planner(Attribute.BACKGROUND)
def _plan_background(ctx: _Context) -> PlannedEdit:
    src = ctx.source
    level = background_level(ctx.subset.level)
    if level is None:
        other = ctx.other_background
        if other is None:
            raise ValueError(f"{ctx.subset.name} needs other_background: the clean background of another source image")
        params = dict(ctx.params)
        if isinstance(other, PreparedSource):
            params["other_source_id"] = other.source_id
            other = other.background
        other = _check_photo(other)
        r = ctx.options.resolution
        if other.shape[:2] != (r, r):
            other = np.asarray(Image.fromarray(other).resize((r, r), Image.BICUBIC))
        return _finished(ctx, composite(other, src.image, src.object_mask), src.object_mask, params)
    lam, adversarial = level
    if ctx.lam is not None:
        lam = float(ctx.lam)
    if adversarial and ctx.label is None:
        raise ValueError(f"{ctx.subset.name} needs label= (the class whose probability the adversarial guidance lowers)")
    params = {**ctx.params, "lam": lam, "adversarial": adversarial}
    request = BackgroundEditRequest(
        image=composite(src.background, src.image, src.object_mask),
        object_mask=src.object_mask,
        background=src.background,
        lam=lam,
        seed=ctx.seed,
        adversarial=adversarial,
        label=ctx.label,
    )
    return PlannedEdit(ctx.subset.name, ctx.seed, params, request=request)


def _from_transform(ctx: _Context, t: TransformResult, background: np.ndarray | None = None) -> PlannedEdit:
    params = {**ctx.params, **t.params}
    if t.status is not EditStatus.OK:
        params["reason"] = t.reason
        return _finished(ctx, None, None, params, t.status)
    bg = ctx.source.background if background is None else background
    image = composite(bg, t.object_image, t.object_mask)
    if not ctx.options.harmonize or background is not None:
        return _finished(ctx, image, t.object_mask, params)
    params["lam"] = 0.0
    request = BackgroundEditRequest(image=image, object_mask=t.object_mask, background=ctx.source.background,
                                    lam=0.0, seed=ctx.seed, label=ctx.label)
    return PlannedEdit(ctx.subset.name, ctx.seed, params, request=request)


@_planner(Attribute.SIZE)
def _plan_size(ctx: _Context) -> PlannedEdit:
    src, opt = ctx.source, ctx.options
    if ctx.subset.level == "full":
        if opt.full_at_photo_size:
            t = crop_to_frame(src.photo, src.mask, opt.full_mode)
            # The crop keeps the photo's own background around the object: no removal, no re-synthesis.
            return _finished(ctx, t.object_image, t.object_mask, {**ctx.params, **t.params})
        t = crop_to_frame(src.image, src.object_mask, opt.full_mode)
        return _finished(ctx, t.object_image, t.object_mask, {**ctx.params, **t.params})
    t = rescale_to_rate(src.image, src.object_mask, float(ctx.subset.level),
                        tolerance=opt.size_tolerance, allow_clip=opt.size_allow_clip)
    return _from_transform(ctx, t)


@_planner(Attribute.POSITION)
def _plan_position(ctx: _Context) -> PlannedEdit:
    return _from_transform(ctx, move_random(ctx.source.image, ctx.source.object_mask, rng_for(ctx.seed)))


@_planner(Attribute.DIRECTION)
def _plan_direction(ctx: _Context) -> PlannedEdit:
    opt = ctx.options
    t = rotate_random(ctx.source.image, ctx.source.object_mask, rng_for(ctx.seed), angle_range=opt.angle_range,
                      center=opt.rotation_center, keep_inside=opt.rotation_keep_inside)
    return _from_transform(ctx, t)


# --- public API ---------------------------------------------------------------------------------

def plan_edit(
    photo: np.ndarray | PreparedSource,
    mask: np.ndarray | None,
    subset: str | Subset,
    *,
    seed: int,
    inpainter: str | Inpainter | None = None,
    other_background: np.ndarray | PreparedSource | None = None,
    label: int | None = None,
    options: EditOptions = EditOptions(),
    lam: float | None = None,
) -> PlannedEdit:
    """Do the CPU-side work of one subset for one photo (see the module docstring).

    ``photo`` is a uint8 photo with its bool ``mask``, or a :class:`PreparedSource` (then ``mask`` and
    ``inpainter`` are unused and its resolution settings win). ``seed`` is the per-(image, subset) seed
    (:func:`generation.seeding.derive_seed`); every random draw comes from it.
    """
    sub = resolve(subset)
    if label is not None:
        label = check_label(label, where=f"plan_edit({sub.name})")
    if isinstance(photo, PreparedSource):
        source = photo
        if (source.options.resolution, source.options.fit) != (options.resolution, options.fit):
            options = replace(options, resolution=source.options.resolution, fit=source.options.fit)
    elif sub.is_original:
        # The unedited photo needs no object removal.
        photo = _check_photo(photo)
        m = validate_mask(mask, where="mask", shape=photo.shape[:2])
        source = PreparedSource(photo, m, photo, m, photo, options, "none")
    else:
        if mask is None:
            raise ValueError("plan_edit needs a mask with a raw photo (or pass a PreparedSource)")
        source = prepare_source(photo, mask, inpainter, options)
    params: dict[str, Any] = {"subset": sub.name, "seed": int(seed), **options.record(), "inpainter": source.inpainter}
    if label is not None:
        params["label"] = label
    ctx = _Context(source, sub, int(seed), options, params, other_background, label, lam)
    return _PLANNERS[sub.attribute](ctx)


def run_edits(planned: Sequence[PlannedEdit], editor: BackgroundEditor | None) -> list[EditResult]:
    """Finish planned edits: every background request goes through ONE ``editor.edit`` call."""
    pending = [p for p in planned if p.request is not None]
    outputs: list[np.ndarray] = []
    if pending:
        if editor is None:
            names = sorted({p.subset for p in pending})
            raise ValueError(f"subsets {', '.join(names)} need a background editor (e.g. make_background_editor('cpu'))")
        outputs = list(editor.edit([p.request for p in pending]))
        if len(outputs) != len(pending):
            raise RuntimeError(f"background editor {editor.name!r} returned {len(outputs)} images for {len(pending)} requests")
    by_id = {id(p): out for p, out in zip(pending, outputs)}
    results: list[EditResult] = []
    for p in planned:
        if p.request is None:
            results.append(p.result)  # type: ignore[arg-type]
            continue
        out, req = by_id[id(p)], p.request
        if out.shape != req.image.shape or out.dtype != np.uint8:
            raise RuntimeError(f"background editor {editor.name!r} returned {out.dtype} {out.shape} for {p.subset}, "
                               f"expected uint8 {req.image.shape}")
        if not np.array_equal(out[req.object_mask], req.image[req.object_mask]):
            raise RuntimeError(f"background editor {editor.name!r} changed object pixels of {p.subset} (must paste them exactly)")
        results.append(EditResult(p.subset, out, req.object_mask, EditStatus.OK, {**p.params, "backend": editor.name}))
    return results


def edit_subset(
    photo: np.ndarray | PreparedSource,
    mask: np.ndarray | None,
    subset: str | Subset,
    *,
    seed: int,
    editor: BackgroundEditor | None = None,
    inpainter: str | Inpainter | None = None,
    other_background: np.ndarray | PreparedSource | None = None,
    label: int | None = None,
    options: EditOptions = EditOptions(),
    lam: float | None = None,
) -> EditResult:
    """One subset for one photo: ``run_edits([plan_edit(...)], editor)[0]``."""
    planned = plan_edit(photo, mask, subset, seed=seed, inpainter=inpainter, other_background=other_background,
                        label=label, options=options, lam=lam)
    return run_edits([planned], editor)[0]
