"""ImageNet-E metric for `evaluate`: per-attribute accuracy drop with paired statistics.

`evaluate.load` copies this script into its module cache, so in the package the computation is
imported by absolute name (the "From:" comment makes evaluate's dependency check say
`pip install imagenet-e`). `imagenet-e publish-metric` generates the Hub Space from this file with
that import made relative and the core carried beside it, so the Space needs no install.
"""

import enum

import datasets
import evaluate
from imagenet_e_metric.core import compute_imagenet_e  # From: imagenet-e

_CITATION = """\
@inproceedings{li2023imagenete,
  title     = {ImageNet-E: Benchmarking Neural Network Robustness via Attribute Editing},
  author    = {Li, Xiaodan and Chen, Yuefeng and Zhu, Yao and Wang, Shuhui and Zhang, Rong and Xue, Hui},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2023},
  eprint    = {2303.17096},
  archivePrefix = {arXiv}
}
"""

_DESCRIPTION = """\
ImageNet-E edits one attribute of an ImageNet validation image (background, object size, position,
direction) and keeps the rest in distribution. This metric reports top-1 accuracy per subset and
the accuracy drop each edit causes relative to the unedited `original` subset, averaged per
attribute and overall. With source image ids (the default configuration) every drop is paired:
measured on the source images an edited subset shares with `original`, with the share of
predictions that flip and a bootstrap confidence interval that resamples source images.
Load the `unpaired` configuration when source ids are unavailable.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`, or `list` of 1000-float score rows): predicted ImageNet-1k class
        per image, or class scores per image (then top-1 is the argmax and `top5_accuracy` is added).
    references (`list` of `int`): true ImageNet-1k class, 0..999.
    subsets (`list` of `str`): each image's subset, a config name (`background_20`) or an official
        folder alias (`20_hard`). Rows of `original` are required.
    source_ids (`list` of `str`): each image's source id (`ILSVRC2012_val_00000001`); default
        configuration only.
    n_bootstrap (`int`, defaults to 1000): resamples for `ci95`; 0 skips the intervals.
    seed (`int`, defaults to 0): seed of the resampling.
    confidence (`float`, defaults to 0.95): coverage of the `ci95` intervals.
Returns:
    accuracy (`dict`): {subset: top-1 accuracy in [0, 1]}.
    top5_accuracy (`dict`): {subset: top-5 accuracy in [0, 1]}, only for score rows.
    accuracy_drop (`dict`): {edited subset: acc(original) - acc(subset), in [-1, 1]}.
    attribute_drop (`dict`): {attribute: mean drop of its subsets present}.
    mean_drop (`float`): mean drop over the edited subsets present.
    flip_rate (`dict`): {edited subset: share of paired images whose prediction differs from the
        original's, in [0, 1]}; empty in the `unpaired` configuration.
    ci95 (`dict`): {edited subset: [low, high]} percentile bootstrap interval of the drop.
    counts (`dict`): {subset: number of rows}.
Examples:
    >>> import evaluate
    >>> metric = evaluate.load("imagenet_e_metric")
    >>> result = metric.compute(
    ...     predictions=[3, 7, 1, 3, 2, 1],
    ...     references=[3, 7, 1, 3, 7, 1],
    ...     subsets=["original", "original", "original", "20_hard", "20_hard", "20_hard"],
    ...     source_ids=["a", "b", "c", "a", "b", "c"],
    ... )
    >>> result["accuracy"]
    {'original': 1.0, 'background_20': 0.6666666666666666}
    >>> round(result["accuracy_drop"]["background_20"], 4), round(result["flip_rate"]["background_20"], 4)
    (0.3333, 0.3333)
    >>> result["attribute_drop"]
    {'background': 0.3333333333333333}

    Batches are collected with `add_batch` and scored once:

    >>> metric = evaluate.load("imagenet_e_metric", "unpaired")
    >>> metric.add_batch(predictions=[5, 5], references=[5, 5], subsets=["ori", "ori"])
    >>> metric.add_batch(predictions=[5, 0], references=[5, 5], subsets=["rp", "rp"])
    >>> result = metric.compute(n_bootstrap=200, seed=1)
    >>> result["accuracy_drop"], result["mean_drop"], result["counts"]
    ({'position_random': 0.5}, 0.5, {'original': 2, 'position_random': 2})
"""


class Configuration(str, enum.Enum):
    """Which inputs the module takes; `evaluate` needs one fixed set of input names per config."""

    PAIRED = "default"
    UNPAIRED = "unpaired"


def _features(config: Configuration) -> list:
    """Input variants for one configuration: class indices, or 1000-wide score rows."""
    variants = []
    for prediction in (datasets.Value("int64"), datasets.List(datasets.Value("float32"))):
        columns = {
            "predictions": prediction,
            "references": datasets.Value("int64"),
            "subsets": datasets.Value("string"),
        }
        if config is Configuration.PAIRED:
            columns["source_ids"] = datasets.Value("string")
        variants.append(datasets.Features(columns))
    return variants


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ImagenetEMetric(evaluate.Metric):
    """ImageNet-E accuracy, accuracy drop, flip rate and bootstrap intervals per subset."""

    def _configuration(self) -> Configuration:
        try:
            return Configuration(self.config_name)
        except ValueError:
            valid = ", ".join(repr(c.value) for c in Configuration)
            raise ValueError(f"unknown imagenet_e_metric configuration {self.config_name!r}; "
                             f"valid: {valid}") from None

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=_features(self._configuration()),
            reference_urls=["https://arxiv.org/abs/2303.17096"],
        )

    def _compute(self, predictions, references, subsets, source_ids=None, n_bootstrap=1000, seed=0,
                 confidence=0.95):
        if self._configuration() is Configuration.UNPAIRED and source_ids is not None:
            raise ValueError("the 'unpaired' configuration takes no source_ids; load the default "
                             "configuration for paired statistics")
        return compute_imagenet_e(predictions, references, subsets, source_ids,
                                  n_bootstrap=n_bootstrap, seed=seed, confidence=confidence)
