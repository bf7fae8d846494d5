"""``background``: the background re-synthesised with a complexity weight λ, or taken from another photo.

``BackgroundSpec(lam, adversarial)`` asks the background editor for λ (``> 0`` more complex, ``< 0``
smoother, ``0`` the regeneration control) and optionally adversarial classifier guidance;
``RandomBackgroundSpec()`` puts the object on the clean background of another source image: under
the official protocol (``harmonize``) as the authors do, the other background is the start image of
the blended diffusion with λ = 0 and the object is blended in; otherwise the object is pasted.
"""

from __future__ import annotations

from typing import Any

from imagenet_e_dataset.attributes.background import BackgroundSpec, RandomBackgroundSpec

from .base import AttributePlanner, EditContext, EditSpec, Requirement, register_planner


@register_planner("background")
class BackgroundPlanner(AttributePlanner):
    def requirements(self, spec: EditSpec, options: Any) -> frozenset[Requirement]:
        if isinstance(spec, RandomBackgroundSpec):
            if options.harmonize:
                return frozenset({Requirement.OTHER_BACKGROUND, Requirement.EDITOR})
            return frozenset({Requirement.OTHER_BACKGROUND})
        needs = {Requirement.EDITOR}
        if spec.adversarial:
            needs |= {Requirement.CLASSIFIER, Requirement.LABEL}
        return frozenset(needs)

    def plan(self, ctx: EditContext, spec: EditSpec):
        from ..composite import composite

        src = ctx.source
        if isinstance(spec, RandomBackgroundSpec):
            return self._plan_random(ctx)
        assert isinstance(spec, BackgroundSpec)
        lam = spec.lam if ctx.lam is None else float(ctx.lam)
        if spec.adversarial and ctx.label is None:
            raise ValueError(f"{ctx.subset.name} needs label= (the class whose probability the adversarial guidance lowers)")
        image = composite(src.background, src.image, src.object_mask)
        return ctx.needs_editor(image, src.object_mask, {**ctx.params, "adversarial": spec.adversarial},
                                lam=lam, adversarial=spec.adversarial)

    def _plan_random(self, ctx: EditContext):
        from ..composite import composite
        from ..edit_types import PreparedSource, check_photo
        from ..working import resize_photo_to

        src, other = ctx.source, ctx.other_background
        if other is None:
            raise ValueError(f"{ctx.subset.name} needs other_background: the clean background of another source image")
        params = dict(ctx.params)
        if isinstance(other, PreparedSource):
            params["other_source_id"] = other.source_id
            other = other.background
        other = check_photo(other)
        r = ctx.options.resolution
        if other.shape[:2] != (r, r):
            other = resize_photo_to(other, r, ctx.options.working_resize)
        image = composite(other, src.image, src.object_mask, ctx.options.compositing)
        if ctx.options.harmonize:
            # The authors' random_bg: the other background starts the same blended diffusion (λ = 0).
            return ctx.needs_editor(image, src.object_mask, params, lam=0.0, background=other)
        return ctx.finished(image, src.object_mask, params)
