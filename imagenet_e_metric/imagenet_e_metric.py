"""ImageNet-E metric for `evaluate`: per-attribute accuracy drop with paired statistics.

`evaluate.load` copies this script into its module cache, so in the package the computation is
imported by absolute name (the "From:" comment makes evaluate's dependency check say
`pip install imagenet-e`). `imagenet-e publish-metric` generates the Hub Space from this file with
that import made relative and the core carried beside it, so the Space needs no install.

Inputs are checked by the core's own validators before evaluate's Arrow cast sees them, so the
two paths refuse exactly the same input (an int64 feature would silently truncate 1.7 to 1), and
score rows are stored as float64, so both paths compute on the same numbers.
"""

import enum

import datasets
import evaluate
from imagenet_e_metric.core import check_class_indices  # From: imagenet-e
from imagenet_e_metric.core import check_score_rows  # From: imagenet-e
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
predictions that flip, a bootstrap confidence interval that resamples source images and an exact
McNemar p-value. When the control subset `background_0` (background regenerated with lambda = 0)
is present, every drop is also reported against it (`control_*`): the drop the edit itself causes,
without the resizing and regeneration every edited image shares.
Without source ids, rows are paired by position (the k-th row of every subset is the same source
image; every subset must hold the same number of rows in the same order). Load the `unpaired`
configuration to compare whole subsets instead.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`, or `list` of score rows of `num_classes` floats): predicted class
        per image, or class scores per image (then top-1 is the argmax and `top5_accuracy` is added).
    references (`list` of `int`): true class, 0..num_classes-1 (ImageNet-1k: 0..999).
    subsets (`list` of `str`): each image's subset, a config name (`background_20`) or an official
        folder alias (`20_hard`). Rows of `original` are required.
    source_ids (`list` of `str`, optional): each image's source id (`ILSVRC2012_val_00000001`);
        default configuration only. Left out, the k-th row of each subset is paired with the k-th
        row of every other subset (each subset must then have the same number of rows, in the
        same source order).
    n_bootstrap (`int`, defaults to 1000): resamples for `ci95`; 0 skips the intervals.
    seed (`int`, defaults to 0): seed of the resampling.
    confidence (`float`, defaults to 0.95): coverage of the `ci95` intervals.
    num_classes (`int`, optional): size of the label space of a dataset with its own classes (its
        `label` ClassLabel's `num_classes`); left out, ImageNet-1k's 1000. Indices are checked
        against 0..num_classes-1 and score rows must have num_classes columns. Give it to
        `compute` (and to `add_batch`/`add` to have batches checked against it as they come).
Returns:
    accuracy (`dict`): {subset: top-1 accuracy in [0, 1]}.
    top5_accuracy (`dict`): {subset: top-5 accuracy in [0, 1]}, only for score rows.
    accuracy_drop (`dict`): {edited subset: acc(original) - acc(subset), in [-1, 1]}.
    attribute_drop (`dict`): {attribute: mean drop of its subsets present}.
    mean_drop (`float`): mean drop over the edited subsets present.
    flip_rate (`dict`): {edited subset: share of paired images whose prediction differs from the
        original's, in [0, 1]}; empty in the `unpaired` configuration.
    ci95 (`dict`): {edited subset: [low, high]} percentile bootstrap interval of the drop.
    mcnemar_p (`dict`): {edited subset: exact McNemar p-value of the paired change vs original};
        empty in the `unpaired` configuration.
    control_subset, control_drop, control_attribute_drop, control_mean_drop, control_ci95,
        control_mcnemar_p: the same against `background_0` (the control), for the other edited
        subsets; only when the control and another edited subset are present.
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

    Without source ids the k-th row of each subset is the same source image:

    >>> result = metric.compute(predictions=[3, 7, 1, 3, 2, 1], references=[3, 7, 1, 3, 7, 1],
    ...                         subsets=["ori"] * 3 + ["20_hard"] * 3)
    >>> round(result["flip_rate"]["background_20"], 4)
    0.3333

    Batches are collected with `add_batch` and scored once:

    >>> metric = evaluate.load("imagenet_e_metric", "unpaired")
    >>> metric.add_batch(predictions=[5, 5], references=[5, 5], subsets=["ori", "ori"])
    >>> metric.add_batch(predictions=[5, 0], references=[5, 5], subsets=["rp", "rp"])
    >>> result = metric.compute(n_bootstrap=200, seed=1)
    >>> result["accuracy_drop"], result["mean_drop"], result["counts"]
    ({'position_random': 0.5}, 0.5, {'original': 2, 'position_random': 2})

    A dataset with its own classes (here 3) says how many:

    >>> metric = evaluate.load("imagenet_e_metric")
    >>> result = metric.compute(predictions=[0, 2, 0, 1], references=[0, 2, 0, 2],
    ...                         subsets=["ori", "ori", "rd", "rd"], num_classes=3)
    >>> result["accuracy_drop"]
    {'direction_random': 0.5}
"""


class Configuration(str, enum.Enum):
    """Which inputs the module takes; `evaluate` needs one fixed set of input names per config."""

    PAIRED = "default"
    UNPAIRED = "unpaired"


def _features(config: Configuration) -> list:
    """Input variants for one configuration: class indices, or 1000-wide score rows.

    float64 throughout: nothing is truncated on the way to the core, which refuses non-integers.
    """
    variants = []
    for prediction in (datasets.Value("float64"), datasets.List(datasets.Value("float64"))):
        columns = {
            "predictions": prediction,
            "references": datasets.Value("float64"),
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

    def _checked(self, predictions, references, kwargs: dict, num_classes=None) -> dict:
        """The core's validation, then a blank source id per row when none were given (paired by position).

        ``num_classes`` None: the upper bound is ImageNet-1k's until ``compute`` says otherwise.
        """
        if self._configuration() is Configuration.UNPAIRED and kwargs.get("source_ids") is not None:
            raise ValueError("the 'unpaired' configuration takes no source_ids; load the default "
                             "configuration for paired statistics")
        if predictions is not None:
            if check_score_rows(predictions, num_classes) is None:
                check_class_indices(predictions, "predictions", num_classes)
        if references is not None:
            check_class_indices(references, "references", num_classes)
        if (self._configuration() is Configuration.PAIRED and predictions is not None
                and kwargs.get("source_ids") is None):
            # evaluate needs every declared input; "" is never a valid source id, so a column of
            # blanks unambiguously means "pair by position" to _compute.
            kwargs = {**kwargs, "source_ids": [""] * len(predictions)}
        return kwargs

    def add_batch(self, *, predictions=None, references=None, num_classes=None, **kwargs):
        """Add a batch of rows (checked as the core checks them, against ``num_classes`` when given)."""
        kwargs = self._checked(predictions, references, kwargs, num_classes)
        return super().add_batch(predictions=predictions, references=references, **kwargs)

    def add(self, *, prediction=None, reference=None, num_classes=None, **kwargs):
        """Add one row (checked as the core checks it, against ``num_classes`` when given)."""
        kwargs = self._checked(None if prediction is None else [prediction],
                               None if reference is None else [reference],
                               {k: (None if v is None else [v]) for k, v in kwargs.items()}, num_classes)
        kwargs = {k: (None if v is None else v[0]) for k, v in kwargs.items()}
        return super().add(prediction=prediction, reference=reference, **kwargs)

    def compute(self, *, predictions=None, references=None, **kwargs):
        """Score the rows given here and those added before; see the module description."""
        inputs = {k: v for k, v in kwargs.items() if k in ("subsets", "source_ids")}
        rest = {k: v for k, v in kwargs.items() if k not in inputs}
        if predictions is not None or references is not None:
            inputs = self._checked(predictions, references, inputs, rest.get("num_classes"))
        return super().compute(predictions=predictions, references=references, **inputs, **rest)

    def _compute(self, predictions, references, subsets, source_ids=None, n_bootstrap=1000, seed=0,
                 confidence=0.95, num_classes=None):
        """The core's ``compute_imagenet_e`` on the collected rows.

        ``num_classes``: size of the label space (None = ImageNet-1k, 1000). A dataset generated from
        a user's own classes, e.g. 3 of them, gives its own; indices outside it are refused:

        >>> metric = evaluate.load("imagenet_e_metric")
        >>> metric.compute(predictions=[2, 1, 2, 0], references=[2, 1, 2, 1], subsets=["ori"] * 2 + ["rp"] * 2,
        ...                source_ids=["a", "b", "a", "b"], num_classes=3)["accuracy"]
        {'original': 1.0, 'position_random': 0.5}
        >>> metric.compute(predictions=[2, 1, 2, 3], references=[2, 1, 2, 1], subsets=["ori"] * 2 + ["rp"] * 2,
        ...                num_classes=3)
        Traceback (most recent call last):
        ...
        ValueError: predictions[3] = 3 is outside 0..2 (a label space of 3 classes)
        """
        by_position = source_ids is not None and len(source_ids) > 0 and not any(source_ids)
        return compute_imagenet_e(predictions, references, subsets, None if by_position else source_ids,
                                  pair_by_position=by_position, n_bootstrap=n_bootstrap, seed=seed,
                                  confidence=confidence, num_classes=num_classes)
