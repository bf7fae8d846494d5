"""``position``: the object moved to a uniformly random place fully inside the frame.

``PositionSpec()`` is the benchmark's edit: a new top-left corner uniform in ``[0, W - w] x
[0, H - h]``. ``PositionSpec(shift=s)`` is a sweep level: the object moves the fraction ``s`` of
the way from its place to that random corner, drawn once per image for every level, so the
displacement grows with ``s`` along one line.

The object is the box ``options.object_box`` picks: the authors move the bounding box of the mask's
largest contour (the mask pixels inside it; other parts of the mask are left out), the corrected
protocol the whole mask's box. The move is made at the working resolution, on the resized photo and
mask, as the authors do (``image_editor.py`` 224-242: the photo and mask are resized to 256x256 first,
then ``find_bbox`` takes the largest contour's box on the resized mask and ``change_place`` moves those
pixels); the moved pixels are copied exactly, with no second resampling.
"""

from __future__ import annotations

from imagenet_e_dataset.attributes.position import PositionSpec

from .base import AttributePlanner, EditContext, EditSpec, register_planner


@register_planner("position")
class PositionPlanner(AttributePlanner):
    harmonizable = True

    def plan(self, ctx: EditContext, spec: EditSpec):
        from ..seeding import rng_for
        from ..transforms import box_of, move_random, move_to

        assert isinstance(spec, PositionSpec)
        # The working-resolution photo and mask (not ctx.transform_input()): the authors move after the resize.
        image, mask = ctx.source.image, ctx.source.object_mask
        box_kind = ctx.options.object_box
        if spec.shift is None:
            return ctx.from_transform(move_random(image, mask, rng_for(ctx.seed), box_kind))
        target = move_random(image, mask, rng_for(ctx.seed), box_kind).params
        box = box_of(mask, box_kind)
        x0, y0 = box[0], box[1]
        x = int(round(x0 + spec.shift * (target["x"] - x0)))
        y = int(round(y0 + spec.shift * (target["y"] - y0)))
        t = move_to(image, mask, x, y, box=box)
        t.params.update(shift=spec.shift, target=[target["x"], target["y"]], object_box=target["object_box"])
        return ctx.from_transform(t)
