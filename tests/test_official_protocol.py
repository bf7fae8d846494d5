"""The ``official`` protocol against the authors' behaviour (SPEC §2, "The official protocol, step by step"),
one table row at a time, on synthetic scenes and on the demo photos, with the ``corrected`` counterpart.

The two diffusion rows (blend at the step's own t, ``class_guided`` on a detached x̂0) and the flooring
are pinned in ``tests/test_diffusion_editor.py``; the working resolution taken from the UNet in
``tests/test_generate.py``.
"""

from __future__ import annotations

import io
from importlib import resources

import cv2
import numpy as np
import pytest
from PIL import Image

from helpers.scenes import synthetic_scene
from generation.attributes import Requirement, requirements
from generation.edits import EditOptions, EditStatus, plan_edit, prepare_source, run_edits
from generation.cpu_background import CPUBackgroundEditor
from generation.protocol import Protocol
from generation.seeding import rng_for
from generation.transforms import ObjectBox, RotationCenter, crop_to_frame, measure, move_random, rotate
from generation.transforms_official import official_full_window, official_rescale
from generation.working import WorkingResize, resize_mask_to, resize_photo_to
from imagenet_e_dataset.registry import resolve

OFFICIAL = Protocol.resolve("official", {"resolution": 64, "inpainter": "opencv"})
CORRECTED = Protocol.resolve("corrected", {"resolution": 64, "inpainter": "opencv"})


def demo_photo(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A scikit-image photo (``skimage.data.<name>()``, CC0) and its committed mask from the package's assets."""
    from skimage import data as skimage_data

    mask = resources.files("imagenet_e.demo").joinpath(f"assets/{name}_mask.png").read_bytes()
    return getattr(skimage_data, name)(), np.asarray(Image.open(io.BytesIO(mask)).convert("L")) > 127


@pytest.fixture(scope="module")
def chelsea():
    return demo_photo("chelsea")


@pytest.fixture(scope="module")
def chelsea_sources(chelsea):
    photo, mask = chelsea
    return {p.name.value: prepare_source(photo, mask, options=p, source_id="chelsea") for p in (OFFICIAL, CORRECTED)}


def two_part_scene(h: int = 60, w: int = 90):
    """A big rectangle (the largest contour) and a small separate one."""
    photo = np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), bool)
    mask[10:40, 10:40] = True  # 900 px, box 30x30
    mask[45:55, 70:80] = True  # 100 px, box 10x10
    return photo, mask


# --- row: size / position / direction go through the editor with λ = 0 -------------------------------

@pytest.mark.parametrize("subset", ["size_0.1", "position_random", "direction_random"])
def test_official_harmonises_transforms_over_the_clean_background_with_lambda_zero(chelsea_sources, subset):
    source = chelsea_sources["official"]
    planned = plan_edit(source, None, subset, seed=3, options=OFFICIAL)
    req = planned.request
    assert planned.needs_editor and req.lam == 0.0 and not req.adversarial
    # The start is the clean background of the original; outside the transformed object the image is too.
    assert np.array_equal(req.background, source.background)
    assert np.array_equal(req.image[~req.object_mask], source.background[~req.object_mask])
    assert not np.array_equal(req.object_mask, source.object_mask)  # the object really was transformed
    (result,) = run_edits([planned], CPUBackgroundEditor(iterations=0))
    assert result.ok and np.array_equal(result.image[result.object_mask], req.image[req.object_mask])
    # Corrected: a hard composite, no editor.
    plain = plan_edit(chelsea_sources["corrected"], None, subset, seed=3, options=CORRECTED)
    assert not plain.needs_editor and plain.result.ok
    assert requirements(resolve(subset), OFFICIAL.options) == {Requirement.EDITOR}
    assert requirements(resolve(subset), CORRECTED.options) == set()


# --- row: random_bg is a blended-diffusion start ----------------------------------------------------

