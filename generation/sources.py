"""Source discovery for batch generation: ImageNet val photos, ImageNet-S masks, labels, selection.

Inputs are read in their usual on-disk layouts:

- photos: ``ILSVRC2012_val_XXXXXXXX.JPEG`` flat in one folder or inside ``<wnid>/`` folders;
- masks: ImageNet-S (``<wnid>/ILSVRC2012_val_XXXXXXXX.png``, 0/255, read by :func:`generation.masks.read_mask`) or flat;
- labels: a release-style file (``<file name><TAB><index>`` per line), the photos' wnid folders,
  or by default the 50,000 official validation labels that ship with the package.

Sources are sorted by ``source_id`` so every process of a sharded run sees the same list, and a
source is only ever *skipped with a reason* (never fails the run) when its files are bad.
"""

from __future__ import annotations

import enum
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np

from imagenet_e_dataset.features import is_source_id
from imagenet_e_dataset.label_space import LabelSpace
from imagenet_e_dataset.labels import val_labels, wnid_to_index, wnids
from imagenet_e_dataset.labels_file import read_labels_file as parse_labels_file

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
WNID_PATTERN = re.compile(r"n[0-9]{8}")  # ASCII digits; always used with fullmatch


class SkipReason(str, enum.Enum):
    """Why a source image was left out (written to ``skipped.tsv`` and counted in the card)."""

    MISSING_MASK = "missing_mask"
    UNREADABLE_MASK = "unreadable_mask"
    EMPTY_MASK = "empty_mask"
    FULL_MASK = "full_frame_mask"
    MASK_SIZE_MISMATCH = "mask_size_mismatch"
    UNREADABLE_IMAGE = "unreadable_image"
    UNKNOWN_LABEL = "unknown_label"
    LABEL_MISMATCH = "label_mismatch"
    # Selection filter (not a fault of the files): recorded the same way so the card can count them.
    AREA_OUT_OF_RANGE = "area_out_of_range"
    MULTIPLE_OBJECTS = "multiple_objects"
    # An automatic mask (--auto-mask) that covers several similar-sized regions: the masker's output,
    # not the selection filter's judgement of a given mask, so it is counted apart in the card.
    SEVERAL_REGIONS = "several_regions_mask"
    # Per (source, subset): the edit could not be made (e.g. a size target out of reach).
    UNREACHABLE = "unreachable"
    EDIT_FAILED = "edit_failed"
    # A file in the images folder that cannot be a source at all (its source_id column holds the file's path).
    BAD_FILE_NAME = "bad_file_name"
    UNSUPPORTED_FILE = "unsupported_file"

    @property
    def is_filter(self) -> bool:
        return self in (SkipReason.AREA_OUT_OF_RANGE, SkipReason.MULTIPLE_OBJECTS)

    @property
    def is_file_problem(self) -> bool:
        """A file that is not a source (always reported, whatever ``--limit`` says)."""
        return self in (SkipReason.BAD_FILE_NAME, SkipReason.UNSUPPORTED_FILE)


@dataclass(frozen=True)
class Source:
    """One source photo with its mask and label, as found on disk.

    ``label`` is an index into ``space``, the run's label space (ImageNet-1k for the ImageNet val
    layout; the folder or ``ClassLabel`` names for an image folder or a Hub dataset). ``mask_path``
    is None when the mask is made automatically (``--auto-mask``) where the photo is decoded.
    """

    source_id: str
    image_path: Path
    mask_path: Path | None
    label: int | None
    mask_wnid: str | None = None
    """The ImageNet-S class folder the mask sits in, if any (cross-checked against the label)."""
    space: LabelSpace = field(default_factory=LabelSpace.imagenet, compare=False, repr=False)

    @property
    def wnid(self) -> str | None:
        return None if self.label is None else self.space.ids[self.label]

    @property
    def class_name(self) -> str | None:
        """The class's name (what a text-prompted masker is prompted with)."""
        return None if self.label is None else self.space.names[self.label]


@dataclass(frozen=True)
class Skip:
    """One skipped source (``subset`` is empty when the whole source was skipped)."""

    source_id: str
    reason: SkipReason
    detail: str = ""
    subset: str = ""

    def tsv_line(self) -> str:
        detail = " ".join(self.detail.split())  # one line, no tabs
        return f"{self.source_id}\t{self.subset or '*'}\t{self.reason.value}\t{detail}\n"


