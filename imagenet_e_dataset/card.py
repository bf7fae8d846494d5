"""The dataset card (``README.md``): Hub YAML front matter + the ``dataset_card.md`` template filled in.

The ``configs:`` and ``dataset_info:`` blocks are produced by the same ``datasets`` helpers
``push_to_hub`` uses (``MetadataConfigs`` / ``DatasetInfosDict``), so the Hub and
``load_dataset`` read them exactly as they read a pushed dataset.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets
from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.splits import SplitDict, SplitInfo
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCardData

from .layout_records import SPLIT, CardContext, ConfigStats
from .registry import ALL_SUBSETS, DEFAULT_CONFIG

TEMPLATE_NAME = "dataset_card.md"
PRETTY_NAME = "ImageNet-E"
LICENSE_NAME = "imagenet-terms-of-access"
LICENSE_LINK = "https://image-net.org/download.php"

# The Hub's size_categories buckets (upper bound exclusive -> label).
_SIZE_BUCKETS: tuple[tuple[int, str], ...] = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
)


def size_category(num_rows: int) -> str:
    """The Hub ``size_categories`` label for a row count.

    >>> size_category(52), size_category(52_224)
    ('n<1K', '10K<n<100K')
    """
    for bound, label in _SIZE_BUCKETS:
        if num_rows < bound:
            return label
    return "n>1M" if num_rows < 1_000_000_000 else "n>1T"


# The authors' release: what the card says when the context does not describe a toolkit run.
RELEASE_TITLE = "ImageNet-E: attribute-edited ImageNet validation images"
RELEASE_SOURCES = (
    "Every subset holds the same source images (`source_id` = `ILSVRC2012_val_XXXXXXXX`, ImageNet "
    "validation photos), so each edited prediction can be paired with the prediction on the unedited "
    "`original` image."
)
RELEASE_METHOD = """\
- **background**: the object is kept pixel-exact and the background is re-synthesised by blended
  diffusion (OpenAI ADM 256×256 unconditional model, 100 respaced DDPM steps) guided by
  λ · mean|FFT2(x̂₀)|: λ < 0 gives a simpler background, λ > 0 a more complex one; `20_adv`
  adds adversarial classifier guidance; `random` pastes the object onto another image's background.
- **size**: the object is rescaled about its centre until it covers the target share of the
  image (±0.015); `full` crops the object's bounding box to fill the frame.