def test_official_random_background_starts_the_blended_diffusion_from_the_other_background():
    photo, mask = synthetic_scene(80, 80)
    other_photo, other_mask = synthetic_scene(70, 90, seed=4, cx=20)
    for protocol in (OFFICIAL, CORRECTED):
        source = prepare_source(photo, mask, options=protocol)
        other = prepare_source(other_photo, other_mask, options=protocol, source_id="donor")
        planned = plan_edit(source, None, "background_random", seed=1, other_background=other, options=protocol)
        if protocol is OFFICIAL:
            req = planned.request
            assert req.lam == 0.0 and np.array_equal(req.background, other.background)  # the start image
            assert np.array_equal(req.image[source.object_mask], source.image[source.object_mask])
            assert planned.params["other_source_id"] == "donor"
            assert requirements(resolve("background_random"), protocol.options) == {
                Requirement.OTHER_BACKGROUND, Requirement.EDITOR}
        else:
            assert not planned.needs_editor  # pasted
            image = planned.result.image
            assert np.array_equal(image[~source.object_mask], other.background[~source.object_mask])


# --- row: size rate of the largest contour --------------------------------------------------------

def test_largest_contour_rate_on_a_two_part_mask():
    photo, mask = two_part_scene()
    box, official = measure(mask, ObjectBox.LARGEST_CONTOUR)
    assert box == (10, 10, 40, 40) and official == 900 / (60 * 90)
    assert measure(mask, ObjectBox.WHOLE_MASK)[1] == 1000 / (60 * 90)
    # Grey values count above 127.5 only, inside the box only.
    grey = mask.astype(np.uint8) * 255
    grey[10, 10:20] = 128
    grey[11, 10:20] = 127
    assert measure(grey, ObjectBox.LARGEST_CONTOUR)[1] == (900 - 10) / (60 * 90)
    # The size planner reports the largest part's rate as the source rate under the official protocol.
    source = prepare_source(photo, mask, options=OFFICIAL)
    plan = plan_edit(source, None, "size_0.05", seed=0, options=OFFICIAL)
    assert plan.params["source_rate"] == official
    corrected = plan_edit(prepare_source(photo, mask, options=CORRECTED), None, "size_0.05", seed=0, options=CORRECTED)
    assert corrected.params["source_rate"] == pytest.approx(1000 / (60 * 90))


# --- row: the official size loop ------------------------------------------------------------------

def _hand_step(image, values, box, s):
    """One step written out from SPEC (canvas / crop about the box centre, cv2 bilinear), for comparison."""
    H, W = values.shape
    x, y, w, h = box[0], box[1], box[2] - box[0], box[3] - box[1]
    if s < 1:
        canvas = cv2.resize(image, (int(W / s), int(H / s)))
        mask_canvas = np.zeros((int(H / s), int(W / s)), np.uint8)
        oy, ox = int((y + h / 2) * (1 / s - 1)), int((x + w / 2) * (1 / s - 1))
        canvas[oy:oy + H, ox:ox + W] = image
        mask_canvas[oy:oy + H, ox:ox + W] = values
        return cv2.resize(canvas, (W, H)), cv2.resize(mask_canvas, (W, H))
    oy, ox = int((y + h / 2) * (1 - 1 / s)), int((x + w / 2) * (1 - 1 / s))
    crop = (slice(oy, oy + int(H / s)), slice(ox, ox + int(W / s)))
    return cv2.resize(np.ascontiguousarray(image[crop]), (W, H)), cv2.resize(np.ascontiguousarray(values[crop]), (W, H))