@dataclass(frozen=True)
class SelectionFilter:
    """Which sources enter the dataset, judged on their masks (recorded in the dataset card).

    ``min_area``/``max_area`` bound the object's share of the image. ``single_object`` keeps only
    masks with exactly one connected component larger than ``min_component_area`` (a share of the
    image; smaller specks are annotation noise and do not count as objects).
    """

    min_area: float = 0.0
    max_area: float = 1.0
    single_object: bool = False
    min_component_area: float = 0.002

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_area <= self.max_area <= 1.0:
            raise ValueError(
                f"mask area bounds must satisfy 0 <= min-area <= max-area <= 1, got {self.min_area} and {self.max_area}"
            )
        if not 0.0 <= self.min_component_area < 1.0:
            raise ValueError(f"min_component_area must be in [0, 1), got {self.min_component_area}")

    def describe(self) -> dict[str, float | bool]:
        return asdict(self)

    def check(self, mask: np.ndarray) -> Skip | None:
        """``None`` when ``mask`` passes; otherwise the reason (``source_id`` left empty)."""
        area = float(mask.mean())
        if not self.min_area <= area <= self.max_area:
            return Skip("", SkipReason.AREA_OUT_OF_RANGE, f"object covers {area:.4f} of the image, allowed [{self.min_area}, {self.max_area}]")
        if self.single_object:
            count = count_objects(mask, self.min_component_area)
            if count != 1:
                return Skip("", SkipReason.MULTIPLE_OBJECTS, f"{count} connected components above {self.min_component_area} of the image")
        return None


def count_objects(mask: np.ndarray, min_share: float) -> int:
    """Connected components (8-connectivity) covering more than ``min_share`` of the image."""
    import cv2

    _, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]  # row 0 is the background
    return int((areas > min_share * mask.size).sum())


def source_id_of(path: Path) -> str | None:
    # ImageNet val ids are the norm; any file-name-safe stem is accepted too, so a user's own photos
    # (with a labels file or wnid folders) go through the same pipeline.
    stem = path.stem
    return stem if is_source_id(stem) else None


def printable_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with tabs, newlines and other control characters escaped (one TSV cell)."""
    rel = path.relative_to(root).as_posix()
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in rel)


def _index_files(
    root: Path, suffixes: tuple[str, ...], what: str, unusable: list[Skip] | None = None, ignore: Path | None = None,
) -> dict[str, Path]:
    """``source_id -> path`` for every usable file under ``root`` (any depth).

    With ``unusable``, every other non-hidden file is appended to it with the reason it cannot be a
    source (a name that is not a source id, such as ``my cat.png``; a file that is not a photo).
    ``ignore`` (the labels file, when it sits among the photos) is not reported.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"{what} folder {root} does not exist")
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or (ignore is not None and path == ignore):
                continue  # hidden files (.DS_Store, editor backups) are not data
            if path.suffix.lower() not in suffixes:
                if unusable is not None:
                    unusable.append(Skip(printable_path(path, root), SkipReason.UNSUPPORTED_FILE,
                                         f"not a {'/'.join(suffixes)} file"))
                continue
            sid = source_id_of(path)
            if sid is None:
                if unusable is not None:
                    unusable.append(Skip(printable_path(path, root), SkipReason.BAD_FILE_NAME,
                                         f"file name {name!r} is not a source id: use letters, digits, '_', '.', '-' "
                                         "(e.g. ILSVRC2012_val_00000001.JPEG)"))
                continue
            if sid in found:
                raise ValueError(f"{what} for {sid} found twice under {root}: {found[sid]} and {path}")
            found[sid] = path
    return found


def read_labels_file(path: str | os.PathLike) -> dict[str, int]:
    """Parse ``<file name><TAB><index>`` lines (the release's ``labels.txt``) into ``source_id -> label``."""
    return parse_labels_file(path, source_id=lambda name: source_id_of(Path(name)),
                             name_rule="ILSVRC2012_val_XXXXXXXX.JPEG, or letters, digits, '_', '.', '-'")


def _folder_wnid(path: Path, root: Path) -> str | None:
    parent = path.parent
    return parent.name if parent != root and WNID_PATTERN.fullmatch(parent.name) else None


