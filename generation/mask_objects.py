"""How many objects a mask holds: separated objects of comparable size inside one mask.

Used by :func:`generation.masks.mask_warnings` (a warning on any mask) and by
:func:`generation.text_masks.clean_mask` (an automatic mask that merged two objects is refused).
"""

from __future__ import annotations

import numpy as np

__all__ = ["COMPARABLE", "MIN_OBJECT_SHARE", "OPENING_SHARE", "separated_objects"]

COMPARABLE = 0.25
"""A second object counts when its area is at least this share of the largest one's (as ``clean_mask``)."""
MIN_OBJECT_SHARE = 0.01
"""...and it covers at least this share of the frame (specks and stray regions do not count)."""
OPENING_SHARE = 0.05
"""The opening that cuts the thin bridges a salient-object mask draws between two touching objects: an
ellipse of this share of the frame's shorter side (at least 3 px)."""


def separated_objects(mask: np.ndarray) -> list[int]:
    """Areas (px, largest first) of the objects of comparable size a mask holds after a small opening.

    One entry for a mask of one object. Two or more: the mask covers separated objects (u2netp merges the
    giraffe and the zebra standing behind its legs into one connected region; an opening of 5 % of the
    shorter side removes the legs that join them, while the single objects of the demo and of
    ``tests/data/masks`` stay one piece). An
    object counts when it covers at least ``MIN_OBJECT_SHARE`` of the frame and ``COMPARABLE`` of the
    largest object's area.
    """
    import cv2

    mask = np.asarray(mask, bool)
    side = max(3, int(round(OPENING_SHARE * min(mask.shape))) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    opened = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    count, _, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    areas = sorted((int(a) for a in stats[1:, cv2.CC_STAT_AREA]), reverse=True)
    if not areas:
        return []
    floor = max(COMPARABLE * areas[0], MIN_OBJECT_SHARE * mask.size)
    return [a for a in areas if a >= floor] or areas[:1]
