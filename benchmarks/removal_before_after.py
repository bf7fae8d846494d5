"""Before/after pictures of object removal: the official protocol's stand-in (``patchmatch``: hole grown by
the halo and a rim proportional to the object, push-pull structure) against the corrected protocol's
``layered`` removal (halo + cast shadow + 1 px, PatchMatch texture over Telea's and push-pull's low frequencies), on the three photos
of the first demo.

Each row: the photo with its mask's outline, the clean background before and after, and the
``size_0.05`` and ``position_random`` edits (which show the clean background around the moved or
shrunk object) before and after. Writes ``docs/assets/removal_before_after.png``.

    python benchmarks/removal_before_after.py
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHOTOS = (("chelsea", "skimage:chelsea", "chelsea_mask.png"), ("coffee", "skimage:coffee", "coffee_mask.png"),
          ("grace hopper", "matplotlib:grace_hopper.jpg", "grace_hopper_mask.png"))

WHEN = {"before": "patchmatch", "after": "layered"}
"""The official protocol's removal, the corrected protocol's."""



def main() -> int:
    from generation.contact_sheet import contact_sheet, outline
    from generation.edits import EditOptions, edit_subset, prepare_source
    from generation.inpaint import make_inpainter
    from generation.seeding import derive_seed
    from imagenet_e.demo.run import photo_pixels

    OPTIONS = EditOptions(harmonize=False)  # the edits show the removed background as it is (no λ = 0 pass)
    items = []
    for name, spec, asset in PHOTOS:
        photo = photo_pixels(spec)
        mask = np.asarray(Image.open(resources.files("imagenet_e.demo").joinpath(f"assets/{asset}")).convert("L")) > 127
        prepared = {when: prepare_source(photo, mask, make_inpainter(painter), OPTIONS, source_id=name)
                    for when, painter in WHEN.items()}
        items.append((f"{name} + mask", outline(photo, mask)))
        for when in WHEN:
            items.append((f"removed, {when}", prepared[when].background))
        for subset in ("size_0.05", "position_random"):
            for when in WHEN:
                result = edit_subset(prepared[when], None, subset, seed=derive_seed(404, name, subset), options=OPTIONS)
                items.append((f"{subset}, {when}", result.image))
    out = contact_sheet(items, ROOT / "docs" / "assets" / "removal_before_after.png", columns=7, tile=200)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