- **position**: the object moves to a uniformly random place fully inside the frame.
- **direction**: the object is rotated by a random angle; the old place becomes background."""
RELEASE_LIMITATIONS = (
    "Only animal classes of ImageNet are covered (the source images needed object masks).",
    "Diffusion-edited backgrounds can carry generation artefacts; `background_0` (λ = 0) is the control for them.",
    "Some source images cannot reach a size target (the object is too large or too small); such images are "
    "missing from that subset, so compare subsets on the source images they share.",
    "The background-complexity measure is a global frequency statistic, not a perceptual one.",
)
IMAGENET_LICENCE = (
    "The images are derived from the ImageNet (ILSVRC 2012) validation set: **the ImageNet terms of\n"
    "access apply** (non-commercial research and educational use; see https://image-net.org/download.php).\n"
    "Edited images are derivatives of those photos. The code that made and packages them is Apache-2.0."
)


def template_path() -> Path:
    """The card template: ``dataset_card.md`` at the repository root, reached through the package's
    symlink to it, which a wheel build turns into a copy (so installed packages carry it too)."""
    path = Path(__file__).resolve().parent / TEMPLATE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"dataset card template {path} is missing")
    return path


def front_matter(stats: Sequence[ConfigStats], features: datasets.Features, *,
                 imagenet_terms: bool = True) -> DatasetCardData:
    """Hub metadata: licence note, task, size, pretty name, ``configs`` and ``dataset_info``."""
    total = sum(s.num_examples for s in stats)
    licence = ({"license_name": LICENSE_NAME, "license_link": LICENSE_LINK} if imagenet_terms
               else {"license_name": "source-photos-licences"})
    card = DatasetCardData(
        license="other",
        **licence,
        task_categories=["image-classification"],
        size_categories=[size_category(total)],
        pretty_name=PRETTY_NAME,
        tags=["imagenet", "robustness", "attribute-editing", "benchmark"],
    )
    infos = {}
    configs = {}
    for s in stats:
        info = DatasetInfo(config_name=s.name, features=features, splits=SplitDict(), download_size=0, dataset_size=0)
        info.splits.add(SplitInfo(name=SPLIT, num_bytes=s.dataset_bytes, num_examples=s.num_examples))
        info.download_size = s.download_bytes
        info.dataset_size = s.dataset_bytes
        info.size_in_bytes = info.download_size + info.dataset_size
        infos[s.name] = info
        configs[s.name] = {"data_files": [{"split": SPLIT, "path": f"{s.name}/{SPLIT}-*"}]}
        if s.name == DEFAULT_CONFIG:
            configs[s.name]["default"] = True
    DatasetInfosDict(infos).to_dataset_card_data(card)
    MetadataConfigs(configs).to_dataset_card_data(card)
    return card


def front_matter_yaml(card: DatasetCardData) -> str:
    """The card's YAML with one shared ``features`` block (a YAML anchor) across configs.

    Written out in full, every config repeats the 1,000 ClassLabel names: a 340 KB header that
    PyYAML needs ~0.7 s to parse on *every* ``load_dataset`` call. Anchors are plain YAML (the Hub
    and ``datasets`` read them to the same data), and cut that twelvefold.
    """
    import yaml

    doc = card.to_dict()
    infos = doc.get("dataset_info")
    if isinstance(infos, list) and infos:
        shared = infos[0]["features"]
        for info in infos[1:]:
            if info.get("features") == shared:
                info["features"] = shared

    class _AnchorDumper(yaml.SafeDumper):
        pass

    _AnchorDumper.ignore_aliases = lambda self, data: not isinstance(data, list)  # anchor only shared lists
    _AnchorDumper.generate_anchor = lambda self, node: f"features{len(self.anchors) or ''}"
    return yaml.dump(doc, Dumper=_AnchorDumper, sort_keys=False, allow_unicode=True, line_break="\n").strip()


def subset_table(counts: Mapping[str, int] | None = None, *, extras: bool = False,
                 original_description: str | None = None) -> str:
    """Markdown table of the registry's subsets (with row counts where given): the twelve ImageNet-E
    configs and the extras that ``counts`` names; with ``extras=True`` only the extra and plug-in subsets."""
    if counts is None:
        head = "| config | official folder | attribute | level | what it is |\n|---|---|---|---|---|"
    else:
        head = "| config | official folder | attribute | level | images | what it is |\n|---|---|---|---|---|---|"
    rows = []
    # The twelve ImageNet-E configs always, extras (occlusion, plug-ins) where the dataset has them.
    for s in ALL_SUBSETS.values():
        if extras:
            if s.benchmark:
                continue
        elif not s.benchmark and (counts is None or s.name not in counts):
            continue
        n = "" if counts is None else f" {counts[s.name]:,} |" if s.name in counts else " — |"
        alias = f"`{s.alias}`" if s.alias else "—"
        description = original_description if (s.is_original and original_description) else s.description
        rows.append(f"| `{s.name}` | {alias} | {s.attribute.name} | {s.level} |{n} {description} |")
    return "\n".join([head, *rows])


def _cell(value: Any) -> str:
    """A value as one markdown table cell: pipes escaped, line breaks folded."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _settings_table(context: CardContext) -> str:
    settings: dict[str, Any] = dict(context.generation_settings)
    if context.global_seed is not None:
        settings.setdefault("global seed", context.global_seed)
    if not settings:
        return "No generation settings were recorded for this copy."
    lines = ["| setting | value |", "|---|---|"]
    lines += [f"| {_cell(k)} | `{_cell(v)}` |" for k, v in settings.items()]
    note = (
        "\n\nPer-image seeds are derived from (global seed, source id, subset) and stored in the `seed` column, "
        "so any image can be regenerated alone."
        if context.global_seed is not None
        else ""
    )
    return "\n".join(lines) + note