@pytest.mark.parametrize("target, center", [(0.05, (60, 30)), (0.1, (30, 45))])
def test_one_official_rescale_step_is_the_canvas_or_crop_of_spec(target, center):
    photo, mask = synthetic_scene(72, 96, cx=center[0], cy=center[1], rx=16 if target < 0.08 else 6, ry=12 if target < 0.08 else 5)
    values = mask.astype(np.uint8) * 255
    box, rate0 = measure(values, ObjectBox.LARGEST_CONTOUR)
    result = official_rescale(photo, mask, target)
    assert result.status is EditStatus.OK and result.params["steps"] == 1
    s = np.sqrt(target / rate0)
    image, grey = _hand_step(photo, values, box, s)
    assert np.array_equal(result.object_image, image) and np.array_equal(result.mask_u8, grey)
    assert abs(result.params["rate"] - target) <= 0.015
    # The box centre stays put, up to the whole-pixel offset scaled by s.
    nb = measure(grey, ObjectBox.LARGEST_CONTOUR)[0]
    slack = 1 + max(1.0, s)
    assert abs((nb[0] + nb[2]) / 2 - (box[0] + box[2]) / 2) <= slack and abs((nb[1] + nb[3]) / 2 - (box[1] + box[3]) / 2) <= slack


def test_object_within_tolerance_is_left_untouched_officially():
    photo, mask = synthetic_scene(64, 64, rx=12, ry=9)  # rate ~0.083
    rate0 = measure(mask, ObjectBox.LARGEST_CONTOUR)[1]
    assert abs(rate0 - 0.08) <= 0.015
    official = official_rescale(photo, mask, 0.08)
    assert official.params["steps"] == 0 and np.array_equal(official.object_image, photo)
    assert np.array_equal(official.object_mask, mask)
    # The corrected loop always rescales (once) to the measured scale.
    corrected = plan_edit(prepare_source(photo, mask, options=CORRECTED), None, "size_0.08", seed=0, options=CORRECTED)
    assert corrected.result.params["scale"] != 1.0


def test_growth_past_the_frame_is_clipped_and_kept_officially_unreachable_when_corrected():
    photo, mask = synthetic_scene(64, 64, cx=5, cy=5, rx=4, ry=4)
    result = official_rescale(photo, mask, 0.1)
    assert result.status is EditStatus.OK and result.params["clipped"] is True
    assert abs(result.params["rate"] - 0.1) <= 0.015
    # The clipped object touches the frame's top-left edges.
    assert result.object_mask[0].any() and result.object_mask[:, 0].any()
    refused = official_rescale(photo, mask, 0.1, allow_clip=False)
    assert refused.status is EditStatus.UNREACHABLE and "clips" in refused.reason
    plan = plan_edit(prepare_source(photo, mask, options=CORRECTED), None, "size_0.1", seed=0, options=CORRECTED)
    assert plan.result.status is EditStatus.UNREACHABLE and "leave the frame" in plan.params["reason"]


def test_invalid_size_uses_the_original_officially_and_is_dropped_when_corrected():
    photo, mask = synthetic_scene(64, 64, cx=5, cy=5, rx=4, ry=4)  # needs two steps to grow to 0.1
    failed = official_rescale(photo, mask, 0.1, max_steps=1)
    assert failed.status is EditStatus.UNREACHABLE and failed.reason.startswith("Invalid size")
    options = Protocol.resolve("official", {"resolution": 64, "inpainter": "opencv", "size_max_steps": 1})
    assert options.label == "official protocol with overrides: resolution=64, size_max_steps=1, inpainter=opencv"
    source = prepare_source(photo, mask, options=options)
    planned = plan_edit(source, None, "size_0.1", seed=0, options=options)
    # The authors' script copies the original: the untransformed object, harmonised like every edit.
    assert planned.needs_editor and planned.params["invalid_size"] is True
    assert "1 steps" in planned.params["invalid_reason"]
    assert np.array_equal(planned.request.object_mask, source.object_mask)
    dropped = Protocol.resolve("official", {"resolution": 64, "inpainter": "opencv", "size_max_steps": 1,
                                            "size_invalid": "drop"})
    result = plan_edit(prepare_source(photo, mask, options=dropped), None, "size_0.1", seed=0, options=dropped).result
    assert result.status is EditStatus.UNREACHABLE and result.image is None


