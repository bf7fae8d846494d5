"""``occlusion`` (an extra, not one of the twelve ImageNet-E configs): part of the object hidden.

``OcclusionSpec(share=0.5)`` covers that share of the object's pixels with a band of the photo's
own clean background (the inpainted background behind the object), entering the object's
bounding box from a side drawn from the row's seed. The band's depth is the smallest that covers
at least ``share`` of the object pixels, so the achieved share is exact up to one row/column of
pixels and recorded. The visible part of the object keeps its pixels exactly; the edited
``object_mask`` is what stays visible.
"""

from __future__ import annotations

import math

from imagenet_e_dataset.attributes.occlusion import OcclusionSpec

from .base import AttributePlanner, EditContext, EditSpec, register_planner

SIDES = ("left", "right", "top", "bottom")


def occlusion_band(mask, share: float, side: str):
    """Bool mask of the band entering the object's box from ``side`` that covers >= ``share`` of the object.

    >>> import numpy as np
    >>> m = np.zeros((4, 8), bool); m[1:3, 2:6] = True
    >>> band = occlusion_band(m, 0.5, "left")
    >>> int((band & m).sum()), int(m.sum())
    (4, 8)
    """
    import numpy as np

    if side not in SIDES:
        raise ValueError(f"occlusion side {side!r}; valid: {', '.join(SIDES)}")
    axis = 0 if side in ("left", "right") else 1  # sum over rows for columns, over columns for rows
    counts = mask.sum(axis=axis)
    if side in ("right", "bottom"):
        counts = counts[::-1]
    total = int(counts.sum())
    if total == 0:
        raise ValueError("object mask is empty")
    depth = int(np.searchsorted(np.cumsum(counts), math.ceil(share * total))) + 1
    band = np.zeros(mask.shape, bool)
    n = mask.shape[1] if axis == 0 else mask.shape[0]
    lo, hi = (0, depth) if side in ("left", "top") else (n - depth, n)
    if axis == 0:
        band[:, lo:hi] = True
    else:
        band[lo:hi, :] = True
    # The band only hides the object; outside the object nothing changes.
    return band & mask


@register_planner("occlusion")
class OcclusionPlanner(AttributePlanner):
    harmonizable = True

    def plan(self, ctx: EditContext, spec: EditSpec):
        import numpy as np

        from ..seeding import rng_for
        from ..transforms import TransformResult

        assert isinstance(spec, OcclusionSpec)
        src = ctx.source
        side = SIDES[int(rng_for(ctx.seed).integers(0, len(SIDES)))]
        hidden = occlusion_band(src.object_mask, spec.share, side)
        visible = src.object_mask & ~hidden
        total = int(np.count_nonzero(src.object_mask))
        params = {"occlusion_side": side, "target_share": spec.share, "share": int(np.count_nonzero(hidden)) / total}
        return ctx.from_transform(TransformResult(src.image, visible, params))
