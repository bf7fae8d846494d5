"""Sources from a Hub image-classification dataset (``--hf-dataset ID --split S``), staged as a folder.

1. The request is checked against the dataset's features BEFORE any work: the image column must be
   an ``Image`` feature, the label column a ``ClassLabel`` or an integer ``Value`` (the error names
   the column, what it is, and the columns that exist).
2. The split is streamed with ``datasets`` (``streaming=True``, the image column cast to
   ``Image(decode=False)``, so the encoded bytes are never decoded here) and every row's bytes are
   written AS-IS into a staging folder inside the run's work folder
   (``<out>.work/hf-source/images/<label index>/<split>-<row:06d>.<ext>``), each file atomically.
   A completion marker (``complete.json``) records the request (id, config, split, revision,
   columns), the row count, the class names and the rows that are no source (no image, no label):
   a rerun that finds it reuses the staging without touching the Hub; a rerun of a killed staging
   keeps the files it already wrote. A staging made for another request is restaged, never mixed
   (and refused when the work folder already holds chunks of that other request).
3. The staged folder goes through the image-folder code path (:func:`generation.source_folder.folder_sources`)
   with source id ``<split>-<row index:06d>`` (stable: the row's place in the split) and the
   dataset's label space (its ``ClassLabel`` names; ``"0".."max"`` for an integer label column).

Under a launcher (torchrun / accelerate launch) only rank 0 stages; the other ranks wait for its
marker (streaming the same split N times would only multiply the download). Jobs of an array
(``--num-shards``) cannot tell whether rank 0's job runs at all, so each stages idempotently: every
file is written to a temporary name and renamed, the bytes of a row are the same whoever writes
them, and the marker is written last, so concurrent stagers never leave a mixed or partial folder.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from imagenet_e_dataset.atomic import atomic_write_bytes
from imagenet_e_dataset.label_space import LabelSpace

from .sources import Skip, SkipReason, Source

STAGING_NAME = "hf-source"
MARKER_NAME = "complete.json"
REQUEST_NAME = "request.json"
_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "GIF": ".gif", "TIFF": ".tif"}
STAGED_SUFFIXES = tuple(sorted(set(_FORMATS.values()) | {".img"}))


@dataclass(frozen=True)
class HubRequest:
    """Which rows of which Hub dataset are the sources."""

    dataset: str
    split: str
    config: str | None = None
    revision: str | None = None
    image_column: str = "image"
    label_column: str = "label"

    def __post_init__(self) -> None:
        for key in ("dataset", "split", "image_column", "label_column"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"--hf-dataset: {key.replace('_', '-')} must be a non-empty string, got {value!r}")

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    def label_text(self) -> str:
        config = f" (config {self.config})" if self.config else ""
        return f"{self.dataset}{config}, split {self.split}"


def _kind(feature: Any) -> str:
    return type(feature).__name__ + (f"({feature.dtype})" if hasattr(feature, "dtype") else "")


def resolve_features(request: HubRequest) -> Any:
    """The dataset's features (from the builder's info, else the streamed split's)."""
    import datasets

    try:
        builder = datasets.load_dataset_builder(request.dataset, request.config, revision=request.revision)
        features = builder.info.features
        if features is None:
            features = datasets.load_dataset(request.dataset, request.config, split=request.split,
                                              revision=request.revision, streaming=True).features
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"--hf-dataset {request.dataset}: cannot read the dataset ({' '.join(str(exc).split())[:300]})") from None
    if features is None:
        raise ValueError(f"--hf-dataset {request.dataset}: the dataset does not declare its features, so its image "
                         "and label columns cannot be checked")
    return features


def check_features(request: HubRequest, features: Any) -> LabelSpace | None:
    """Refuse columns that are missing or of the wrong kind; the label space of a ``ClassLabel`` column.

    Returns None for an integer label column (its space, ``"0".."max"``, is known once staged).
    """
    import datasets

    columns = ", ".join(features) or "none"
    image = features.get(request.image_column)
    if image is None:
        raise ValueError(f"--hf-dataset {request.dataset}: no image column {request.image_column!r} "
                         f"(--image-column); its columns are: {columns}")
    if not isinstance(image, datasets.Image):
        raise ValueError(f"--hf-dataset {request.dataset}: column {request.image_column!r} is {_kind(image)}, not an "
                         f"Image feature (--image-column); its columns are: {columns}")
    label = features.get(request.label_column)
    if label is None:
        raise ValueError(f"--hf-dataset {request.dataset}: no label column {request.label_column!r} "
                         f"(--label-column); its columns are: {columns}")
    if isinstance(label, datasets.ClassLabel):
        if not label.names:
            raise ValueError(f"--hf-dataset {request.dataset}: ClassLabel column {request.label_column!r} has no class names")
        return LabelSpace.from_names(list(label.names), name=request.dataset)
    if isinstance(label, datasets.Value) and label.dtype in ("int8", "int16", "int32", "int64", "uint8", "uint16",
                                                              "uint32", "uint64"):
        return None
    raise ValueError(f"--hf-dataset {request.dataset}: label column {request.label_column!r} is {_kind(label)}; it must "
                     f"be a ClassLabel or an integer Value (--label-column); its columns are: {columns}")


