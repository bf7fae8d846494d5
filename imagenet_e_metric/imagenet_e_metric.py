"""ImageNet-E metric for `evaluate`: per-attribute accuracy drop with paired statistics.

`evaluate.load` copies this script and the siblings it imports relatively (one line each: evaluate
does not follow imports further) into its module cache, so the same files work as the installed
package (`evaluate.load(imagenet_e_metric.path())`) and as the Hub Space `NS/imagenet_e_metric`,
which `imagenet-e publish-metric` fills with this folder's files unchanged.

Rows are written to evaluate's Arrow cache as whole columns (one conversion per column, not one
per value) and read back as numpy arrays, so this route costs little more than the core itself.

Inputs are checked by the core's own validators before evaluate's Arrow cast sees them, so the
two paths refuse exactly the same input (an int64 feature would silently truncate 1.7 to 1), and
score rows are stored as float64, so both paths compute on the same numbers.
"""

import enum

import datasets
import evaluate
import numpy as np
import pyarrow as pa

# evaluate copies only the siblings this script imports itself (not the imports of those), so every
# module of the package is named here, each on a line of its own with no trailing comment.
from .benchmark_subsets import TABLE as _BENCHMARK_TABLE
from .core import Factorized, check_class_indices, check_score_rows, compute_imagenet_e
from .subsets import SubsetTable as _SubsetTable
from .sweeps import compute_sweeps as _compute_sweeps

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
    description (`dict`, optional): a dataset's configs beyond the twelve ImageNet-E ones (sweep
        levels, extras, plug-ins), as its description records them:
        {config: {"attribute": ..., "severity": ..., "order": ...}}.
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
    >>> metric = evaluate.load("imagenet_e_metric")  # the Space; installed: evaluate.load(imagenet_e_metric.path())
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

    A dataset with its own configs describes them (a severity sweep of size here):

    >>> sweep = {"size_0.2": {"attribute": "size", "severity": 0.8, "order": 6.5}}  # between size_full and size_0.1
    >>> result = metric.compute(predictions=[1, 1, 1, 0], references=[1] * 4,
    ...                         subsets=["ori", "size_0.2", "size_0.05", "size_0.05"], n_bootstrap=0,
    ...                         description=sweep)
    >>> result["attribute_drop"], result["counts"]
    ({'size': 0.25}, {'original': 1, 'size_0.2': 1, 'size_0.05': 2})

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