def _skipped_text(context: CardContext) -> str:
    skipped = {k: v for k, v in context.skipped.items() if v}
    if not skipped:
        return "No source file was skipped."
    lines = [f"**{sum(skipped.values())} source file(s) were skipped as unreadable or unlabelled:**", ""]
    lines += [f"- `{name}`: {count}" for name, count in skipped.items()]
    return "\n".join(lines)


def _checksums(stats: Sequence[ConfigStats]) -> str:
    lines = ["| file | rows | bytes | sha256 |", "|---|---|---|---|"]
    for s in stats:
        lines += [f"| `{f.path}` | {f.num_examples} | {f.num_bytes} | `{f.sha256}` |" for f in s.files]
    return "\n".join(lines)


def usage_block(repo_id: str) -> str:
    """The card's "how to use what is published" block. Written with the dataset's id and placeholders
    for the pieces not published yet; ``push`` fills in every id it publishes with."""
    from imagenet_e import __version__
    from imagenet_e.publish.ids import PLACEHOLDER_NAMESPACE, PublishedIds, usage_markdown

    ids = dataclasses.replace(PublishedIds.for_namespace(PLACEHOLDER_NAMESPACE), dataset=repo_id)
    return usage_markdown(ids, endpoint="https://huggingface.co", version=__version__)


MAX_LISTED_CLASSES = 50


def label_space_section(space: Mapping[str, Any] | None) -> str:
    """The card's "Label space" section for classes other than ImageNet-1k's ("" for ImageNet-1k)."""
    if not space:
        return ""
    names = list(space.get("names") or [])
    lines = ["### Label space", "",
             f"The `label` column's classes are not ImageNet-1k's: they are the {space['num_classes']} classes of "
             f"**{_cell(space['name'])}** (the `label` ClassLabel names; `wnid` holds each class's id). "
             f"sha256 of the class names, one per line: `{space['sha256']}`."]
    if names and len(names) <= MAX_LISTED_CLASSES:
        lines += ["", "Classes: " + ", ".join(f"{i} `{_cell(n)}`" for i, n in enumerate(names)) + "."]
    return "\n".join(lines)


def render_readme(stats: Sequence[ConfigStats], features: datasets.Features, context: CardContext) -> str:
    """The full ``README.md`` of a written layout."""
    template = string.Template(template_path().read_text(encoding="utf-8"))
    counts = {s.name: s.num_examples for s in stats}
    notes = "\n\n".join(context.notes)
    limitations = RELEASE_LIMITATIONS if context.limitations is None else context.limitations
    values = {
        "front_matter": front_matter_yaml(front_matter(stats, features, imagenet_terms=context.imagenet_terms)),
        "title": context.title or RELEASE_TITLE,
        "sources": (context.sources or RELEASE_SOURCES) + (
            "\n\n" + label_space_section(context.label_space) if context.label_space else ""),
        "method": context.method or RELEASE_METHOD,
        "limitations": "\n".join(f"- {line}" for line in limitations),
        "licence": context.licence or IMAGENET_LICENCE,
        "total_rows": f"{sum(counts.values()):,}",
        "num_configs": str(len(stats)),
        # The registry describes `original` as an ImageNet val image; a run on other photos says what it holds.
        "subset_table": subset_table(counts, original_description=None if context.imagenet_terms else
                                     "Unedited source photo (the same source images as every other subset)."),
        "provenance": context.provenance + ("\n\n" + notes if notes else ""),
        "generation_settings": _settings_table(context),
        "skipped": _skipped_text(context),
        "repo_id": context.repo_id,
        "usage": usage_block(context.repo_id),
        "columns": ", ".join(f"`{name}`" for name in features),
        "checksums": _checksums(stats),
    }
    return template.substitute(values)