# --- row: size target vs full -----------------------------------------------------------------------

def test_target_not_below_the_full_rate_takes_the_full_image():
    # A thin diagonal stripe: its box spans the frame, so the full crop barely raises its rate (~0.04).
    photo = np.random.default_rng(2).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    mask = np.zeros((60, 80), bool)
    for i in range(80):
        mask[int(i * 59 / 79), max(0, i - 1):i + 2] = True
    full = crop_to_frame(photo, mask, "official", ObjectBox.LARGEST_CONTOUR)
    full_rate = measure(full.mask_u8, ObjectBox.LARGEST_CONTOUR)[1]
    assert full_rate <= 0.05
    source = prepare_source(photo, mask, options=OFFICIAL)
    planned = plan_edit(source, None, "size_0.05", seed=0, options=OFFICIAL)
    assert planned.params["full_fallback"] is True and planned.params["full_rate"] == full_rate
    want = resize_mask_to(full.mask_u8, 64, WorkingResize.LANCZOS)
    assert np.array_equal(planned.request.object_mask, want)
    # Corrected: no fallback; the stripe cannot grow inside the frame.
    result = plan_edit(prepare_source(photo, mask, options=CORRECTED), None, "size_0.05", seed=0, options=CORRECTED).result
    assert result.status is EditStatus.UNREACHABLE


# --- row: full ------------------------------------------------------------------------------------

def test_official_full_window_on_chelsea_is_not_the_tight_box(chelsea, chelsea_sources):
    photo, mask = chelsea
    box = measure(mask, ObjectBox.LARGEST_CONTOUR)[0]
    assert box == (0, 0, 401, 300)  # the cat spans the frame's height
    assert official_full_window(box, mask.shape) == (0, 0, 423, 300)
    official = plan_edit(chelsea_sources["official"], None, "size_full", seed=0, options=OFFICIAL).result
    assert official.params["window"] == [0, 0, 423, 300]
    assert np.array_equal(official.image, cv2.resize(photo[0:300, 0:423], (451, 300), interpolation=cv2.INTER_LINEAR))
    tight = crop_to_frame(photo, mask, "stretch")
    assert tight.params["window"] == [0, 0, 401, 300]
    assert np.abs(official.image.astype(int) - tight.object_image.astype(int)).mean() > 5  # a visibly other image
    corrected = plan_edit(chelsea_sources["corrected"], None, "size_full", seed=0, options=CORRECTED).result
    assert corrected.params["window"] == [0, 0, 451, 300]  # the aspect-preserving window: the whole frame here


# --- row: direction -----------------------------------------------------------------------------------

def test_official_rotation_is_pil_rotate_about_the_image_centre(chelsea):
    photo, mask = chelsea
    result = rotate(photo, mask, 33, center=RotationCenter.IMAGE, keep_inside=False, resample="nearest")
    assert np.array_equal(result.object_image, np.asarray(Image.fromarray(photo).rotate(33)))
    pil_mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).rotate(33)) > 127
    assert np.array_equal(result.object_mask, pil_mask)
    assert result.params["inside_frame"] is False and result.params["area_ratio"] < 1  # clipped, kept
    assert not result.object_image[0, 0].any()  # black fill, no expand


def test_an_object_rotated_out_of_the_frame_is_unreachable_officially():
    photo, mask = synthetic_scene(40, 100, cx=92, cy=20, rx=5, ry=5)  # at the right edge of a wide frame
    options = Protocol.resolve("official", {"resolution": 64, "inpainter": "opencv", "angle_range": (90, 90)})
    source = prepare_source(photo, mask, options=options)
    result = plan_edit(source, None, "direction_random", seed=0, options=options).result
    assert result.status is EditStatus.UNREACHABLE and "left the frame" in result.params["reason"]
    corrected = Protocol.resolve("corrected", {"resolution": 64, "inpainter": "opencv", "angle_range": (90, 90)})
    kept = plan_edit(prepare_source(photo, mask, options=corrected), None, "direction_random", seed=0,
                     options=corrected).result
    assert kept.ok and kept.params["inside_frame"] is True


