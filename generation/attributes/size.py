"""``size``: the object rescaled to cover a share of the frame, or its box brought to fill the frame.

``SizeSpec(rate=0.05)`` rescales the object about its centre until it covers 5 % of the image
(within the tolerance); ``SizeSpec(full=True)`` crops a window around the object's bounding box to
the frame. The options choose the authors' steps or the corrected ones (:mod:`generation.protocol`):

- the loop (``size_loop``): the authors' crop/canvas steps (:func:`~generation.transforms_official.official_rescale`)
  or the toolkit's centred warp (:func:`~generation.transforms.rescale_to_rate`), both measuring the
  object by ``object_box`` and letting the frame clip a grown object only with ``size_allow_clip``;
- ``size_full_fallback``: as the authors, the ``full`` edit is made first and a target that is not
  below its rate takes the ``full`` image;
- ``size_invalid``: a failed edit ("Invalid size") gives the untransformed object (the authors copy
  the original) or is reported unreachable.
"""

from __future__ import annotations

from imagenet_e_dataset.attributes.size import SizeSpec

from .base import AttributePlanner, EditContext, EditSpec, register_planner


@register_planner("size")
class SizePlanner(AttributePlanner):
    harmonizable = True

    def requirements(self, spec, options):
        # The full-frame crop keeps the photo's own background: nothing to harmonise.
        return frozenset() if spec.full else super().requirements(spec, options)

    def plan(self, ctx: EditContext, spec: EditSpec):
        from ..edit_types import EditStatus, SizeInvalid, SizeLoop
        from ..transforms import TransformResult, crop_to_frame, measure, rescale_to_rate
        from ..transforms_official import official_rescale

        assert isinstance(spec, SizeSpec)
        src, opt = ctx.source, ctx.options
        if spec.full:
            image, mask = ctx.transform_input() if opt.full_at_photo_size else (src.image, src.object_mask)
            t = crop_to_frame(image, mask, opt.full_mode, opt.object_box)
            return ctx.finished(t.object_image, t.object_mask, {**ctx.params, **t.params})
        image, mask = ctx.transform_input()
        t: TransformResult | None = None
        if opt.size_full_fallback:
            full = crop_to_frame(image, mask, opt.full_mode, opt.object_box)
            _, full_rate = measure(full.object_mask if full.mask_u8 is None else full.mask_u8, opt.object_box)
            if not spec.rate < full_rate:
                # The authors' rule: a target the full-frame crop does not exceed takes the full-frame crop.
                t = TransformResult(full.object_image, full.object_mask,
                                    {"target_rate": spec.rate, "full_fallback": True, "full_rate": full_rate,
                                     **full.params}, mask_u8=full.mask_u8)
        if t is None:
            if opt.size_loop is SizeLoop.OFFICIAL:
                t = official_rescale(image, mask, spec.rate, tolerance=opt.size_tolerance, max_steps=opt.size_max_steps,
                                     allow_clip=opt.size_allow_clip, object_box=opt.object_box)
            else:
                t = rescale_to_rate(image, mask, spec.rate, tolerance=opt.size_tolerance,
                                    max_iterations=opt.size_max_steps, allow_clip=opt.size_allow_clip,
                                    object_box=opt.object_box)
        if t.status is not EditStatus.OK and opt.size_invalid is SizeInvalid.ORIGINAL:
            # "Invalid size": the authors' script copies the original, which is then edited like the others.
            params = {**t.params, "invalid_size": True, "invalid_reason": t.reason, "scale": 1.0,
                      "rate": measure(mask, opt.object_box)[1]}
            t = TransformResult(image, mask, params)
        return ctx.from_transform(t)
