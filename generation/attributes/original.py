"""``original``: the unedited photo, the control every edited subset is paired with."""

from __future__ import annotations

from .base import AttributePlanner, EditContext, EditSpec, register_planner


@register_planner("original")
class OriginalPlanner(AttributePlanner):
    def plan(self, ctx: EditContext, spec: EditSpec):
        # The release keeps the photo at its own size: the untouched pixels, not the working copy.
        return ctx.finished(ctx.source.photo, ctx.source.mask, ctx.params)
