"""Per-image edit API: every ImageNet-E subset for one photo, in two phases for batching.

1. :func:`prepare_source` brings the photo to the working resolution and removes the object once
   (inpainting is the slow CPU step; it is shared by every subset of that photo).
2. :func:`plan_edit` does the CPU-side work of one subset (transform, compositing, random draws) and
   returns a :class:`PlannedEdit` holding either a finished :class:`EditResult` or a
   :class:`~generation.interfaces.BackgroundEditRequest`.
3. :func:`run_edits` sends all background requests of a list through ONE ``editor.edit`` call, so a
   GPU editor sees whole batches, and returns one :class:`EditResult` per plan, in order.

:func:`edit_subset` chains the three for a single subset.

Working resolution. The official edited images are 256x256 (with the diffusion backend the UNet's
own ``sample_size``). With ``Fit.STRETCH`` (default) the whole photo is resized to ``resolution x
resolution``, changing its aspect ratio but keeping every object pixel, so object rates are measured
on the full scene. With ``Fit.CENTER_CROP`` the centre square is kept (aspect kept; an object
reaching the cropped sides is cut). How photo and mask are resampled is ``options.working_resize``
(:mod:`generation.working`). Object transforms run on the photo at its own resolution (the fitted
region), as the authors' pipeline does, and their result is resized to the working resolution the
same way. ``original`` returns the photo unchanged and ``size_full`` works at the photo's own size
(the release keeps both as full-size JPEGs) unless ``full_at_photo_size=False``.

Which protocol (``official``, the default, or ``corrected``) the options follow is recorded in every
result's params (:mod:`generation.protocol`); ``options`` may be a :class:`~generation.protocol.Protocol`.

What each subset does is its attribute plug-in's business (:mod:`generation.attributes`): the
subset's typed spec (``BackgroundSpec(lam=20, adversarial=True)``, ``SizeSpec(rate=0.05)``, ...) goes
to its attribute's planner. ``lam=`` overrides λ of background edits; edits that need another
image's background (``background_random``) take it as ``other_background``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np

from imagenet_e_dataset.labels import check_label
from imagenet_e_dataset.registry import Subset, resolve, subset_for_spec

from .attributes import EditContext, EditSpec, planner_for
from .edit_types import EditOptions, EditResult, EditStatus, Fit, PlannedEdit, PreparedSource, check_photo
from .inpaint import Inpainter, make_inpainter
from .interfaces import BackgroundEditor
from . import working
from .masks import validate_mask
from .protocol import Protocol
from .transforms import FullMode, RotationCenter
from .working import fit_region

__all__ = [
    "EditOptions", "EditResult", "EditStatus", "Fit", "FullMode", "PlannedEdit", "PreparedSource", "Protocol",
    "RotationCenter", "edit_subset", "plan_edit", "prepare_source", "run_edits",
]


# --- preparation --------------------------------------------------------------------------------

def to_working(photo: np.ndarray, mask: np.ndarray, options: EditOptions) -> tuple[np.ndarray, np.ndarray]:
    """Photo and mask at ``resolution x resolution``, following ``options.fit`` and ``options.working_resize``."""
    photo, mask = fit_region(photo, mask, options.fit)
    image, work_mask = working.to_working(photo, mask, options.resolution, options.working_resize)
    r = options.resolution
    return image, validate_mask(work_mask, where=f"mask at the {r}x{r} working resolution")


def prepare_source(
    photo: np.ndarray,
    mask: np.ndarray,
    inpainter: str | Inpainter | None = None,
    options: EditOptions | Protocol = EditOptions(),
    *,
    source_id: str | None = None,
) -> PreparedSource:
    """Bring a photo to the working resolution and inpaint its object away (once per photo)."""
    options = options.options if isinstance(options, Protocol) else options
    photo = check_photo(photo)
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


# --- public API ---------------------------------------------------------------------------------

def plan_edit(
    photo: np.ndarray | PreparedSource,
    mask: np.ndarray | None,
    subset: str | Subset | EditSpec,
    *,
    seed: int,
    inpainter: str | Inpainter | None = None,
    other_background: np.ndarray | PreparedSource | None = None,
    label: int | None = None,
    options: EditOptions | Protocol = EditOptions(),
    lam: float | None = None,
) -> PlannedEdit:
    """Do the CPU-side work of one subset for one photo (see the module docstring).

    ``photo`` is a uint8 photo with its bool ``mask``, or a :class:`PreparedSource` (then ``mask`` and
    ``inpainter`` are unused and its resolution settings win). ``seed`` is the per-(image, subset) seed
    (:func:`generation.seeding.derive_seed`); every random draw comes from it. ``options`` are
    :class:`EditOptions` or a :class:`~generation.protocol.Protocol`; the protocol's label goes into
    the params (for plain options, the protocol they match, see :meth:`Protocol.of`).
    """
    protocol = options if isinstance(options, Protocol) else None
    options = protocol.options if protocol is not None else options
    sub = subset_for_spec(subset) if isinstance(subset, EditSpec) else resolve(subset)
    if label is not None:
        label = check_label(label, where=f"plan_edit({sub.name})")
    if isinstance(photo, PreparedSource):
        source = photo
        prepared = (source.options.resolution, source.options.fit, source.options.working_resize)
        if prepared != (options.resolution, options.fit, options.working_resize):
            options = replace(options, resolution=source.options.resolution, fit=source.options.fit,
                              working_resize=source.options.working_resize)
    elif sub.is_original:
        # The unedited photo needs no object removal.
        photo = check_photo(photo)
        m = validate_mask(mask, where="mask", shape=photo.shape[:2])
        source = PreparedSource(photo, m, photo, m, photo, options, "none")
    else:
        if mask is None:
            raise ValueError("plan_edit needs a mask with a raw photo (or pass a PreparedSource)")
        source = prepare_source(photo, mask, inpainter, options)
    if protocol is None:
        protocol = Protocol.of(options)
    params: dict[str, Any] = {"subset": sub.name, "seed": int(seed), "protocol": protocol.label, **options.record(),
                              "inpainter": source.inpainter}
    if label is not None:
        params["label"] = label
    ctx = EditContext(source, sub, int(seed), options, params, other_background, label, lam)
    return planner_for(sub.attribute).plan(ctx, sub.spec)


def _parameters(fn: Callable[..., Any]) -> frozenset[str]:
    import inspect

    try:
        return frozenset(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return frozenset()


def run_edits(planned: Sequence[PlannedEdit], editor: BackgroundEditor | None,
              progress: Callable[[float], None] | None = None) -> list[EditResult]:
    """Finish planned edits: every background request goes through ONE ``editor.edit`` call
    (``progress`` is handed to it: see :meth:`BackgroundEditor.edit`)."""
    pending = [p for p in planned if p.request is not None]
    outputs: list[np.ndarray] = []
    if pending:
        if editor is None:
            names = sorted({p.subset for p in pending})
            raise ValueError(f"subsets {', '.join(names)} need a background editor (e.g. make_background_editor('cpu'))")
        requests = [p.request for p in pending]
        # Reporting progress is optional for an editor (a plug-in may not take it): the caller counts the rest.
        if progress is not None and "progress" in _parameters(editor.edit):
            outputs = list(editor.edit(requests, progress=progress))
        else:
            outputs = list(editor.edit(requests))
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
    subset: str | Subset | EditSpec,
    *,
    seed: int,
    editor: BackgroundEditor | None = None,
    inpainter: str | Inpainter | None = None,
    other_background: np.ndarray | PreparedSource | None = None,
    label: int | None = None,
    options: EditOptions | Protocol = EditOptions(),
    lam: float | None = None,
) -> EditResult:
    """One subset for one photo: ``run_edits([plan_edit(...)], editor)[0]``."""
    planned = plan_edit(photo, mask, subset, seed=seed, inpainter=inpainter, other_background=other_background,
                        label=label, options=options, lam=lam)
    return run_edits([planned], editor)[0]
