"""Import the authors' release folder into the Hub layout (one parquet config per subset + card).

Reading goes through :func:`imagenet_e_dataset.imagenet_e.iter_release_examples` (the builder's
generator), writing through :class:`imagenet_e_dataset.hub_layout.HubLayoutWriter`.

Without ``skip_bad`` the first bad entry stops the import with a ``ValueError`` naming it and no
output folder is left. With ``skip_bad`` bad entries are skipped, listed with their reason in
``<OUT>.skipped.tsv`` (a sibling of the output folder, so it is never uploaded with the dataset)
and counted in the card.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from .atomic import atomic_path
from .hub_layout import DEFAULT_MAX_SHARD_BYTES, CardContext, HubLayoutWriter
from .imagenet_e import BadFile, iter_release_examples, read_release_labels, release_files, release_folder
from .output_folder import OutputKind, check_output_folder
from .registry import Subset, resolve_many

COMMAND = "import-release"


@dataclass(frozen=True)
class ImportReport:
    """What :func:`import_release` wrote."""

    out_dir: Path
    counts: dict[str, int]
    """Config name -> rows written."""
    skipped: tuple[BadFile, ...]
    skipped_report: Path | None
    """The TSV listing skipped entries (written whenever ``skip_bad`` is on)."""

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def skipped_report_path(out: str | os.PathLike) -> Path:
    """Where the skip report of an import into ``out`` goes: ``<out>.skipped.tsv`` beside it."""
    out = Path(out).absolute()
    return out.with_name(out.name + ".skipped.tsv")


def _write_skipped(path: Path, skipped: Sequence[BadFile]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["subset", "path", "reason"])
        for bad in skipped:
            writer.writerow([bad.subset, bad.path, bad.reason])


def import_release(
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    skip_bad: bool = False,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    subsets: str | Sequence[str] = "all",
    repo_id: str = "<org>/imagenet-e",
    overwrite: bool = False,
    verify: bool = True,
) -> ImportReport:
    """Convert the official release at ``src`` into the Hub layout at ``out``.

    ``subsets`` ("all", comma-separated names/aliases, or a list) picks which release folders to
    import; every picked folder must exist. ``repo_id`` only fills the card's loading snippets.
    """
    root = Path(src)
    if not root.is_dir():
        raise FileNotFoundError(f"release folder {root} does not exist")
    # The output-folder rule, checked before any work (not after the whole import): a new folder, or
    # with overwrite an earlier dataset of the tool's, never the release itself or a folder around it.
    check_output_folder(out, command=COMMAND, kind=OutputKind.DATASET, inputs=(root,), overwrite=overwrite)
    chosen: list[Subset] = resolve_many(subsets if isinstance(subsets, str) else list(subsets))
    folders = {s.name: release_folder(root, s) for s in chosen}  # every missing folder fails up front
    skipped: list[BadFile] = []
    on_bad = skipped.append if skip_bad else None
    labels = read_release_labels(root, on_bad=on_bad)
    total = sum(len(release_files(f)) for f in folders.values())
    counts: Counter[str] = Counter()
    writer = HubLayoutWriter(out, max_shard_bytes=max_shard_bytes, with_object_mask=False, overwrite=overwrite,
                             command=COMMAND, inputs=(root,))
    with writer:
        with tqdm(total=total, unit="img", desc="import-release") as bar:
            for subset in chosen:
                bar.set_postfix_str(subset.name)
                before = len(skipped)
                for _, row in iter_release_examples(root, subset, labels, on_bad=on_bad, verify=verify):
                    writer.add(subset.name, row)
                    counts[subset.name] += 1
                    bar.update()
                bar.update(len(skipped) - before)
        skipped_counts = Counter(bad.subset or "labels.txt" for bad in skipped)
        context = CardContext(
            repo_id=repo_id,
            provenance=(
                "Imported from the authors' official ImageNet-E release (one folder per subset plus "
                "`labels.txt`); the image files are stored byte for byte as released. The release does "
                "not record per-image seeds, so `seed` is empty."
            ),
            generation_settings={"source": "official release", "subsets imported": ", ".join(s.name for s in chosen)},
            skipped=dict(skipped_counts),
            origin="import-release",
            protocol="official release",
            backend="adm (the authors' release)",
            model="256x256_diffusion_uncond.pt",
            mask_source="ImageNet-S919 validation masks (the authors')",
        )
        out_dir = writer.finalize(context)
    report_path = None
    if skip_bad:
        report_path = skipped_report_path(out_dir)
        _write_skipped(report_path, skipped)
    else:
        # A report left by an earlier --skip-bad import would describe files this output never saw.
        skipped_report_path(out_dir).unlink(missing_ok=True)
    return ImportReport(out_dir, dict(counts), tuple(skipped), report_path)
