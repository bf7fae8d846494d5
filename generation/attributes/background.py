"""``background``: the background re-synthesised with a complexity weight λ, or taken from another photo.

``BackgroundSpec(lam, adversarial)`` asks the background editor for λ (``> 0`` more complex, ``< 0``
smoother, ``0`` the regeneration control) and optionally adversarial classifier guidance;
``RandomBackgroundSpec()`` puts the object on the clean background of another source image: under
the official protocol (``harmonize``) as the authors do, the other background is the start image of
the blended diffusion with λ = 0 and the object is blended in; otherwise the object is pasted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from .base import (
    AttributePlugin, EditContext, EditSpec, Requirement, Subset, format_number, parse_number, register_attribute,
)


@dataclass(frozen=True)
class BackgroundSpec(EditSpec):
    """Blended background editing with complexity weight ``lam`` (and adversarial guidance)."""

    attribute: ClassVar[str] = "background"
    lam: float
    adversarial: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.lam, (int, float)) or isinstance(self.lam, bool) or not math.isfinite(self.lam):
            raise ValueError(f"BackgroundSpec.lam must be a finite number, got {self.lam!r}")
        object.__setattr__(self, "lam", float(self.lam))

    def level(self) -> str:
        return format_number(self.lam) + ("_adv" if self.adversarial else "")


@dataclass(frozen=True)
class RandomBackgroundSpec(EditSpec):
    """The object over the clean background of another source image (drawn with the row's seed)."""

    attribute: ClassVar[str] = "background"

    def level(self) -> str:
        return "random"


@register_attribute
class Background(AttributePlugin):
    name = "background"
    keeps_object_pixels = True  # the object is pasted back exactly over every background edit
    description = "Background complexity edited by blended diffusion (lambda < 0 simpler, > 0 more complex), or swapped."
    spec_types = (BackgroundSpec, RandomBackgroundSpec)
    colour = "#0072B2"
    order = 10
    sweep_unit = "lambda, the complexity weight (a finite number; < 0 smoother, > 0 more complex)"

    def sweep_spec(self, value: float) -> EditSpec:
        return BackgroundSpec(value)

    def severity(self, spec: EditSpec) -> float | None:
        # Only plain λ edits lie on the complexity scale (adversarial guidance and swaps do not).
        return spec.lam if isinstance(spec, BackgroundSpec) and not spec.adversarial else None

    def spec_from_level(self, level: str) -> EditSpec | None:
        if level == "random":
            return RandomBackgroundSpec()
        adversarial = level.endswith("_adv")
        lam = parse_number(level.removesuffix("_adv"))
        return None if lam is None else BackgroundSpec(lam, adversarial=adversarial)

    def subsets(self) -> tuple[Subset, ...]:
        s = self.subset
        return (
            s(BackgroundSpec(0.0), "Background re-synthesised by the background editor with lambda = 0 "
                                   "(controls for generation artefacts).", alias="rec", benchmark=True),
            s(BackgroundSpec(-20.0), "lambda = -20: simpler, smoother background.", alias="20_smooth", benchmark=True),
            s(BackgroundSpec(20.0), "lambda = +20: more complex background.", alias="20_hard", benchmark=True),
            s(BackgroundSpec(20.0, adversarial=True), "lambda = +20 plus adversarial classifier guidance.",
              alias="20_adv", benchmark=True),
            s(RandomBackgroundSpec(), "Object pasted onto the background of another image.", alias="random_bg",
              benchmark=True),
        )

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
        image = composite(other, src.image, src.object_mask)
        if ctx.options.harmonize:
            # The authors' random_bg: the other background starts the same blended diffusion (λ = 0).
            return ctx.needs_editor(image, src.object_mask, params, lam=0.0, background=other)
        return ctx.finished(image, src.object_mask, params)