# --- row: position from the largest contour's box -------------------------------------------------

def test_position_moves_the_largest_contours_box():
    photo, mask = two_part_scene()
    for seed in range(5):
        moved = move_random(photo, mask, rng_for(seed), ObjectBox.LARGEST_CONTOUR)
        x, y = moved.params["x"], moved.params["y"]
        assert 0 <= x <= 90 - 30 and 0 <= y <= 60 - 30
        # Only the 30x30 part moves (and what else of the mask lies in its box); the small part is left out.
        assert moved.object_mask.sum() == 900 and moved.object_mask[y:y + 30, x:x + 30].all()
        whole = move_random(photo, mask, rng_for(seed), ObjectBox.WHOLE_MASK)
        assert whole.object_mask.sum() == 1000
    planned = plan_edit(prepare_source(photo, mask, options=OFFICIAL), None, "position_random", seed=0, options=OFFICIAL)
    assert planned.params["object_box"] == "largest_contour"


# --- row: working resolution ------------------------------------------------------------------------

def test_working_resolution_resampling(chelsea, chelsea_sources):
    # Pinned against the authors' lines in tests/test_official_order.py; here official vs corrected.
    photo, mask = chelsea
    official = chelsea_sources["official"]
    assert np.array_equal(official.image, np.asarray(Image.fromarray(photo).resize((64, 64), Image.LANCZOS)))
    nearest = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((64, 64), Image.NEAREST))
    assert np.array_equal(official.object_mask, nearest > 0.5)  # the authors' np.array(mask) > 0.5 on 0..255
    corrected = chelsea_sources["corrected"]
    assert np.array_equal(corrected.image, np.asarray(Image.fromarray(photo).resize((64, 64), Image.BICUBIC)))
    assert np.array_equal(corrected.object_mask, nearest > 127)
    assert np.array_equal(resize_photo_to(photo, 64, "lanczos"), official.image)
    # A grey mask (the authors' size loop) differs: any touched pixel is object officially, half level corrected.
    grey = np.zeros((80, 120), np.uint8)
    grey[20:60, 30:90] = 255
    grey[19, 30:90] = 3
    assert resize_mask_to(grey, 80, "lanczos").sum() > resize_mask_to(grey, 80, "bicubic").sum()


def test_transforms_run_on_the_photo_before_resizing(chelsea, chelsea_sources):
    # Direction is rotated at the photo's own resolution, then resized (the authors rotate the original).
    photo, mask = chelsea
    options = Protocol.resolve("official", {"resolution": 64, "inpainter": "opencv", "angle_range": (20, 20)})
    planned = plan_edit(chelsea_sources["official"], None, "direction_random", seed=0, options=options)
    rotated = rotate(photo, mask, 20, center=RotationCenter.IMAGE, keep_inside=False, resample="nearest")
    want_mask = resize_mask_to(rotated.object_mask, 64, WorkingResize.LANCZOS)
    want_image = resize_photo_to(rotated.object_image, 64, WorkingResize.LANCZOS)
    assert np.array_equal(planned.request.object_mask, want_mask)
    assert np.array_equal(planned.request.image[want_mask], want_image[want_mask])


def test_default_options_are_the_official_protocol():
    assert Protocol.of(EditOptions()).label == "official"
    assert OFFICIAL.options.harmonize and not CORRECTED.options.harmonize


def test_doctests():
    import doctest

    import generation.transforms_official
    import generation.working

    assert doctest.testmod(generation.transforms_official).failed == 0
    assert doctest.testmod(generation.working).failed == 0
