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
import yaml
from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.splits import SplitDict, SplitInfo
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCardData

from .description import DatasetDescription, LabelSpaceDescription
from .layout_records import LICENSE_FILE, SPLIT, CardContext, ConfigStats

TEMPLATE_NAME = "dataset_card.md"
PRETTY_NAME = "ImageNet-E"
LICENSE_NAME = "imagenet-terms-of-access"
LICENSE_LINK = "https://image-net.org/download.php"
# Photos that are not ImageNet's: their licences are the user's to record, in a file the card links to.
OWN_PHOTOS_LICENSE_NAME = "source-photos-licences"
OWN_PHOTOS_LICENSE_TEXT = """\
# Licences of this dataset's images

The images of this dataset are edits of photos that do not come from ImageNet. **The licence of each
source photo applies to it and to every edit of it.** Whoever publishes this dataset records those
licences here (or replaces this file with them) before sharing it.

The imagenet-e code that made and packaged the edits is Apache-2.0; it places no terms on the images.
"""

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
# How the authors made each attribute's subsets (the release importer's card shows the lines of the
# attributes it imported). Each line is true of the release's images of that attribute only.
RELEASE_METHOD: Mapping[str, str] = {
    "original": "- **original**: the unedited ImageNet validation photo.",
    "background": (
        "- **background**: the object is kept pixel-exact and the background is re-synthesised by blended\n"
        "  diffusion (OpenAI ADM 256×256 unconditional model, 100 respaced DDPM steps) guided by\n"
        "  λ · mean|FFT2(x̂₀)|: λ < 0 gives a simpler background, λ > 0 a more complex one; `20_adv`\n"
        "  adds adversarial classifier guidance; `random` pastes the object onto another image's background."),
    "size": (
        "- **size**: the object is resampled about its centre until it covers the target share of the\n"
        "  image (±0.015); `full` crops the object's bounding box to fill the frame."),
    "position": "- **position**: the object moves to a uniformly random place fully inside the frame.",
    "direction": "- **direction**: the object is rotated (resampled) by a random angle; the old place becomes background.",
}
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
                 imagenet_terms: bool = True, default_config: str | None = None) -> DatasetCardData:
    """Hub metadata: licence note, task, size, pretty name, ``configs`` and ``dataset_info``."""
    total = sum(s.num_examples for s in stats)
    # ``license: other`` needs both a name and a link (a URL or a file of the repo) for the Hub to show it.
    licence = ({"license_name": LICENSE_NAME, "license_link": LICENSE_LINK} if imagenet_terms
               else {"license_name": OWN_PHOTOS_LICENSE_NAME, "license_link": LICENSE_FILE})
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
        if s.name == default_config:
            configs[s.name]["default"] = True
    DatasetInfosDict(infos).to_dataset_card_data(card)
    MetadataConfigs(configs).to_dataset_card_data(card)
    # The helpers sort configs by name ("blur_2" before "original", "size_0.02" before "size_0.3"); the Hub
    # lists them in the card's order, so they go back to the order given (the description's: by severity).
    rank = {s.name: k for k, s in enumerate(stats)}
    for key in ("configs", "dataset_info"):
        if isinstance(card.get(key), list):
            card[key] = sorted(card[key], key=lambda entry: rank.get(entry.get("config_name"), len(rank)))
    return card


class _PlainDumper(yaml.SafeDumper):
    """Writes every value out in full, as ``datasets`` writes ``dataset_info``: no ``&anchor``/``*alias``,
    which some YAML readers of the Hub and of other tools do not follow."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def front_matter_yaml(card: DatasetCardData) -> str:
    """The card's YAML front matter, without anchors or aliases."""
    return yaml.dump(card.to_dict(), Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, line_break="\n").strip()


