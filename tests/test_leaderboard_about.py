"""The About tab describes the benchmark the board is pinned to, from that dataset's own description.

A board pinned to a small size-sweep dataset with its own classes must list exactly that dataset's
configs (in its order, with attribute and level) and its label space, not the registry's twelve
built-in subsets; a board with nothing pinned says so and lists nothing.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from helpers.leaderboard import DATASET_NAME, default_dataset, populate_board, write_labels_dataset

from imagenet_e_dataset.description import (
    AttributeDescription, ConfigDescription, DatasetDescription, LabelSpaceDescription,
)
from imagenet_e_dataset.description_io import write_description
from imagenet_e_dataset.label_space import LabelSpace
from imagenet_e_dataset.registry import SUBSETS
from imagenet_e.leaderboard.about import about_markdown
from imagenet_e.leaderboard.app import header_html
from imagenet_e.leaderboard.benchmark import BenchmarkPin
from imagenet_e.leaderboard.table import load_board_dir

SWEEP = (("original", "original", "none", None), ("size_0.3", "size", "0.3", 0.3),
         ("size_0.15", "size", "0.15", 0.15), ("size_0.02", "size", "0.02", 0.02))
"""(name, attribute, level, severity) in the dataset's own order: deliberately not the registry's."""


def _sweep_dataset(folder: Path) -> Path:
    """A labels-only dataset of a size sweep over three classes of its own, with its description."""
    write_labels_dataset(folder, n_sources=6, configs=tuple(name for name, *_ in SWEEP))
    space = LabelSpace.from_names(["barn owl", "green frog", "tabby <cat>"], name="pets")
    configs = tuple(ConfigDescription(name=n, attribute=a, level=lv, spec={}, severity=sev, severity_rank=k,
                                      num_examples=6, description=f"{a} at {lv}")
                    for k, (n, a, lv, sev) in enumerate(SWEEP))
    attributes = (AttributeDescription("original", "unedited", 0, False, "#000000"),
                  AttributeDescription("size", "object size", 2, True, "#1f77b4", sweep_unit="area ratio"))
    write_description(folder, DatasetDescription(configs=configs, attributes=attributes,
                                                 label_space=LabelSpaceDescription.of(space), origin="generate",
                                                 protocol="toolkit", sweeps={"size": ("size_0.02", "size_0.15",
                                                                                      "size_0.3")}))
    return folder


def _configs_listed(about: str) -> list[str]:
    """The config names of the About's subset table, in the order shown (HTML escapes decoded)."""
    rows = [line for line in html.unescape(about).splitlines() if line.startswith("| <code>")]
    return [re.match(r"\| <code>(.*?)</code>", row).group(1) for row in rows]


def test_the_about_tab_lists_the_pinned_datasets_configs_not_the_registrys(tmp_path):
    dataset = _sweep_dataset(tmp_path / "sweep-e")
    results = tmp_path / "results"
    results.mkdir()
    board = load_board_dir(results, datasets={"sweep-e": str(dataset)})  # one --dataset: pinned to it
    assert board.pin == BenchmarkPin("sweep-e") and board.pinned_description is not None

    about = about_markdown(board)
    assert _configs_listed(about) == [name for name, *_ in SWEEP]
    text = html.unescape(about)
    for name, attribute, level, _ in SWEEP:
        assert re.search(rf"\| <code>{re.escape(name)}</code> \| <code>-</code> \| {attribute} \| {level} \| 6 \|", text)
    assert not set(_configs_listed(about)) & (set(SUBSETS) - {"original"})
    assert "its own 3 classes" in text and "<code>pets</code>" in text and "**size**" in text
    assert "background" not in text.split("## Benchmark")[1].split("## How to submit")[0]
    for term in ("Mean drop", "Flip rate", "CI (95 %)", "Attribute drop", "imagenet-e submit"):
        assert term in about
    # The header names the pinned dataset's attributes too, not the built-in four.
    header = header_html(board)
    assert "one object attribute (size) of an image" in header and "background" not in header

    # A pinned config set narrows the list to it, still in the dataset's order; one it lacks is named.
    pinned = load_board_dir(results, datasets={"sweep-e": str(dataset)},
                            pin=BenchmarkPin("sweep-e", configs=("size_0.02", "original", "size_9")))
    listed = html.unescape(about_markdown(pinned))
    assert _configs_listed(listed) == ["original", "size_0.02"]
    assert "does not hold: <code>size_9</code>" in listed


def test_an_unpinned_board_lists_no_subsets_and_an_unreadable_description_says_why(tmp_path):
    populate_board(tmp_path / "results")
    two = {DATASET_NAME: str(default_dataset()), "sweep-e": str(_sweep_dataset(tmp_path / "sweep-e"))}
    unpinned = load_board_dir(tmp_path / "results", datasets=two)  # two datasets, no board.yaml: no pin
    assert unpinned.pin is None
    about = about_markdown(unpinned)
    assert "No benchmark is pinned" in about and _configs_listed(about) == []

    # The labels-only dataset has neither a description nor a card that gives one: the reason, no list.
    board = load_board_dir(tmp_path / "results", datasets={DATASET_NAME: str(default_dataset())})
    assert board.pin == BenchmarkPin(DATASET_NAME) and board.pinned_description is None
    about = about_markdown(board)
    assert "could not be read" in about and DATASET_NAME in about and _configs_listed(about) == []


def test_the_app_shows_the_pinned_about(tmp_path):
    from imagenet_e.leaderboard.app import build_app

    dataset = _sweep_dataset(tmp_path / "sweep-e")
    (tmp_path / "results").mkdir()
    demo = build_app(str(tmp_path / "results"), datasets={"sweep-e": str(dataset)})
    about = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "ie-about")
    assert _configs_listed(about.value) == [name for name, *_ in SWEEP]
