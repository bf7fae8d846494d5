"""``background``: what the background edits are, as a dataset records them.

``BackgroundSpec(lam, adversarial)``: the background re-synthesised with complexity weight λ
(``> 0`` more complex, ``< 0`` smoother, ``0`` the regeneration control), optionally with adversarial
classifier guidance; ``RandomBackgroundSpec()``: the object over another source image's clean
background. The object's pixels are kept. Planned in :mod:`generation.attributes.background`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from .base import AttributePlugin, EditSpec, Subset, format_number, parse_number


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


class Background(AttributePlugin):
    name = "background"
    description = "Background complexity edited by blended diffusion (lambda < 0 simpler, > 0 more complex), or swapped."
    spec_types = (BackgroundSpec, RandomBackgroundSpec)
    colour = "#0072B2"
    order = 10
    keeps_object_pixels = True  # only the background around the object is re-made
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