def subset_table(description: DatasetDescription, *, original_description: str | None = None) -> str:
    """Markdown table of the dataset's configs (from its description), in its canonical order."""
    head = "| config | official folder | attribute | level | images | what it is |\n|---|---|---|---|---|---|"
    rows = []
    for c in description.configs:
        alias = f"`{c.alias}`" if c.alias else "—"
        text = original_description if (c.is_original and original_description) else c.description
        rows.append(f"| `{c.name}` | {alias} | {c.attribute} | {_cell(c.level)} | {c.num_examples:,} | {_cell(text or '—')} |")
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


def usage_block(repo_id: str, description: DatasetDescription) -> str:
    """The card's "how to use what is published" block: the dataset's id, and the other pieces' ids as
    plain text until ``push`` fills in the ones it publishes with (no links to placeholder namespaces)."""
    from .hub_ids import PLACEHOLDER_NAMESPACE, PublishedIds, usage_markdown
    from .version import __version__

    ids = dataclasses.replace(PublishedIds.for_namespace(PLACEHOLDER_NAMESPACE), dataset=repo_id)
    return usage_markdown(ids, endpoint="https://huggingface.co", version=__version__,
                          example_config=example_config(description))


def example_config(description: DatasetDescription) -> str:
    """The config a loading example uses: the one every card names where this dataset has it, else the
    dataset's first edited one (its only one if none is edited)."""
    from .hub_ids import DEFAULT_EXAMPLE_CONFIG

    if DEFAULT_EXAMPLE_CONFIG in description.config_names:
        return DEFAULT_EXAMPLE_CONFIG
    edited = [c.name for c in description.configs if not c.is_original]
    return (edited or list(description.config_names))[0]


def label_text(description: DatasetDescription) -> str:
    """What the ``label`` and ``wnid`` columns hold, for the dataset's own label space."""
    space = description.label_space
    if space.is_imagenet_1k:
        return ("`label` is the ImageNet-1k index (0–999, standard sorted-WordNet-id order) as a `ClassLabel` with "
                "unique names; `wnid` is the class's WordNet id")
    return (f"`label` is the index (0–{space.num_classes - 1}) of one of this dataset's own {space.num_classes} "
            f"classes ({_cell(space.name)}, listed under \"Label space\"), not an ImageNet-1k index, as a "
            "`ClassLabel`; `wnid` holds the class's id")


def intro_text(description: DatasetDescription) -> str:
    """The card's opening: what ImageNet-E measures and which attributes this copy edits."""
    edited = description.edited_attributes
    # Names only: how each was edited depends on the run (backend, protocol) and is said under "How the
    # images were made"; a plug-in's one-line description may name a method this run did not use.
    listed = ", ".join(f"**{a.name}**" for a in edited)
    return ("ImageNet-E (Li et al., CVPR 2023) measures how image classifiers react when **one object attribute** "
            "of a photo is edited while everything else stays the same. "
            + (f"This copy edits {len(edited)} attribute(s): {listed}." if edited else "This copy holds no edited subset."))


def release_method(description: DatasetDescription, *, release: bool = True) -> str:
    """How each attribute of this copy was made: the authors' method for a release-like copy, otherwise (and
    for plug-ins) the attribute's own description and object claim as its plug-in recorded them."""
    lines = []
    for a in description.attributes:
        if release and a.name in RELEASE_METHOD:
            lines.append(RELEASE_METHOD[a.name])
        elif a.description:
            claim = " The object's pixels are kept exactly." if a.keeps_object_pixels and a.edited else ""
            lines.append(f"- **{a.name}**: {_cell(a.description)}{claim}")
    return "\n".join(lines)


def licence_file(context: CardContext) -> str | None:
    """The ``LICENSE.md`` the dataset carries (None where the card links ImageNet's terms instead)."""
    return None if context.imagenet_terms else OWN_PHOTOS_LICENSE_TEXT


MAX_LISTED_CLASSES = 50


