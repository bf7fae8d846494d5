"""Label-space mapping and the small pure helpers of the evaluation runner."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from PIL import Image

import imagenet_e.eval.label_mapping as label_mapping
import imagenet_e.eval.preprocess as preprocess
from imagenet_e_dataset.labels import class_names, synonyms, wnids
from imagenet_e.eval.label_mapping import LabelMapping, MappingMethod, map_labels, mapping_from_declaration


@pytest.mark.parametrize("module", [label_mapping, preprocess])
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_full_synset_strings_in_order_are_identity_despite_duplicate_crane():
    assert synonyms()[134] == synonyms()[517]  # the reason duplicates need a rule at all
    mapping = map_labels(dict(enumerate(synonyms())))
    assert mapping.is_identity and mapping.method is MappingMethod.IDENTITY and mapping.notes == ()


@pytest.mark.parametrize("names", [class_names, wnids])
def test_shuffled_names_and_wnids_map_to_their_classes(names):
    perm = np.random.default_rng(0).permutation(1000)
    mapping = map_labels({j: names()[perm[j]].replace(" ", "_") for j in range(1000)})
    assert mapping.indices == tuple(perm.tolist()) and mapping.method is MappingMethod.BY_NAME


def test_duplicate_short_names_by_occurrence_only_in_canonical_order():
    mapping = map_labels(["tench", "crane", "crane", "maillot", "maillot"])
    assert mapping.indices == (0, 134, 517, 638, 639)
    assert len(mapping.notes) == 4 and all("occurrence" in n for n in mapping.notes)
    # Out of canonical order the names cannot be told apart: refused, naming every such output.
    with pytest.raises(ValueError) as info:
        map_labels(["maillot", "tench", "maillot", "crane", "crane"])
    message = str(info.value)
    for output in ("output 0 'maillot'", "output 2 'maillot'", "output 3 'crane'", "output 4 'crane'"):
        assert output in message
    assert "--label-map" in message
    # An explicit mapping settles it (and is recorded).
    mapping = map_labels(["maillot", "tench", "maillot", "crane", "crane"], overrides={0: 639, 2: 638, 3: 517, 4: 134})
    assert mapping.indices == (639, 0, 638, 517, 134)
    assert sum("explicit label map" in n for n in mapping.notes) == 4
    with pytest.raises(ValueError, match="more often"):
        map_labels(["crane", "crane", "crane"])
    with pytest.raises(ValueError, match="label map names output 7"):
        map_labels(["tench"], overrides={7: 1})


def test_label_map_file(tmp_path):
    good = tmp_path / "map.json"
    good.write_text('{"417": 517, "3": 134}')
    assert label_mapping.load_label_map(str(good)) == {417: 517, 3: 134}
    (tmp_path / "bad.json").write_text('{"1": 1000}')
    with pytest.raises(ValueError, match="maps to 1000"):
        label_mapping.load_label_map(str(tmp_path / "bad.json"))


def test_unnamed_1000_class_model_needs_an_explicit_identity():
    with pytest.raises(ValueError, match="--label-mapping identity"):
        map_labels({i: f"LABEL_{i}" for i in range(1000)})


def test_refusal_lists_a_few_unmatched_labels():
    with pytest.raises(ValueError) as info:
        map_labels(["tench", "cat-dog", "airplane", "goldfish", "x1", "x2", "x3", "x4"])
    message = str(info.value)
    assert "cannot map 6 of model's 8 classes" in message
    assert "'cat-dog'" in message and "'x3'" in message and "'x4'" not in message  # at most five named


def test_declared_label_spaces():
    assert mapping_from_declaration("imagenet", 1000).is_identity
    assert mapping_from_declaration([5, 7, 9], 3).indices == (5, 7, 9)
    assert mapping_from_declaration(["tench", "goldfish"], 2).indices == (0, 1)
    with pytest.raises(ValueError, match="has 3 outputs but"):
        mapping_from_declaration([1, 2], 3)
    with pytest.raises(ValueError, match="both map to ImageNet class 4"):
        LabelMapping((4, 4), MappingMethod.DECLARED)


def test_restriction_mask_and_refusal():
    mapping = LabelMapping((10, 20, 30), MappingMethod.DECLARED)
    assert mapping.output_mask([20, 30, 500]).tolist() == [False, True, True]
    assert mapping.output_mask(None) is None
    with pytest.raises(ValueError, match="leaves none"):
        mapping.output_mask([1, 2])


def test_resize_crop_normalize_matches_a_by_hand_computation():
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (30, 50, 3), dtype=np.uint8))
    t = preprocess.ResizeCropNormalize(resize=20, crop=16, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    resized = image.resize((33, 20), Image.Resampling.BILINEAR)  # shorter side 30 -> 20, 50 -> 33
    left, top = (33 - 16) // 2, (20 - 16) // 2
    expected = (np.asarray(resized.crop((left, top, left + 16, top + 16)), np.float32) / 255 - 0.5) / 0.25
    assert np.allclose(t(image).numpy().transpose(1, 2, 0), expected, atol=1e-6)


def test_shuffled_full_synset_strings_are_placed_only_where_the_order_tells():
    """A permuted synset list holds "crane" twice. Where one crane output sits among outputs in
    ImageNet order, its neighbours place it and elimination places the other; a fully permuted
    list is refused (assigning by occurrence would swap the bird and the machine half the time)."""
    for a, b in ((134, 600), (517, 600), (600, 134), (517, 3)):
        perm = list(range(1000))
        perm[a], perm[b] = perm[b], perm[a]  # output j is ImageNet class perm[j]
        mapping = map_labels({j: synonyms()[perm[j]] for j in range(1000)})
        assert mapping.indices == tuple(perm)  # both cranes land where the model has them
    for seed in range(5):
        perm = np.random.default_rng(seed).permutation(1000)
        labels = {j: synonyms()[perm[j]] for j in range(1000)}
        cranes = [j for j in range(1000) if perm[j] in (134, 517)]
        with pytest.raises(ValueError, match="cannot tell apart") as info:
            map_labels(labels)
        assert all(f"output {j} " in str(info.value) for j in cranes)
        mapping = map_labels(labels, overrides={j: int(perm[j]) for j in cranes})
        assert mapping.indices == tuple(perm.tolist())


def test_lemma_list_with_permuted_outputs_is_refused_not_swapped():
    """The issue's case: first-lemma names ("crane" twice), outputs permuted; output 417 is the
    machine crane. Occurrence alone gave it the bird class 134."""
    perm = list(range(1000))
    perm[417], perm[517] = 517, 417  # output 417 is the machine crane, output 517 is class 417
    rest = [j for j in range(1000) if j not in (134, 417, 517)]
    shuffled = np.random.default_rng(1).permutation(rest)
    for j, c in zip(rest, shuffled):
        perm[j] = int(c)
    lemmas = {j: synonyms()[perm[j]].split(",")[0] for j in range(1000)}
    with pytest.raises(ValueError, match=r"output 417 'crane'"):
        map_labels(lemmas)
    ambiguous = {j: perm[j] for j in range(1000) if perm[j] in (134, 517, 638, 639)}  # crane, maillot
    assert map_labels(lemmas, overrides=ambiguous).indices == tuple(perm)


def test_results_plot_draws_a_model_id_with_dollar_signs(tmp_path):
    from imagenet_e.eval.report import plot_results
    from helpers.leaderboard import make_results

    doc = make_results("models/a$\\frac{$b", original=0.8, mean_drop=0.1)
    plot_results(doc, tmp_path / "plot.png")  # mathtext would raise on the title
    with Image.open(tmp_path / "plot.png") as figure:
        assert figure.size[0] > 500
