"""ImageNet-E from the authors' release layout: the one reader of the release, and a ``datasets`` builder.

Release layout: a root with one folder per subset (official names ``ori``, ``20_hard``, ...; see
the registry) and ``labels.txt``, one line per source image ``ILSVRC2012_val_XXXXXXXX.JPEG<TAB><label>``.
Edited folders hold ``ILSVRC2012_val_XXXXXXXX.png``; ``ori/`` and ``full/`` hold ``.JPEG``.

:func:`iter_release_examples` is used both by :class:`ImagenetE` (usable directly with today's
``datasets``, and as a loading script with ``datasets<4``) and by the Hub-layout importer, so the
release is read by one code path. Images keep their original encoded bytes.

Direct use::

    builder = ImagenetE(config_name="background_20", data_dir="/data/imagenet-e", cache_dir=...)
    builder.download_and_prepare()
    ds = builder.as_dataset("test")
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
from PIL import Image

# Absolute imports: as a datasets<4 loading script this file is copied alone into a modules cache,
# where relative imports would not resolve; the installed package provides them.
from imagenet_e_dataset.features import SOURCE_ID_PATTERN, make_features
from imagenet_e_dataset.labels import wnids
from imagenet_e_dataset.labels_file import read_labels_file
from imagenet_e_dataset.registry import DEFAULT_CONFIG, SUBSETS, Subset, resolve

LABELS_FILE = "labels.txt"
IMAGE_SUFFIXES = frozenset({".png", ".jpeg", ".jpg"})
# ASCII digits only ([0-9], not \d, which also takes "٥"), matched with fullmatch (``$`` would accept a
# trailing newline).
_RELEASE_NAME = re.compile(r"(?P<id>ILSVRC2012_val_[0-9]{8})\.(?:JPEG|jpeg|jpg|JPG|png|PNG)")

_CITATION = """\
@inproceedings{li2023imagenete,
  title     = {ImageNet-E: Benchmarking Neural Network Robustness via Attribute Editing},
  author    = {Li, Xiaodan and Chen, Yuefeng and Zhu, Yao and Wang, Shuhui and Zhang, Rong and Xue, Hui},
  booktitle = {CVPR},
  year      = {2023},
  eprint    = {2303.17096}
}
"""


@dataclass(frozen=True)
class BadFile:
    """One release entry that cannot be imported, and why."""

    subset: str
    """Config name, or ``""`` for a problem in ``labels.txt`` itself."""
    path: str
    reason: str


OnBad = Callable[[BadFile], None]


def _report_or_raise(bad: BadFile, on_bad: OnBad | None) -> None:
    if on_bad is None:
        raise ValueError(f"{bad.path}: {bad.reason}")
    on_bad(bad)


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path`` resolves (links followed) to ``root`` or below it."""
    resolved, base = path.resolve(), root.resolve()
    return resolved == base or base in resolved.parents


def outside_link(path: Path, root: str | os.PathLike) -> str | None:
    """Why ``path`` must not be read: a symbolic link resolving outside ``root`` (None when it is fine).

    A link inside the release that points elsewhere would put a file from outside (a secret, another
    dataset) into the output under a release name.
    """
    if path.is_symlink() and not _inside(path, Path(root)):
        return f"symbolic link to {os.readlink(path)}, outside the release {root}; links leaving the release are never followed"
    return None


def release_folder(root: str | os.PathLike, subset: Subset | str) -> Path:
    """The release folder of one subset; FileNotFoundError naming it when absent, ValueError for a link outside."""
    subset = resolve(subset)
    folder = Path(root) / subset.alias
    problem = outside_link(folder, root)
    if problem is not None:
        raise ValueError(f"release folder {folder} for subset {subset.name!r} is a {problem}: copy the folder into "
                         "the release instead")
    if not folder.is_dir():
        raise FileNotFoundError(f"release folder {folder} for subset {subset.name!r} is missing")
    return folder


def read_release_labels(root: str | os.PathLike, *, on_bad: OnBad | None = None) -> dict[str, int]:
    """Parse ``labels.txt`` into source id -> label. Bad lines raise (or go to ``on_bad``)."""
    path = Path(root) / LABELS_FILE
    problem = outside_link(path, root)
    if problem is not None:
        raise ValueError(f"{path} is a {problem}: copy the file into the release instead")
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the release root must hold {LABELS_FILE}")

    def release_id(name: str) -> str | None:
        match = _RELEASE_NAME.fullmatch(name)
        return match["id"] if match else None

    report = None if on_bad is None else (lambda where, reason: on_bad(BadFile("", where, reason)))
    return read_labels_file(path, source_id=release_id, name_rule="ILSVRC2012_val_XXXXXXXX.JPEG", tab_only=True,
                            on_bad=report)