def label_space_section(space: LabelSpaceDescription) -> str:
    """The card's "Label space" section for classes other than ImageNet-1k's ("" for ImageNet-1k)."""
    if space.is_imagenet_1k:
        return ""
    lines = ["### Label space", "",
             f"The `label` column's classes are not ImageNet-1k's: they are the {space.num_classes} classes of "
             f"**{_cell(space.name)}** (the `label` ClassLabel names; `wnid` holds each class's id). "
             f"sha256 of the class names, one per line: `{space.sha256}`."]
    if space.num_classes <= MAX_LISTED_CLASSES:
        lines += ["", "Classes: " + ", ".join(f"{i} `{_cell(n)}`" for i, n in enumerate(space.names)) + "."]
    return "\n".join(lines)


# What the card says when the run told it nothing about its photos: true of any copy.
GENERIC_TITLE = "ImageNet-E-style attribute edits"
GENERIC_SOURCES = ("Every subset holds the same source images (`source_id`), so each edited prediction can be "
                   "paired with the prediction on the unedited `original` image.")
OWN_PHOTOS_LICENCE = ("The source photos do not come from ImageNet: **their own licences apply** (see "
                      f"[`{LICENSE_FILE}`]({LICENSE_FILE})). Edited images are derivatives of those photos. The code "
                      "that made and packages them is Apache-2.0.")


def _release_like(context: CardContext, description: DatasetDescription) -> bool:
    """Whether the authors' release texts describe this copy: ImageNet photos and classes (an import of
    the release, or a writer told nothing else)."""
    return context.imagenet_terms and description.label_space.is_imagenet_1k


def _limitations(context: CardContext, description: DatasetDescription) -> tuple[str, ...]:
    if context.limitations is not None:
        return context.limitations
    names = set(description.config_names)
    kept = []
    for line in RELEASE_LIMITATIONS:
        if "animal classes of ImageNet" in line and not _release_like(context, description):
            continue
        if "`background_0`" in line and "background_0" not in names:
            continue
        if "size target" in line and "size" not in {c.attribute for c in description.configs}:
            continue
        if "background-complexity" in line and "background" not in {c.attribute for c in description.configs}:
            continue
        kept.append(line)
    return tuple(kept)


def render_readme(stats: Sequence[ConfigStats], features: datasets.Features, context: CardContext,
                  description: DatasetDescription) -> str:
    """The full ``README.md`` of a written layout: every statement about what the dataset holds comes from
    ``description`` (configs, attributes, label space), the rest from ``context`` (how it was made)."""
    template = string.Template(template_path().read_text(encoding="utf-8"))
    notes = "\n\n".join(context.notes)
    limitations = _limitations(context, description)
    originals = [c.name for c in description.configs if c.is_original]
    release = _release_like(context, description)
    values = {
        "front_matter": front_matter_yaml(front_matter(stats, features, imagenet_terms=context.imagenet_terms,
                                                       default_config=originals[0] if originals else None)),
        "title": context.title or (RELEASE_TITLE if release else GENERIC_TITLE),
        "intro": intro_text(description),
        "sources": (context.sources or (RELEASE_SOURCES if release else GENERIC_SOURCES)) + (
            "" if description.label_space.is_imagenet_1k else "\n\n" + label_space_section(description.label_space)),
        "method": context.method or release_method(description, release=release),
        "limitations": "\n".join(f"- {line}" for line in limitations),
        "licence": context.licence or (IMAGENET_LICENCE if context.imagenet_terms else OWN_PHOTOS_LICENCE),
        "total_rows": f"{sum(c.num_examples for c in description.configs):,}",
        "num_configs": str(len(description.configs)),
        # A run on other photos says what its `original` holds (the plug-in describes an ImageNet val image).
        "subset_table": subset_table(description, original_description=None if context.imagenet_terms else
                                     "Unedited source photo (the same source images as every other subset)."),
        "provenance": context.provenance + ("\n\n" + notes if notes else ""),
        "generation_settings": _settings_table(context),
        "skipped": _skipped_text(context),
        "repo_id": context.repo_id,
        "usage": usage_block(context.repo_id, description),
        "example_config": example_config(description),
        "columns": ", ".join(f"`{name}`" for name in features),
        "label_text": label_text(description),
        "checksums": _checksums(stats),
    }
    return template.substitute(values)