def discover_sources(
    images: str | os.PathLike,
    masks: str | os.PathLike | None,
    labels_file: str | os.PathLike | None = None,
) -> tuple[list[Source], list[Skip]]:
    """All photos under ``images`` paired with their mask and label, sorted by ``source_id``.

    Label precedence: ``labels_file`` > the photo's wnid folder > the official validation labels.
    Photos without a label or mask are returned as :class:`Skip` entries, not as sources. With
    ``masks`` None every source has ``mask_path`` None (its mask is made automatically later).
    """
    images = Path(images)
    skips: list[Skip] = []
    labels_path = None if labels_file is None else Path(labels_file)
    photo_index = _index_files(images, IMAGE_SUFFIXES, "image", unusable=skips, ignore=labels_path)
    if not photo_index:
        raise ValueError(f"no images (.JPEG/.jpg/.png, e.g. ILSVRC2012_val_XXXXXXXX.JPEG) found under {images}")
    mask_index = _index_files(Path(masks), (".png",), "mask") if masks is not None else None
    file_labels = read_labels_file(labels_file) if labels_file is not None else {}
    official: Mapping[str, int] | None = None
    index_of = wnid_to_index()

    sources: list[Source] = []
    for sid in sorted(photo_index):
        photo = photo_index[sid]
        label: int | None
        if labels_file is not None:
            label = file_labels.get(sid)
        elif (folder := _folder_wnid(photo, images)) is not None:
            label = index_of.get(folder)
        else:
            if official is None:
                official = {Path(k).stem: v for k, v in val_labels().items()}
            label = official.get(sid)
        if label is None:
            skips.append(Skip(sid, SkipReason.UNKNOWN_LABEL, f"no label for {photo.name}"))
            continue
        if mask_index is None:
            sources.append(Source(sid, photo, None, label))
            continue
        mask_path = mask_index.get(sid)
        if mask_path is None:
            skips.append(Skip(sid, SkipReason.MISSING_MASK, f"no {sid}.png under {masks}"))
            continue
        mask_wnid = _folder_wnid(mask_path, masks)
        if mask_wnid is not None and mask_wnid in index_of and index_of[mask_wnid] != label:
            skips.append(Skip(sid, SkipReason.LABEL_MISMATCH, f"label {label} ({wnids()[label]}) but mask is under {mask_wnid}/"))
            continue
        sources.append(Source(sid, photo, mask_path, label, mask_wnid))
    return sources, skips


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file header alone (no decode)."""
    from PIL import Image

    with Image.open(path) as img:
        return img.height, img.width


@dataclass(frozen=True)
class Selection:
    """The sources that go through generation, and why the others were left out."""

    sources: tuple[Source, ...]
    skips: tuple[Skip, ...]
    filter: SelectionFilter = field(default_factory=SelectionFilter)
    space: LabelSpace = field(default_factory=LabelSpace.imagenet)
    """The run's label space (the ``label`` ClassLabel names of the dataset it makes)."""


def select_sources(
    candidates: Iterable[Source],
    selection_filter: SelectionFilter,
    *,
    limit: int | None = None,
    skips: Iterable[Skip] = (),
    space: LabelSpace | None = None,
) -> Selection:
    """Check masks and apply the filter in ``source_id`` order, stopping after ``limit`` selected.

    Only the sources examined before the limit is reached are judged (and reported), so a
    ``--limit 10`` trial run reads a handful of masks rather than all of ImageNet-S. A source
    without a mask file (automatic masks) is taken as it is: its mask is made, cleaned and judged by
    the same filter where its photo is decoded (:mod:`generation.pipeline.chunks`), so ``limit``
    counts the first candidates then.
    """
    if limit is not None and limit <= 0:
        raise ValueError(f"--limit must be positive, got {limit}")
    candidates = sorted(candidates, key=lambda s: s.source_id)
    selected: list[Source] = []
    out_skips: list[Skip] = []
    examined: set[str] = set()
    for source in candidates:
        if limit is not None and len(selected) >= limit:
            break
        examined.add(source.source_id)
        skip = None if source.mask_path is None else _judge(source, selection_filter)
        if skip is None:
            selected.append(source)
        else:
            out_skips.append(skip)
    last = selected[-1].source_id if (limit is not None and len(selected) >= limit and selected) else None
    # Discovery skips (missing mask, unknown label) count only inside the examined range, so the
    # report of a limited run describes exactly the sources it walked past.
    for skip in skips:
        if last is None or skip.source_id < last or skip.reason.is_file_problem:
            out_skips.append(skip)
    out_skips.sort(key=lambda s: (s.source_id, s.subset))
    return Selection(tuple(selected), tuple(out_skips), selection_filter, space or LabelSpace.imagenet())


def _judge(source: Source, selection_filter: SelectionFilter) -> Skip | None:
    from generation.masks import read_mask

    sid = source.source_id
    assert source.mask_path is not None
    try:
        mask = read_mask(source.mask_path)
    except ValueError as exc:
        # masks.read_mask validates (readable, not empty, not full-frame) and names the file.
        text = str(exc)
        reason = SkipReason.EMPTY_MASK if "empty" in text else (
            SkipReason.FULL_MASK if "whole image" in text else SkipReason.UNREADABLE_MASK)
        return Skip(sid, reason, text)
    except OSError as exc:
        return Skip(sid, SkipReason.UNREADABLE_MASK, f"{source.mask_path}: {exc}")
    try:
        size = image_size(source.image_path)
    except Exception as exc:  # any decoder failure is a property of this file only
        return Skip(sid, SkipReason.UNREADABLE_IMAGE, f"{source.image_path}: {exc}")
    if size != mask.shape:
        return Skip(sid, SkipReason.MASK_SIZE_MISMATCH, f"image is {size[1]}x{size[0]}, mask is {mask.shape[1]}x{mask.shape[0]}")
    verdict = selection_filter.check(mask)
    if verdict is not None:
        return Skip(sid, verdict.reason, verdict.detail)
    return None


def iter_tsv(skips: Iterable[Skip]) -> Iterator[str]:
    yield "source_id\tsubset\treason\tdetail\n"
    for skip in skips:
        yield skip.tsv_line()