def _column(values):
    """An Arrow column of the cache for the core: floats as numpy, score rows as (N, width), strings coded
    by Arrow (the core then skips its own pass over them)."""
    if not isinstance(values, (pa.ChunkedArray, pa.Array)):
        return values  # evaluate handed Python values (another format): the core takes those too
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        flat = array.flatten().to_numpy(zero_copy_only=False)
        return flat.reshape(len(array), -1) if len(array) else flat.reshape(0, 0)
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        encoded = array.dictionary_encode()
        return Factorized(encoded.dictionary.to_pylist(), encoded.indices.to_numpy(zero_copy_only=False))
    return array.to_numpy(zero_copy_only=False)


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
        info = evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=_features(self._configuration()),
            reference_urls=["https://arxiv.org/abs/2303.17096"],
        )
        # Whole Arrow columns back from the cache (see _columns), not 2.4 M Python values. Set after
        # construction: MetricInfo refuses any format beside a list of feature variants.
        info.format = "arrow"
        return info

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
        columns = {"predictions": predictions, "references": references, **kwargs}
        if self._write_columns(columns):
            return None
        return super().add_batch(predictions=predictions, references=references, **kwargs)

    def _write_columns(self, columns: dict) -> bool:
        """Write a checked batch as one Arrow table (bulk conversion); False: leave it to evaluate.

        evaluate's own ``add_batch`` encodes every value in Python (most of its time on ImageNet-E's
        2.4 M values); the features are plain values, so Arrow can take whole columns.
        """
        names = list(self._feature_names())
        if set(columns) != set(names) or any(columns[n] is None for n in names):
            return False
        lengths = {n: len(columns[n]) for n in names}
        if len(set(lengths.values())) > 1:
            raise ValueError("length mismatch: " + ", ".join(f"{k} has {v} rows" for k, v in lengths.items()))
        if self.writer is None:
            self.selected_feature_format = self._infer_feature_from_batch(columns)
            self._init_writer()
        schema = self.selected_feature_format.arrow_schema
        arrays = []
        for name in schema.names:
            field = schema.field(name)
            if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
                rows = np.asarray(columns[name], dtype=np.float64)  # checked: (N, num_classes)
                if rows.ndim != 2 or rows.size >= 2 ** 31:  # list<double> has 32-bit offsets
                    return False
                offsets = pa.array(np.arange(rows.shape[0] + 1, dtype=np.int32) * rows.shape[1])
                arrays.append(pa.ListArray.from_arrays(offsets, pa.array(rows.reshape(-1))).cast(field.type))
            elif pa.types.is_floating(field.type):
                arrays.append(pa.array(np.asarray(columns[name], dtype=np.float64), type=field.type))
            else:
                values = columns[name].tolist() if isinstance(columns[name], np.ndarray) else list(columns[name])
                try:
                    arrays.append(pa.array(values, type=field.type))
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    bad = next(i for i, v in enumerate(values) if not isinstance(v, str))
                    raise ValueError(f"{name}[{bad}] must be a string, got {type(values[bad]).__name__}: "
                                     f"{values[bad]!r}") from None
        self.writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
        return True

    def add(self, *, prediction=None, reference=None, num_classes=None, **kwargs):
        """Add one row (checked as the core checks it, against ``num_classes`` when given)."""
        kwargs = self._checked(None if prediction is None else [prediction],
                               None if reference is None else [reference],
                               {k: (None if v is None else [v]) for k, v in kwargs.items()}, num_classes)
        kwargs = {k: (None if v is None else v[0]) for k, v in kwargs.items()}
        return super().add(prediction=prediction, reference=reference, **kwargs)

    def compute(self, *, predictions=None, references=None, **kwargs):
        """Score the rows given here and those added before; see the module description.

        The rows given here are added through this class's ``add_batch`` with ``num_classes``
        (evaluate's base ``compute`` would call it without), then evaluate scores everything collected.
        """
        # source_ids counts as an input even where it is not one (unpaired), so that add_batch refuses it.
        inputs = {k: kwargs.pop(k) for k in list(kwargs) if k in self._feature_names() or k == "source_ids"}
        if predictions is not None or references is not None:
            missing = [k for k in self._feature_names()
                       if k not in ("predictions", "references", "source_ids") and k not in inputs]
            if missing:
                raise ValueError(f"Evaluation module inputs are missing: {missing}. All required inputs are "
                                 f"{list(self._feature_names())}")
            self.add_batch(predictions=predictions, references=references, num_classes=kwargs.get("num_classes"),
                           **inputs)
        elif any(v is not None for v in inputs.values()):
            raise ValueError(f"{sorted(inputs)} given without predictions and references")
        return super().compute(**kwargs)

    def _compute(self, predictions, references, subsets, source_ids=None, n_bootstrap=1000, seed=0,
                 confidence=0.95, num_classes=None, description=None):
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
        predictions, references, subsets, source_ids = (
            _column(c) for c in (predictions, references, subsets, source_ids))
        if isinstance(source_ids, Factorized):
            by_position = len(source_ids) > 0 and source_ids.uniques == [""]
        else:
            by_position = source_ids is not None and len(source_ids) > 0 and not any(source_ids)
        return compute_imagenet_e(predictions, references, subsets, None if by_position else source_ids,
                                  pair_by_position=by_position, n_bootstrap=n_bootstrap, seed=seed,
                                  confidence=confidence, num_classes=num_classes, description=description)
