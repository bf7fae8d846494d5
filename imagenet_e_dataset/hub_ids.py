"""The Hub ids of what the benchmark publishes, and the "how to use it" text filled in from them.

A user publishes four things: the dataset, the metric Space, the results dataset and the leaderboard
Space. Each card says how to use all of them, so each publishing command takes the other ids too,
defaulting to the standard names in its own namespace (``NS/imagenet-e``, ``NS/imagenet_e_metric``,
``NS/imagenet-e-results``, ``NS/imagenet-e-leaderboard``). The text lives between two markers in a
card, so a re-publish with other ids replaces exactly that block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

DEFAULT_DATASET_NAME = "imagenet-e"
# evaluate imports the module script NAME.py of the repo NAME, so the metric's repo is named like the
# package's script, its info.module_name and its card's examples.
DEFAULT_METRIC_NAME = "imagenet_e_metric"
DEFAULT_RESULTS_NAME = "imagenet-e-results"
DEFAULT_LEADERBOARD_NAME = "imagenet-e-leaderboard"
PLACEHOLDER_NAMESPACE = "<org>"

USAGE_START = "<!-- imagenet-e:usage:start -->"
USAGE_END = "<!-- imagenet-e:usage:end -->"
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_TYPE_PREFIXES = {"datasets/": "dataset", "spaces/": "space", "models/": "model"}


def looks_like_repo_id(text: str) -> bool:
    """Whether ``text`` has the form of a Hub repo id (``NAMESPACE/NAME``), not a local path."""
    return _REPO_ID.fullmatch(text) is not None and "--" not in text and ".." not in text


def check_repo_id(value: str, *, what: str, repo_type: str) -> str:
    """``value`` as a plain ``NS/NAME`` id; a ``spaces/``-style prefix of the right type is dropped.

    Raises ValueError naming ``what`` when the id is malformed or its prefix names another repo type.
    """
    text = str(value).strip()
    for prefix, kind in _TYPE_PREFIXES.items():
        if text.startswith(prefix):
            if kind != repo_type:
                raise ValueError(f"{what} {value!r} names a {kind} repo; it must be a {repo_type} repo "
                                 f"(give NS/NAME of a {repo_type})")
            text = text[len(prefix):]
    if not looks_like_repo_id(text):
        raise ValueError(f"{what} must look like NAMESPACE/NAME, got {value!r}")
    return text


@dataclass(frozen=True)
class PublishedIds:
    """Where each published piece lives (``NS/NAME`` ids)."""

    dataset: str
    metric: str
    results: str
    leaderboard: str

    @classmethod
    def for_namespace(cls, namespace: str) -> "PublishedIds":
        return cls(f"{namespace}/{DEFAULT_DATASET_NAME}", f"{namespace}/{DEFAULT_METRIC_NAME}",
                   f"{namespace}/{DEFAULT_RESULTS_NAME}", f"{namespace}/{DEFAULT_LEADERBOARD_NAME}")

    @classmethod
    def around(cls, repo_id: str, *, dataset: str | None = None, metric: str | None = None,
               results: str | None = None, leaderboard: str | None = None) -> "PublishedIds":
        """The standard ids in ``repo_id``'s namespace, overridden by the ids given."""
        ids = cls.for_namespace(repo_id.split("/", 1)[0])
        given = {"dataset": (dataset, "dataset"), "metric": (metric, "space"),
                 "results": (results, "dataset"), "leaderboard": (leaderboard, "space")}
        changes = {field: check_repo_id(value, what=f"--{field} id", repo_type=kind)
                   for field, (value, kind) in given.items() if value}
        return replace(ids, **changes)


def hub_url(endpoint: str, repo_type: str, repo_id: str) -> str:
    prefix = {"model": "", "dataset": "datasets/", "space": "spaces/"}[repo_type]
    return f"{endpoint.rstrip('/')}/{prefix}{repo_id}"


def is_placeholder(repo_id: str) -> bool:
    """Whether ``repo_id`` is not a real id yet (its namespace is :data:`PLACEHOLDER_NAMESPACE`)."""
    return repo_id.split("/", 1)[0] == PLACEHOLDER_NAMESPACE


def _piece(endpoint: str, repo_type: str, repo_id: str) -> str:
    # An id not known yet is shown as text: a link to a placeholder namespace leads nowhere.
    if is_placeholder(repo_id):
        return f"`{repo_id}` (not published yet)"
    return f"[`{repo_id}`]({hub_url(endpoint, repo_type, repo_id)})"


INSTALL_HINT = "install the imagenet-e toolkit from its source: `pip install -e .` in a clone of its repository"
"""How to get the command line: the package is not on PyPI, so a card never says ``pip install imagenet-e``."""


DEFAULT_EXAMPLE_CONFIG = "background_20"
"""The config every card's loading example names where the dataset has it (so the blocks of all cards agree)."""


def usage_markdown(ids: PublishedIds, *, endpoint: str, version: str,
                   example_config: str = DEFAULT_EXAMPLE_CONFIG) -> str:
    """The "how to use what is published" block of every card, filled in from ``ids``; the loading example
    uses ``example_config`` (a dataset card passes one of its own configs)."""
    return f"""{USAGE_START}
| piece | on the Hub |
|---|---|
| dataset (one config per subset) | {_piece(endpoint, "dataset", ids.dataset)} |
| metric (`evaluate` module) | {_piece(endpoint, "space", ids.metric)} |
| results (one JSON file per model) | {_piece(endpoint, "dataset", ids.results)} |
| leaderboard | {_piece(endpoint, "space", ids.leaderboard)} |

```python
from datasets import load_dataset
import evaluate

ds = load_dataset("{ids.dataset}", "{example_config}", split="test")
metric = evaluate.load("{ids.metric}")          # needs only evaluate, datasets and numpy
result = metric.compute(predictions=preds, references=labels, subsets=subsets, source_ids=source_ids)
```

Score a classifier on every subset and send the result to the leaderboard
({INSTALL_HINT}; version {version} wrote this card):

```bash
imagenet-e evaluate --model microsoft/resnet-50 --dataset {ids.dataset} --output results.json
imagenet-e submit results.json --repo-id {ids.results} --pr
```
{USAGE_END}"""


def replace_usage_block(text: str, block: str, *, where: str) -> str:
    """``text`` with its usage block (between the markers) replaced by ``block``.

    Raises ValueError naming ``where`` when the markers are missing, repeated or out of order, so a
    card template that lost them fails at publish time instead of publishing stale ids.
    """
    start, end = text.find(USAGE_START), text.find(USAGE_END)
    if start < 0 or end < start or text.count(USAGE_START) != 1 or text.count(USAGE_END) != 1:
        raise ValueError(f"{where} needs exactly one {USAGE_START} ... {USAGE_END} block")
    return text[:start] + block + text[end + len(USAGE_END):]


def split_front_matter(text: str, *, where: str) -> tuple[dict, str]:
    """A card's YAML front matter (a mapping) and the body after it; ValueError naming ``where``."""
    from .card_yaml import load_yaml

    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise ValueError(f"{where} has no YAML front matter")
    end = next((i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---"), None)
    if end is None:
        raise ValueError(f"{where}: the front matter is not closed by '---'")
    data = load_yaml("\n".join(lines[1:end])) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{where}: the front matter must be a mapping")
    return data, "\n".join(lines[end + 1:])


def join_front_matter(meta: dict, body: str) -> str:
    import yaml

    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{front}---\n{body}"
