"""``direction``: the object rotated; its old place becomes background.

``DirectionSpec()`` is the benchmark's edit: an integer angle uniform in ``[-45, 45]`` degrees
(``max_angle`` changes the range). ``DirectionSpec(angle=a)`` is a sweep level: a rotation by ``a``
degrees in a sense drawn once per image for every level, so the rotation grows with ``a``.

The options choose the authors' rotation (``PIL.Image.rotate`` about the image centre, NEAREST, black
fill, no expand: the object may be clipped or leave the frame, and is unreachable when nothing is
left) or the corrected one (about the object's centre, kept inside the frame, bilinear). The rotation
is made on the photo at its own resolution, as the authors rotate the original before resizing it.
"""

from __future__ import annotations

from imagenet_e_dataset.attributes.direction import DirectionSpec

from .base import AttributePlanner, EditContext, EditSpec, register_planner


@register_planner("direction")
class DirectionPlanner(AttributePlanner):
    harmonizable = True

    def plan(self, ctx: EditContext, spec: EditSpec):
        from ..seeding import rng_for
        from ..transforms import rotate, rotate_random

        assert isinstance(spec, DirectionSpec)
        opt = ctx.options
        image, mask = ctx.transform_input()
        if spec.angle is not None:
            sense = 1 if rng_for(ctx.seed).integers(0, 2) else -1
            t = rotate(image, mask, sense * spec.angle, center=opt.rotation_center,
                       keep_inside=opt.rotation_keep_inside, resample=opt.rotation_resample)
            t.params["sense"] = sense
            return ctx.from_transform(t)
        angle_range = opt.angle_range if opt.angle_range is not None else (-spec.max_angle, spec.max_angle)
        t = rotate_random(image, mask, rng_for(ctx.seed), angle_range=angle_range, center=opt.rotation_center,
                          keep_inside=opt.rotation_keep_inside, resample=opt.rotation_resample)
        return ctx.from_transform(t)
