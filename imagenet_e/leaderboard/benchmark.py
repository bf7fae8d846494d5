"""The benchmark a board ranks, pinned by its owner (``board.yaml`` or ``--benchmark`` flags).

A board never picks its benchmark from the submissions (the one with most entries would let anyone
who pushes a copy of the dataset and two forged files take the default view): the owner names the
dataset repo id and revision, optionally the protocol and the config set. Results for any other
benchmark are never ranked beside it; they are listed apart only when the owner allows it
(``list_other_benchmarks``), and otherwise never even opened.

``board.yaml``::

    dataset: imagenet-e/imagenet-e        # Hub repo id, or a name given with --dataset NAME=PATH
    revision: 0123abcd...                 # a commit (Hub) or the folder's content hash; omit: current
    protocol: all-classes                 # optional: only this evaluation protocol
    configs: [original, background_20]    # optional: only results on exactly these configs
    list_other_benchmarks: false          # optional: show other benchmarks in their own list
    n_bootstrap: 1000                     # optional: resamples for every interval the board shows
    workers: [board-bot]                  # optional: accounts whose verified results count (default:
                                          # the results repo's namespace)

With no ``board.yaml`` and no ``--benchmark``, a board never guesses: a Hub board ranks the project's
own benchmark (:func:`own_benchmark_id`: ``$IMAGENET_E_DATASET_ID``, else the dataset id
``publish-leaderboard`` wrote into the Space card) and otherwise ranks nothing, listing each benchmark
it found as "unpinned" with the ``board.yaml`` that would pin it (:func:`board_yaml_snippet`); a local
board given exactly one ``--dataset`` ranks that one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from imagenet_e_dataset.eval_yaml import DATASET_ID_ENV
from imagenet_e_dataset.hub_ids import is_placeholder, looks_like_repo_id, split_front_matter

BOARD_FILE = "board.yaml"
_KEYS = ("dataset", "revision", "protocol", "configs", "list_other_benchmarks", "n_bootstrap", "workers")


@dataclass(frozen=True)
class BenchmarkPin:
    """What the board ranks: a dataset at a revision, optionally one protocol and one config set."""

    dataset_id: str
    revision: str | None = None
    """``None``: whatever revision the dataset is at when the board loads (resolved then, never mixed)."""
    protocol: str | None = None
    configs: tuple[str, ...] | None = None
    list_other_benchmarks: bool = False
    n_bootstrap: int | None = None
    workers: tuple[str, ...] | None = None
    """Hub accounts whose commits of verification records are trusted (None: the results repo's owner)."""

    def __post_init__(self) -> None:
        if not isinstance(self.dataset_id, str) or not self.dataset_id.strip():
            raise ValueError("the pinned benchmark needs a dataset (repo id or --dataset name)")

    def matches(self, dataset_id: str, revision: str | None, protocol: str, configs: tuple[str, ...]) -> bool:
        """Whether a result's benchmark is the pinned one (protocol: the evaluation part of the key)."""
        if dataset_id != self.dataset_id or (self.revision is not None and revision != self.revision):
            return False
        if self.protocol is not None and self.protocol not in protocol.split(" / "):
            return False
        return self.configs is None or set(configs) == set(self.configs)

    def describe(self) -> str:
        parts = [f"{self.dataset_id} @ {(self.revision or 'current')[:19]}"]
        if self.protocol:
            parts.append(self.protocol)
        if self.configs:
            parts.append(f"{len(self.configs)} subsets")
        return " · ".join(parts)

    def with_revision(self, revision: str | None) -> "BenchmarkPin":
        from dataclasses import replace

        return replace(self, revision=revision)


def pin_from_mapping(data: Any, where: str) -> BenchmarkPin:
    """A pin from parsed ``board.yaml`` content; ``ValueError`` naming ``where`` and the field at fault."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping with at least 'dataset', got {type(data).__name__}")
    unknown = [k for k in data if k not in _KEYS]
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {', '.join(_KEYS)}")
    for key in ("dataset", "revision", "protocol"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ValueError(f"{where}: {key!r} must be a string, got {data[key]!r}")
    configs = data.get("configs")
    if configs is not None and (not isinstance(configs, list) or not all(isinstance(c, str) for c in configs)):
        raise ValueError(f"{where}: 'configs' must be a list of config names, got {configs!r}")
    others = data.get("list_other_benchmarks", False)
    if not isinstance(others, bool):
        raise ValueError(f"{where}: 'list_other_benchmarks' must be true or false, got {others!r}")
    n_bootstrap = data.get("n_bootstrap")
    if n_bootstrap is not None and (isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int)
                                    or not 0 <= n_bootstrap <= 100_000):
        raise ValueError(f"{where}: 'n_bootstrap' must be an integer in 0..100000, got {n_bootstrap!r}")
    workers = data.get("workers")
    if workers is not None and (not isinstance(workers, list) or not all(isinstance(w, str) for w in workers)):
        raise ValueError(f"{where}: 'workers' must be a list of Hub account names, got {workers!r}")
    if not data.get("dataset"):
        raise ValueError(f"{where}: 'dataset' is required (the Hub repo id or --dataset name the board ranks)")
    return BenchmarkPin(data["dataset"], data.get("revision"), data.get("protocol"),
                        tuple(configs) if configs is not None else None, others, n_bootstrap,
                        tuple(workers) if workers is not None else None)


def read_board_yaml(path: str | Path) -> BenchmarkPin:
    """The pin in a ``board.yaml`` file."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the board configuration ({exc})") from None
    return pin_from_mapping(data, str(path))


def find_board_yaml(folder: Path) -> BenchmarkPin | None:
    """The pin of a results folder (or results-repo snapshot) holding ``board.yaml`` at its root."""
    path = folder / BOARD_FILE
    return read_board_yaml(path) if path.is_file() else None


def own_benchmark_id(card: str | Path | None = None) -> str | None:
    """The project's own benchmark dataset id where one is configured, else None.

    ``$IMAGENET_E_DATASET_ID`` (the id every command uses for "the benchmark") wins; else the first
    ``datasets:`` entry of the Space card ``card`` (``publish-leaderboard`` writes the published
    :class:`~imagenet_e_dataset.hub_ids.PublishedIds` dataset there). A placeholder (``<org>/...``) or
    anything that is not a repo id configures nothing."""
    candidates = [os.environ.get(DATASET_ID_ENV, "").strip()]
    if card is not None and Path(card).is_file():
        try:
            meta, _ = split_front_matter(Path(card).read_text("utf-8"), where=str(card))
        except (ValueError, OSError, UnicodeDecodeError):
            meta = {}
        listed = meta.get("datasets")
        if isinstance(listed, list) and listed and isinstance(listed[0], str):
            candidates.append(listed[0].strip())
    return next((c for c in candidates if c and looks_like_repo_id(c) and not is_placeholder(c)), None)


def board_yaml_snippet(dataset_id: str, revision: str | None) -> str:
    """The ``board.yaml`` that pins ``dataset_id`` at ``revision``: what an owner copies to rank it."""
    import yaml

    data: dict[str, Any] = {"dataset": dataset_id}
    if revision:
        data["revision"] = revision
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