def _request_doc(request: HubRequest) -> dict[str, Any]:
    return {"version": 1, **request.describe()}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _suffix(raw: bytes) -> str:
    """The file suffix of encoded image bytes, from their header alone (nothing is decoded)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(raw)) as img:
            return _FORMATS.get(str(img.format), ".img")
    except Exception:  # not an image: staged anyway, and skipped as unreadable where it is decoded
        return ".img"


def stage(request: HubRequest, staging: Path, space: LabelSpace | None, *, wait_only: bool = False,
          wait_s: float = 1800.0, poll_s: float = 1.0, claimed: bool = False) -> dict[str, Any]:
    """Stage the split's rows under ``staging`` (or reuse a complete staging); return the marker document.

    ``wait_only``: another process (rank 0) stages; wait up to ``wait_s`` for its marker.
    ``claimed``: the work folder already belongs to a run, so a staging of another request is refused.
    """
    wanted = _request_doc(request)
    marker = staging / MARKER_NAME
    if wait_only:
        deadline = time.time() + wait_s
        while time.time() < deadline:
            doc = _read_json(marker)
            if isinstance(doc, dict) and doc.get("request") == wanted:
                return doc
            time.sleep(poll_s)
        raise ValueError(f"waited {wait_s:g} s (--rank-timeout) for rank 0 to stage {request.label_text()}: its marker "
                         f"{marker} never appeared (check that rank 0 runs the same command and what it printed, "
                         "then run the same command again)")
    done = _read_json(marker)
    if isinstance(done, dict) and done.get("request") == wanted:
        return done
    started = _read_json(staging / REQUEST_NAME)
    if (done is not None or started is not None) and (done or {}).get("request", started) != wanted:
        if claimed:
            raise ValueError(f"{staging} holds rows of another Hub request ({(done or {}).get('request', started)}); "
                             f"this run asks for {wanted}. Use another --out, or delete {staging.parent} to start over")
        shutil.rmtree(staging)  # a staging of another request, never mixed with this one
    staging.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(staging / REQUEST_NAME, json.dumps(wanted, sort_keys=True).encode())
    return _stream_into(request, staging, space, wanted)


def _stream_into(request: HubRequest, staging: Path, space: LabelSpace | None, wanted: dict[str, Any]) -> dict[str, Any]:
    import datasets

    stream = datasets.load_dataset(request.dataset, request.config, split=request.split, revision=request.revision,
                                   streaming=True)
    stream = stream.cast_column(request.image_column, datasets.Image(decode=False))
    stream = stream.select_columns([request.image_column, request.label_column])
    images = staging / "images"
    bad: list[list[str]] = []
    rows = 0
    top = -1
    for index, row in enumerate(stream):
        rows += 1
        sid = f"{slug_split(request.split)}-{index:06d}"
        label, value = row.get(request.label_column), row.get(request.image_column)
        if label is None or isinstance(label, bool) or not isinstance(label, int) or label < 0 or \
                (space is not None and label >= space.num_classes):
            bad.append([sid, SkipReason.UNKNOWN_LABEL.value, f"row {index}: label {label!r} is no class"])
            continue
        raw = value.get("bytes") if isinstance(value, dict) else None
        if raw is None and isinstance(value, dict) and value.get("path") and Path(value["path"]).is_file():
            raw = Path(value["path"]).read_bytes()
        if not raw:
            bad.append([sid, SkipReason.UNREADABLE_IMAGE.value, f"row {index}: no image bytes"])
            continue
        top = max(top, label)
        folder = images / str(label)
        existing = list(folder.glob(f"{sid}.*")) if folder.is_dir() else []
        if not existing:  # a rerun of a killed staging keeps what it wrote
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(folder / f"{sid}{_suffix(raw)}", raw)
    if rows == 0:
        raise ValueError(f"--hf-dataset {request.label_text()} has no rows")
    names = list(space.names) if space is not None else [str(v) for v in range(top + 1)]
    if not names:
        raise ValueError(f"--hf-dataset {request.label_text()}: no row has a usable label")
    doc = {"request": wanted, "rows": rows, "class_names": names, "not_sources": bad}
    atomic_write_bytes(staging / MARKER_NAME, json.dumps(doc, sort_keys=True, indent=1).encode())
    return doc


def slug_split(split: str) -> str:
    from .source_folder import slug

    return slug(split)


def staged_sources(request: HubRequest, staging: Path, doc: dict[str, Any], masks: Path | None
                   ) -> tuple[list[Source], list[Skip], LabelSpace]:
    """The staged rows as sources (ids ``<split>-<row:06d>``) with the dataset's label space."""
    from .source_folder import folder_sources

    space = LabelSpace.from_names(doc["class_names"], name=request.dataset)
    images = staging / "images"
    images.mkdir(parents=True, exist_ok=True)
    folders = {str(i): i for i in range(space.num_classes)}
    labels = {name: folders[name] for name in (p.name for p in images.iterdir()) if name in folders}
    sources, skips = folder_sources(images, labels, space, lambda folder, path: path.stem, masks,
                                    suffixes=STAGED_SUFFIXES, what=f"staged {request.label_text()}")
    skips += [Skip(sid, SkipReason(reason), detail) for sid, reason, detail in doc.get("not_sources", [])]
    if not sources and not skips:
        raise ValueError(f"--hf-dataset {request.label_text()}: no usable rows")
    return sources, skips, space


__all__ = ["HubRequest", "MARKER_NAME", "STAGING_NAME", "check_features", "resolve_features", "stage", "staged_sources"]
