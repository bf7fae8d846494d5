"""Drops against the control subset, exact McNemar p-values, pairing by position, top-5 from ranked
classes: the metric core's answers to "is it the edit or the pipeline?"."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.metric_rows import rows_from_marks
from imagenet_e_dataset.registry import SUBSETS
from imagenet_e_metric import CONTROL_SUBSET, compute_imagenet_e, mcnemar_exact_p

scipy_stats = pytest.importorskip("scipy.stats")

EDITED = [s for s in SUBSETS.values() if s.is_edited and s.name != CONTROL_SUBSET.name]


def _table(correct: dict[str, list[int]]) -> tuple[list[int], list[int], list[str], list[str]]:
    """Rows from per-subset 0/1 correctness lists over the same sources (label 7, wrong = 8)."""
    return rows_from_marks(correct)


def test_the_control_is_a_registry_subset_of_the_background_attribute():
    assert CONTROL_SUBSET is not None and CONTROL_SUBSET.is_edited
    assert SUBSETS[CONTROL_SUBSET.name].attribute.name == CONTROL_SUBSET.attribute == "background"


def test_control_drop_is_paired_against_the_control_and_excludes_it():
    first, second = EDITED[0].name, EDITED[-1].name
    # original 4/6 right, control 6/6 (the pipeline *helps*), edits 3/6 and 5/6.
    data = {"original": [1, 1, 1, 1, 0, 0], CONTROL_SUBSET.name: [1] * 6,
            first: [1, 1, 1, 0, 0, 0], second: [1, 1, 1, 1, 1, 0]}
    r = compute_imagenet_e(*_table(data), n_bootstrap=400)
    assert r["control_subset"] == CONTROL_SUBSET.name
    assert r["accuracy_drop"] == pytest.approx({CONTROL_SUBSET.name: -2 / 6, first: 1 / 6, second: -1 / 6})
    assert r["control_drop"] == pytest.approx({first: 3 / 6, second: 1 / 6})
    assert CONTROL_SUBSET.name not in r["control_drop"]
    assert r["control_mean_drop"] == pytest.approx(2 / 6)
    attrs = {EDITED[0].attribute.value: [3 / 6], EDITED[-1].attribute.value: [1 / 6]}
    expected_attr = {a: float(np.mean(v)) for a, v in attrs.items()}
    assert r["control_attribute_drop"] == pytest.approx(expected_attr)
    for name, (low, high) in r["control_ci95"].items():
        assert low <= r["control_drop"][name] <= high
    # vs control: first has 3 worse, 0 better -> 2 * (1/8) = 0.25; second 1 worse -> 1.0
    assert r["control_mcnemar_p"] == pytest.approx({first: 0.25, second: 1.0})
    # Against the original (the paper's drop), the same arithmetic on its own discordant pairs.
    assert r["mcnemar_p"][CONTROL_SUBSET.name] == pytest.approx(mcnemar_exact_p(0, 2))


def test_control_keys_need_the_control_and_another_edited_subset():
    only_control = compute_imagenet_e(*_table({"original": [1, 0], CONTROL_SUBSET.name: [1, 1]}))
    assert "control_drop" not in only_control
    no_control = compute_imagenet_e(*_table({"original": [1, 0], EDITED[0].name: [1, 1]}))
    assert not any(k.startswith("control") for k in no_control)


def test_control_interval_uses_its_own_stream_and_does_not_move_the_original_drop_interval():
    rng = np.random.default_rng(0)
    data = {name: rng.integers(0, 2, 300).tolist() for name in ("original", CONTROL_SUBSET.name, EDITED[1].name)}
    with_control = compute_imagenet_e(*_table(data), seed=5)
    without = compute_imagenet_e(*_table({k: v for k, v in data.items() if k != CONTROL_SUBSET.name}), seed=5)
    assert with_control["ci95"][EDITED[1].name] == without["ci95"][EDITED[1].name]
    assert with_control["control_ci95"][EDITED[1].name] != with_control["ci95"][EDITED[1].name]


def test_unpaired_control_drop_compares_whole_subsets_without_mcnemar():
    preds, refs, subsets, _ = _table({"original": [1, 1, 0, 0], CONTROL_SUBSET.name: [1, 1, 1, 0],
                                      EDITED[0].name: [1, 0, 0, 0]})
    r = compute_imagenet_e(preds, refs, subsets, n_bootstrap=100)
    assert r["control_drop"] == pytest.approx({EDITED[0].name: 0.5})
    assert r["mcnemar_p"] == {} and r["control_mcnemar_p"] == {} and set(r["control_ci95"]) == {EDITED[0].name}


@pytest.mark.parametrize(("worse", "better"), [(0, 0), (1, 0), (9, 1), (3, 3), (40, 25), (700, 640), (2000, 1900)])
def test_mcnemar_equals_the_two_sided_exact_binomial_test(worse, better):
    n = worse + better
    expected = 1.0 if n == 0 else scipy_stats.binomtest(min(worse, better), n, 0.5).pvalue
    assert mcnemar_exact_p(worse, better) == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert mcnemar_exact_p(better, worse) == mcnemar_exact_p(worse, better)


def test_pair_by_position_equals_pairing_by_source_ids():
    rng = np.random.default_rng(3)
    n = 50
    truth = rng.integers(0, 1000, n)
    names = ["original", CONTROL_SUBSET.name, EDITED[2].name]
    preds = np.concatenate([np.where(rng.random(n) < 0.7, truth, 0) for _ in names])
    refs = np.tile(truth, len(names))
    subsets = [name for name in names for _ in range(n)]
    ids = [f"s{k}" for k in range(n)] * len(names)
    by_id = compute_imagenet_e(preds, refs, subsets, ids, seed=1)
    # Interleaved rows: the k-th row *of each subset* pairs, wherever it sits in the input.
    order = np.argsort(np.tile(np.arange(n), len(names)), kind="stable")
    by_position = compute_imagenet_e(preds[order], refs[order], [subsets[i] for i in order],
                                     pair_by_position=True, seed=1)
    assert by_position == by_id
    with pytest.raises(ValueError, match=r"same number of rows in every subset, got original 50, .* 49"):
        compute_imagenet_e(preds[:-1], refs[:-1], subsets[:-1], pair_by_position=True)
    with pytest.raises(ValueError, match="one or the other"):
        compute_imagenet_e(preds, refs, subsets, ids, pair_by_position=True)


def test_top5_rows_give_top5_accuracy_like_score_rows():
    rng = np.random.default_rng(4)
    scores = rng.random((40, 1000))
    refs = np.where(rng.random(40) < 0.5, np.argsort(-scores, axis=1)[:, 3], rng.integers(0, 1000, 40))
    ranked = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    subsets = ["original"] * 20 + [EDITED[0].name] * 20
    ids = [f"s{k}" for k in range(20)] * 2
    from_scores = compute_imagenet_e(scores, refs, subsets, ids)
    from_top5 = compute_imagenet_e(ranked[:, 0], refs, subsets, ids, top5=ranked)
    assert from_top5 == from_scores
    with pytest.raises(ValueError, match=r"top5\[2\] starts with class"):
        bad = ranked.copy()
        bad[2] = bad[2][::-1]
        compute_imagenet_e(ranked[:, 0], refs, subsets, ids, top5=bad)
    with pytest.raises(ValueError, match=r"top5 must have shape \(40, 5\)"):
        compute_imagenet_e(ranked[:, 0], refs, subsets, ids, top5=ranked[:, :3])
