"""The numpy core of the ImageNet-E metric: values against hand computations, pairing, bootstrap,
input errors."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import imagenet_e_metric.core as core
from imagenet_e_dataset.registry import CONFIG_NAMES, SUBSETS, resolve
from imagenet_e_metric import compute_imagenet_e

# Five source images a..e with true classes 10..50. Per subset: {source: prediction}.
REFS = {"a": 10, "b": 20, "c": 30, "d": 40, "e": 50}
PREDS = {
    "ori": {"a": 10, "b": 20, "c": 31, "d": 40},           # 3/4 right
    "20_hard": {"b": 21, "c": 30, "d": 41, "e": 50},       # 2/4 right; on b,c,d: 1/3 vs original's 2/3
    "size_0.05": {"a": 10, "b": 20},                        # 2/2 right; original also 2/2 on a,b
    "full": {"a": 11, "c": 31},                             # 0/2 right; original 1/2 on a,c
}


def _rows(order=("size_0.05", "ori", "full", "20_hard")):
    preds, refs, subsets, ids = [], [], [], []
    for subset in order:
        for sid, pred in PREDS[subset].items():
            preds.append(pred)
            refs.append(REFS[sid])
            subsets.append(subset)
            ids.append(sid)
    return preds, refs, subsets, ids


def test_paired_outputs_match_hand_computed_values():
    preds, refs, subsets, ids = _rows()
    r = compute_imagenet_e(preds, refs, subsets, ids, n_bootstrap=500)
    # Registry order, whatever the input order; aliases become config names.
    assert list(r["accuracy"]) == ["original", "background_20", "size_full", "size_0.05"]
    assert r["accuracy"] == {"original": 0.75, "background_20": 0.5, "size_full": 0.0, "size_0.05": 1.0}
    assert list(r["accuracy_drop"]) == ["background_20", "size_full", "size_0.05"]
    assert r["accuracy_drop"] == pytest.approx({"background_20": 1 / 3, "size_full": 0.5, "size_0.05": 0.0})
    assert r["attribute_drop"] == pytest.approx({"background": 1 / 3, "size": 0.25})
    assert list(r["attribute_drop"]) == ["background", "size"]
    assert r["mean_drop"] == pytest.approx((1 / 3 + 0.5 + 0.0) / 3)
    # b,c,d all change prediction under 20_hard; under full a changes (10->11), c stays 31.
    assert r["flip_rate"] == pytest.approx({"background_20": 1.0, "size_full": 0.5, "size_0.05": 0.0})
    assert r["counts"] == {"original": 4, "background_20": 4, "size_full": 2, "size_0.05": 2}
    assert list(r["ci95"]) == ["background_20", "size_full", "size_0.05"]
    for name, (low, high) in r["ci95"].items():
        assert -1 <= low <= r["accuracy_drop"][name] <= high <= 1
    assert r["ci95"]["size_0.05"] == [0.0, 0.0]  # no image differs: every resample has drop 0
    assert "top5_accuracy" not in r
    # Discordant pairs: 20_hard 2 worse / 1 better, full 1 / 0, size_0.05 none: no evidence of change.
    assert r["mcnemar_p"] == {"background_20": 1.0, "size_full": 1.0, "size_0.05": 1.0}
    assert list(r) == ["accuracy", "accuracy_drop", "attribute_drop", "mean_drop", "flip_rate", "ci95", "mcnemar_p",
                       "counts"]  # no control subset in the input: no control_* keys


def test_plain_python_types():
    preds, refs, subsets, ids = _rows()
    r = compute_imagenet_e(np.array(preds), np.array(refs), np.array(subsets), np.array(ids))

    def walk(value):
        if isinstance(value, dict):
            assert all(type(k) is str for k in value)
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        else:
            assert type(value) in (float, int), type(value)

    walk(r)
    assert r == compute_imagenet_e(preds, refs, subsets, ids)


def test_unpaired_compares_whole_subsets():
    preds, refs, subsets, _ = _rows()
    r = compute_imagenet_e(preds, refs, subsets, n_bootstrap=300)
    assert r["accuracy_drop"] == pytest.approx({"background_20": 0.25, "size_full": 0.75, "size_0.05": -0.25})
    assert r["attribute_drop"] == pytest.approx({"background": 0.25, "size": 0.25})
    assert r["mean_drop"] == pytest.approx(0.25)
    assert r["flip_rate"] == {}
    for name, (low, high) in r["ci95"].items():
        assert low <= r["accuracy_drop"][name] <= high


def test_aliases_and_config_names_are_the_same_subset():
    preds, refs, subsets, ids = _rows()
    canonical = [resolve(s).name for s in subsets]
    assert compute_imagenet_e(preds, refs, subsets, ids) == compute_imagenet_e(preds, refs, canonical, ids)
    # Mixed spellings of one subset pool their rows.
    mixed = ["original" if (s == "ori" and i % 2) else s for i, s in enumerate(subsets)]
    assert compute_imagenet_e(preds, refs, mixed, ids) == compute_imagenet_e(preds, refs, canonical, ids)


def _naive(preds, refs, subsets, ids):
    """Row-by-row reference implementation of the paired statistics."""
    table: dict[str, dict[str, tuple[int, int]]] = {}
    for p, t, s, i in zip(preds, refs, subsets, ids):
        table.setdefault(resolve(s).name, {})[i] = (p, t)
    accuracy = {s: sum(p == t for p, t in rows.values()) / len(rows) for s, rows in table.items()}
    drops, flips = {}, {}
    for s, rows in table.items():
        if s == "original":
            continue
        shared = [i for i in rows if i in table["original"]]
        o = [table["original"][i] for i in shared]
        e = [rows[i] for i in shared]
        drops[s] = (sum(p == t for p, t in o) - sum(p == t for p, t in e)) / len(shared)
        flips[s] = sum(po != pe for (po, _), (pe, _) in zip(o, e)) / len(shared)
    return accuracy, drops, flips


def test_pairing_matches_naive_reference_on_random_partial_coverage():
    rng = np.random.default_rng(7)
    sources = [f"ILSVRC2012_val_{i:08d}" for i in range(300)]
    truth = rng.integers(0, 1000, len(sources))
    preds, refs, subsets, ids = [], [], [], []
    for name in CONFIG_NAMES:
        spelled = SUBSETS[name].alias if rng.random() < 0.5 else name
        keep = np.flatnonzero(rng.random(len(sources)) < 0.7)  # each subset holds a different 70 %
        for k in rng.permutation(keep):
            right = rng.random() < (0.8 if name == "original" else 0.6)
            preds.append(int(truth[k]) if right else int(rng.integers(0, 1000)))
            refs.append(int(truth[k]))
            subsets.append(spelled)
            ids.append(sources[k])
    r = compute_imagenet_e(preds, refs, subsets, ids, n_bootstrap=0)
    accuracy, drops, flips = _naive(preds, refs, subsets, ids)
    assert r["accuracy"] == pytest.approx(accuracy)
    assert r["accuracy_drop"] == pytest.approx(drops)
    assert r["flip_rate"] == pytest.approx(flips)
    assert list(r["accuracy"]) == list(CONFIG_NAMES)
    assert r["ci95"] == {}
    assert r["mean_drop"] == pytest.approx(np.mean(list(drops.values())))


def test_score_rows_give_argmax_top1_and_top5():
    n = 4
    scores = np.zeros((2 * n, 1000))
    refs = [7] * (2 * n)
    # Rank of the true class 7 per row: 1st, 3rd, 5th, 6th (original), then 1st, 2nd, 6th, 9th.
    for row, rank in enumerate([1, 3, 5, 6, 1, 2, 6, 9]):
        scores[row, 7] = 10.0
        scores[row, 100:100 + rank - 1] = 20.0  # rank - 1 classes score higher
    subsets = ["original"] * n + ["rd"] * n
    ids = list("wxyz") * 2
    r = compute_imagenet_e(scores, refs, subsets, ids)
    assert r["accuracy"] == {"original": 0.25, "direction_random": 0.25}
    assert r["top5_accuracy"] == {"original": 0.75, "direction_random": 0.5}
    assert list(r)[:2] == ["accuracy", "top5_accuracy"]
    # Same result from nested Python lists.
    assert compute_imagenet_e(scores.tolist(), refs, subsets, ids) == r


def test_top5_ties_break_towards_lower_class_index_like_argmax():
    scores = np.zeros((2, 1000))
    scores[:, :6] = 1.0                   # classes 0..5 tie for the top score
    r = compute_imagenet_e(scores, [0, 5], ["original", "rp"], ["s", "s"])
    assert r["accuracy"] == {"original": 1.0, "position_random": 0.0}       # argmax picks class 0
    assert r["top5_accuracy"] == {"original": 1.0, "position_random": 0.0}  # class 5 is 6th of the tie


def test_top5_equals_stable_sort_across_row_chunks(monkeypatch):
    monkeypatch.setattr(core, "_ROW_CHUNK", 64)  # several chunks on a small input
    rng = np.random.default_rng(2)
    scores = rng.integers(0, 6, size=(500, 1000)).astype(np.float32)  # heavy ties
    refs = rng.integers(0, 1000, 500)
    order = np.argsort(-scores, axis=1, kind="stable")
    expected_top5 = (order[:, :5] == refs[:, None]).any(axis=1)
    subsets = ["original"] * 250 + ["rec"] * 250
    r = compute_imagenet_e(scores, refs, subsets, n_bootstrap=0)
    assert r["top5_accuracy"] == pytest.approx({"original": expected_top5[:250].mean(),
                                                "background_0": expected_top5[250:].mean()})
    assert r["accuracy"] == pytest.approx({"original": (order[:250, 0] == refs[:250]).mean(),
                                           "background_0": (order[250:, 0] == refs[250:]).mean()})


# --- bootstrap ---------------------------------------------------------------------------------

def _paired_data(n, p_orig=0.8, p_edit=0.6, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 1000, n)
    orig = np.where(rng.random(n) < p_orig, truth, (truth + 1) % 1000)
    edit = np.where(rng.random(n) < p_edit, truth, (truth + 2) % 1000)
    ids = [f"s{i}" for i in range(n)] * 2
    return np.concatenate([orig, edit]), np.concatenate([truth, truth]), ["original"] * n + ["rec"] * n, ids


def _width(ci):
    return ci[1] - ci[0]


def test_ci_contains_estimate_and_narrows_with_more_data():
    small = compute_imagenet_e(*_paired_data(100))
    large = compute_imagenet_e(*_paired_data(10_000))
    for r in (small, large):
        low, high = r["ci95"]["background_0"]
        assert low < r["accuracy_drop"]["background_0"] < high
    assert _width(large["ci95"]["background_0"]) < 0.3 * _width(small["ci95"]["background_0"])
    preds, refs, subsets, _ = _paired_data(10_000)
    unpaired = compute_imagenet_e(preds, refs, subsets)
    low, high = unpaired["ci95"]["background_0"]
    assert low < unpaired["accuracy_drop"]["background_0"] < high


def test_confidence_sets_interval_coverage():
    data = _paired_data(2000)
    wide = compute_imagenet_e(*data, confidence=0.99)["ci95"]["background_0"]
    narrow = compute_imagenet_e(*data, confidence=0.5)["ci95"]["background_0"]
    assert wide[0] < narrow[0] < narrow[1] < wide[1]


def test_bootstrap_is_deterministic_per_seed_and_independent_of_other_subsets():
    data = _paired_data(3000)
    a = compute_imagenet_e(*data, seed=3)
    assert a == compute_imagenet_e(*data, seed=3)
    assert a["ci95"] != compute_imagenet_e(*data, seed=4)["ci95"]
    preds, refs, subsets, ids = data
    extra = compute_imagenet_e(list(preds) + [1], list(refs) + [1], subsets + ["rp"], ids + ["s0"], seed=3)
    assert extra["ci95"]["background_0"] == a["ci95"]["background_0"]


def _brute_force_ci(diff, n_bootstrap, confidence, rng):
    """Percentile bootstrap by resampling image indices (the textbook procedure)."""
    idx = rng.integers(0, diff.size, size=(n_bootstrap, diff.size))
    means = diff[idx].mean(axis=1)
    tail = (1 - confidence) / 2
    return np.quantile(means, [tail, 1 - tail])


def test_count_bootstrap_matches_index_resampling():
    preds, refs, subsets, ids = _paired_data(400, seed=5)
    n = 400
    correct = (np.asarray(preds) == np.asarray(refs)).astype(float)
    diff = correct[:n] - correct[n:]
    rng = np.random.default_rng(11)
    expected = _brute_force_ci(diff, 20_000, 0.9, rng)
    got = compute_imagenet_e(preds, refs, subsets, ids, n_bootstrap=20_000, confidence=0.9)["ci95"]["background_0"]
    # Monte-Carlo error of a 5 % quantile with 20k resamples is far below one image (1/400).
    assert got == pytest.approx(expected, abs=0.006)
    # Unpaired: each subset's accuracy resampled on its own.
    acc_o = correct[:n][rng.integers(0, n, size=(20_000, n))].mean(axis=1)
    acc_e = correct[n:][rng.integers(0, n, size=(20_000, n))].mean(axis=1)
    expected = np.quantile(acc_o - acc_e, [0.05, 0.95])
    got = compute_imagenet_e(preds, refs, subsets, n_bootstrap=20_000, confidence=0.9)["ci95"]["background_0"]
    assert got == pytest.approx(expected, abs=0.008)


# --- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(predictions=[1, 2, 3], references=[1, 2], subsets=["ori", "rp", "rp"]),
         r"length mismatch: predictions has 3 rows, references has 2 rows, subsets has 3 rows"),
        (dict(predictions=[1, 2], references=[1, 2], subsets=["ori", "rp"], source_ids=["a"]),
         r"source_ids has 1 rows"),
        (dict(predictions=[1, 2, 3], references=[1, 2, 3], subsets=["ori", "rp", "bogus"]),
         r"subsets\[2\]: unknown ImageNet-E subset 'bogus'"),
        (dict(predictions=[1, 2], references=[1, 2], subsets=["rp", "rd"]), r"no 'original' rows"),
        (dict(predictions=[1, 2], references=[1, 2], subsets=["ori", "original"]), r"no edited subset rows"),
        (dict(predictions=[1, 2], references=[1, 1000], subsets=["ori", "rp"]),
         r"references\[1\] = 1000 is outside 0\.\.999"),
        (dict(predictions=[-1, 2], references=[1, 2], subsets=["ori", "rp"]),
         r"predictions\[0\] = -1 is outside 0\.\.999"),
        (dict(predictions=[1, 2.5], references=[1, 2], subsets=["ori", "rp"]),
         r"predictions\[1\] = .*2\.5.* is not an integer class index"),
        (dict(predictions=[1, None], references=[1, 2], subsets=["ori", "rp"]),
         r"predictions\[1\] = None is not an integer class index"),
        (dict(predictions=[1, 2, 3], references=[1, 2, 3], subsets=["ori", "rp", "original"],
              source_ids=["x", "x", "x"]),
         r"duplicate row for subset 'original' and source_id 'x' \(positions 0 and 2\)"),
        (dict(predictions=[1, 2, 3], references=[1, 2, 3], subsets=["ori", "rp", "rp"],
              source_ids=["x", "x", ""]),
         r"source_ids\[2\] is ''"),
        (dict(predictions=[1, 2], references=[1, 2], subsets=["ori", "rp"], source_ids=["x", None]),
         r"source_ids\[1\] is None"),
        (dict(predictions=np.zeros((2, 10)), references=[1, 2], subsets=["ori", "rp"]),
         r"score rows must have 1000 columns .* got shape \(2, 10\)"),
        (dict(predictions=[[0.0] * 1000, [0.0] * 999], references=[1, 2], subsets=["ori", "rp"]),
         r"score rows must all have 1000 entries"),
        (dict(predictions=np.vstack([np.zeros((1, 1000)), np.full((1, 1000), np.inf)]), references=[1, 2],
              subsets=["ori", "rp"]),
         r"score row 1 holds NaN or infinity"),
        (dict(predictions=[], references=[], subsets=[]), r"empty input"),
        (dict(predictions=[1, 2], references=[1, 2], subsets=["ori", "rp"], source_ids=["x", "y"]),
         r"subset 'position_random' shares no source_id with 'original'"),
        (dict(predictions=[1, 2], references=[1, 2], subsets="original"), r"single string"),
        (dict(predictions=[1, 2], references=[1, 2], subsets=["ori", 5]), r"subsets\[1\]: .*must be a string"),
        (dict(predictions=[1, 2], references=[1, 2], subsets=["ori", "rp"], confidence=1.0),
         r"confidence must be .* between 0 and 1, got 1\.0"),
        (dict(predictions=[1, 2], references=[1, 2], subsets=["ori", "rp"], n_bootstrap=-1),
         r"n_bootstrap must be a non-negative integer, got -1"),
        (dict(predictions=[1, 2], references=[1, 2], subsets=["ori", "rp"], seed=-3),
         r"seed must be a non-negative integer"),
    ],
)
def test_bad_input_raises_value_error_naming_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compute_imagenet_e(**kwargs)


def test_core_doctests_pass():
    assert doctest.testmod(core).failed == 0


def test_core_imports_without_evaluate():
    import subprocess
    import sys

    code = ("import sys; sys.modules['evaluate'] = None; sys.modules['datasets'] = None\n"
            "from imagenet_e_metric import compute_imagenet_e\n"
            "print(compute_imagenet_e([1, 2], [1, 1], ['ori', 'rp'])['mean_drop'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1.0"