def _shown(path: Path) -> str:
    """``path`` with newlines, tabs and other control characters escaped: one line in messages and reports."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))


def _image_error(exc: BaseException) -> str:
    # PIL names the stream it read ("<_io.BytesIO object at 0x...>"); the caller names the file.
    return re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "", str(exc)) or type(exc).__name__


def check_image_bytes(data: bytes) -> str | None:
    """Why ``data`` is not a readable image (``None`` when it is). Decodes, never re-encodes."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()  # structure / CRC checks
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # truncated data only shows when the pixels are decoded
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, ValueError, DecompressionBombError)
        return f"unreadable image ({type(exc).__name__}: {_image_error(exc)})"
    return None


def release_files(folder: Path) -> list[Path]:
    """The entries of one release folder in deterministic order (hidden files ignored)."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def iter_release_examples(
    root: str | os.PathLike,
    subset: Subset | str,
    labels: Mapping[str, int],
    *,
    on_bad: OnBad | None = None,
    verify: bool = True,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(source_id, row)`` for every image of one subset's release folder.

    Rows match :func:`imagenet_e_dataset.features.make_features` (``seed`` is None: the release
    does not record seeds). A bad entry raises ``ValueError`` naming the file, or, with ``on_bad``,
    is reported there and skipped.
    """
    subset = resolve(subset)
    folder = release_folder(root, subset)
    names = wnids()
    seen: dict[str, str] = {}  # source id -> file name; a config holds each source image once
    for path in release_files(folder):
        problem = outside_link(path, root)
        if problem is not None:
            _report_or_raise(BadFile(subset.name, _shown(path), problem), on_bad)
            continue
        if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
            _report_or_raise(BadFile(subset.name, _shown(path), "not an image file (.png / .JPEG expected)"), on_bad)
            continue
        source_id = path.stem
        if not SOURCE_ID_PATTERN.fullmatch(source_id):
            _report_or_raise(BadFile(subset.name, _shown(path), "file name is not ILSVRC2012_val_XXXXXXXX.<ext>"), on_bad)
            continue
        if source_id not in labels:
            _report_or_raise(BadFile(subset.name, _shown(path), f"no label line for {source_id} in {LABELS_FILE}"), on_bad)
            continue
        if source_id in seen:
            # e.g. both X.png and X.JPEG: which one is the edit is unknowable, so the later one is bad.
            _report_or_raise(BadFile(subset.name, _shown(path), f"{seen[source_id]} already holds source image {source_id}"), on_bad)
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            _report_or_raise(BadFile(subset.name, _shown(path), f"cannot read file ({exc})"), on_bad)
            continue
        problem = check_image_bytes(data) if verify else None
        if problem is not None:
            _report_or_raise(BadFile(subset.name, _shown(path), problem), on_bad)
            continue
        seen[source_id] = path.name
        label = labels[source_id]
        yield source_id, {
            "image": {"bytes": data, "path": path.name},
            "label": label,
            "wnid": names[label],
            "source_id": source_id,
            "attribute": subset.attribute.name,
            "level": subset.level,
            "seed": None,
        }


@dataclass
class ImagenetEConfig(datasets.BuilderConfig):
    """One subset of the release. Treat as immutable (datasets' BuilderConfig base is not frozen)."""

    subset: Subset | None = None


class ImagenetE(datasets.GeneratorBasedBuilder):
    """ImageNet-E read from the authors' release folder (pass it as ``data_dir``)."""

    VERSION = datasets.Version("1.0.0")
    BUILDER_CONFIG_CLASS = ImagenetEConfig
    BUILDER_CONFIGS = [
        ImagenetEConfig(name=s.name, version=datasets.Version("1.0.0"), description=s.description, subset=s)
        for s in SUBSETS.values() if s.alias  # the release holds the configs that have an official folder
    ]
    DEFAULT_CONFIG_NAME = DEFAULT_CONFIG

    def __init__(self, *args: Any, config_name: str | None = None, **kwargs: Any) -> None:
        # Official folder names are accepted wherever a config name is.
        if config_name is not None:
            config_name = resolve(config_name).name
        super().__init__(*args, config_name=config_name, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description="ImageNet-E: ImageNet validation images with one object attribute edited.",
            features=make_features(False),
            homepage="https://arxiv.org/abs/2303.17096",
            citation=_CITATION,
            license="ImageNet terms of access apply to the images; code Apache-2.0",
        )

    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        data_dir = self.config.data_dir
        if not data_dir:
            raise ValueError(
                "ImageNet-E's release cannot be downloaded automatically: pass data_dir=<folder holding "
                f"{LABELS_FILE} and the subset folders>"
            )
        root = Path(os.path.expanduser(data_dir))
        release_folder(root, self.config.subset)  # fail before any work when the folder is absent
        return [datasets.SplitGenerator(name=datasets.Split.TEST, gen_kwargs={"root": str(root)})]

    def _generate_examples(self, root: str) -> Iterator[tuple[str, dict[str, Any]]]:
        labels = read_release_labels(root)
        yield from iter_release_examples(root, self.config.subset, labels)
