"""Sources from an ``imagefolder``-style folder: ``DIR/<class name>/<photo>.jpg|jpeg|png``.

The classes are the class folders' names, sorted: that order is the label space
(:meth:`LabelSpace.from_class_ids`, so folders named by ImageNet WordNet ids get ImageNet's class
names). A photo's source id is ``<slug(class)>-<file stem>``, the slug mapping every character
outside ``[A-Za-z0-9_.-]`` to ``_`` (``tabby cat/001.jpg`` -> ``tabby_cat-001``), so ids are
file-name safe and unique across classes; two photos with the same id are refused, naming both.

Masks, when given (``--masks DIR``), are ``<source id>.png`` anywhere under ``DIR`` (flat, or in any
sub-folder, e.g. ``DIR/tabby cat/tabby_cat-001.png``); without them the masks are made
automatically (``--auto-mask``). Files directly in ``DIR``, folders inside a class folder (even one
named ``x.jpg``), hidden files and non-photos are not sources: the visible ones are reported in
``skipped.tsv`` with the reason, like the ImageNet layout's unusable files.

Class names are the folder names in Unicode NFC: ``café`` typed on macOS (NFD) and on Linux (NFC)
is one class; two folders whose names differ only in that form are refused, naming both.

The Hub source (:mod:`generation.source_hub`) stages a dataset's rows as such a folder (one folder
per class index) and comes through :func:`folder_sources` with its own ids and label space.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import Callable, Mapping

from imagenet_e_dataset.features import is_source_id
from imagenet_e_dataset.label_space import LabelSpace

from .sources import IMAGE_SUFFIXES, Skip, SkipReason, Source, _index_files, printable_path

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def slug(text: str) -> str:
    """``text`` with every character outside ``[A-Za-z0-9_.-]`` replaced by ``_``.

    >>> slug("tabby cat"), slug("café/au lait")
    ('tabby_cat', 'caf__au_lait')
    """
    return _UNSAFE.sub("_", text)


def folder_id(class_folder: str, stem: str) -> str:
    return f"{slug(class_folder)}-{slug(stem)}"


def class_folders(root: Path) -> list[str]:
    """The class folder names under ``root`` as on disk, sorted (hidden folders are not classes)."""
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    return sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))


def class_names_nfc(root: Path, folders: list[str]) -> dict[str, str]:
    """Each class folder's name in NFC; ValueError naming both folders when two share an NFC form."""
    seen: dict[str, str] = {}
    for folder in folders:
        name = unicodedata.normalize("NFC", folder)
        if name in seen:
            raise ValueError(
                f"--image-folder {root}: the class folders {seen[name]!r} and {folder!r} are the same name "
                f"{name!r} in different Unicode forms (NFC and NFD, e.g. one made on macOS): they would be two classes "
                "that look identical; merge them into one folder")
        seen[name] = folder
    return {folder: name for name, folder in seen.items()}


def folder_sources(
    root: Path,
    labels: Mapping[str, int],
    space: LabelSpace,
    make_id: Callable[[str, Path], str],
    masks: Path | None,
    *,
    suffixes: tuple[str, ...] = IMAGE_SUFFIXES,
    what: str = "image folder",
) -> tuple[list[Source], list[Skip]]:
    """Photos in ``root/<class folder>/``, labelled ``labels[class folder]``, sorted by source id.

    ``make_id(class folder, path)`` gives a photo's source id; every other visible file (in ``root``
    itself, deeper than one folder, not a photo, an id that is not file-name safe) is a :class:`Skip`.
    """
    skips: list[Skip] = []
    found: dict[str, Source] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        depth = len(here.relative_to(root).parts)
        if depth >= 1:  # a folder inside a class folder is no photo, whatever its name (`x.jpg/`)
            skips += [Skip(printable_path(here / d, root) + "/", SkipReason.UNSUPPORTED_FILE,
                           "a folder inside a class folder: photos go in <class name>/<file> (one level of class "
                           "folders)") for d in dirnames]
            dirnames[:] = []
        for name in sorted(filenames):
            path = here / name
            if name.startswith("."):
                continue  # hidden files (.DS_Store, editor backups) are not data
            cell = printable_path(path, root)
            if depth == 0:
                skips.append(Skip(cell, SkipReason.UNSUPPORTED_FILE,
                                  "directly in the folder: photos go in <class name>/<file> (one level of class folders)"))
                continue
            if path.suffix.lower() not in suffixes:
                skips.append(Skip(cell, SkipReason.UNSUPPORTED_FILE, f"not a {'/'.join(suffixes)} file"))
                continue
            sid = make_id(here.name, path)
            if not is_source_id(sid):
                skips.append(Skip(cell, SkipReason.BAD_FILE_NAME,
                                  f"source id {sid[:60]!r} is not file-name safe (at most 128 letters, digits, '_', "
                                  "'.', '-', starting with a letter or digit)"))
                continue
            if sid in found:
                raise ValueError(f"{what} {root}: {found[sid].image_path} and {path} both get source id {sid!r}; "
                                 "rename one of them")
            found[sid] = Source(sid, path, None, labels[here.name], space=space)
    if masks is not None:
        mask_index = _index_files(masks, (".png",), "mask")
        sources = []
        for sid in sorted(found):
            mask = mask_index.get(sid)
            if mask is None:
                skips.append(Skip(sid, SkipReason.MISSING_MASK, f"no {sid}.png under {masks}"))
                continue
            sources.append(Source(sid, found[sid].image_path, mask, found[sid].label, space=space))
    else:
        sources = [found[sid] for sid in sorted(found)]
    return sources, skips


def discover_image_folder(root: str | os.PathLike, masks: str | os.PathLike | None) -> tuple[list[Source], list[Skip], LabelSpace]:
    """Sources, unusable files and the label space of an image folder (``DIR/<class name>/<photo>``)."""
    root = Path(root)
    names = class_folders(root)
    if not names:
        raise ValueError(f"--image-folder {root} has no class folders: put the photos in <class name>/ sub-folders "
                         "(e.g. tabby cat/001.jpg)")
    nfc = class_names_nfc(root, names)
    classes = sorted(nfc.values())
    space = LabelSpace.from_class_ids(classes, name=f"image folder {root.name}")
    labels = {folder: classes.index(name) for folder, name in nfc.items()}
    sources, skips = folder_sources(root, labels, space, lambda folder, path: folder_id(nfc[folder], path.stem),
                                    None if masks is None else Path(masks))
    if not sources and not any(s.reason is SkipReason.MISSING_MASK for s in skips):
        raise ValueError(f"--image-folder {root} has no photos (.jpg/.jpeg/.png) in its class folders "
                         f"({', '.join(classes[:5])}{', ...' if len(classes) > 5 else ''})")
    return sources, skips, space


__all__ = ["class_folders", "class_names_nfc", "discover_image_folder", "folder_id", "folder_sources", "slug"]
