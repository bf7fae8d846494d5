"""CPU background editor and guiding classifiers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.scenes import TinyClassifier, chelsea, synthetic_scene
from generation.cpu_background import CPUBackgroundEditor, complexity
from generation.edits import EditOptions, plan_edit, prepare_source, run_edits
from generation.interfaces import BackgroundEditor, BackgroundEditRequest, make_background_editor
from generation.seeding import derive_seed


def _request(photo, mask, background, lam, seed=1, adversarial=False, label=None):
    image = np.where(mask[..., None], photo, background)
    return BackgroundEditRequest(image=image, object_mask=mask, background=background, lam=lam, seed=seed,
                                 adversarial=adversarial, label=label)


@pytest.fixture(scope="module")
def cat_source():
    photo, mask = chelsea()
    return prepare_source(photo, mask, options=EditOptions(resolution=96), source_id="chelsea")


def test_cpu_editor_is_registered_and_follows_the_protocol():
    editor = make_background_editor("cpu", iterations=5)
    assert isinstance(editor, BackgroundEditor) and editor.name == "cpu"
    prov = editor.provenance()
    assert prov["backend"] == "cpu" and prov["iterations"] == 5 and "approximates" in prov["method"]


def test_complexity_ordering_and_object_pixels_untouched(cat_source):
    editor = make_background_editor("cpu", iterations=20)
    plans = [plan_edit(cat_source, None, s, seed=derive_seed(0, "chelsea", s))
             for s in ("background_0", "background_-20", "background_20")]
    results = {r.subset: r for r in run_edits(plans, editor)}
    region = ~cat_source.object_mask
    c = {name: complexity(r.image, region) for name, r in results.items()}
    assert c["background_20"] > c["background_0"] > c["background_-20"], c
    for r in results.values():
        assert np.array_equal(r.image[r.object_mask], cat_source.image[cat_source.object_mask])
        assert r.params["backend"] == "cpu"
    # λ = 0 keeps the clean (inpainted) background.
    assert np.array_equal(results["background_0"].image[region], cat_source.background[region])


def test_only_the_edit_region_moves():
    photo, mask = synthetic_scene(48, 48)
    bg = photo.copy()
    bg[mask] = 120
    region = np.zeros_like(mask)
    region[:, :20] = True
    region &= ~mask
    req = BackgroundEditRequest(image=photo, object_mask=mask, background=bg, lam=20.0, seed=3, edit_mask=region)
    (out,) = CPUBackgroundEditor(iterations=10).edit([req])
    assert np.array_equal(out[~region], np.where(mask[..., None], photo, bg)[~region])
    assert not np.array_equal(out[region], bg[region])


def test_batch_equals_single_and_seed_matters():
    photo, mask = synthetic_scene(48, 48)
    bg = photo.copy()
    bg[mask] = 100
    clf = TinyClassifier().eval()
    reqs = [
        _request(photo, mask, bg, 20.0, seed=1),
        _request(photo, mask, bg, -20.0, seed=2),
        _request(photo, mask, bg, 20.0, seed=3, adversarial=True, label=7),
        _request(photo[:32, :40].copy(), mask[:32, :40].copy(), bg[:32, :40].copy(), 20.0, seed=4),
    ]
    editor = CPUBackgroundEditor(iterations=8, classifier=clf, init_noise=0.05)
    batch = editor.edit(reqs)
    for req, out in zip(reqs, batch):
        (single,) = editor.edit([req])
        assert np.array_equal(single, out)
    other_seed = editor.edit([_request(photo, mask, bg, 20.0, seed=99)])[0]
    assert not np.array_equal(other_seed, batch[0])
    assert np.array_equal(editor.edit([_request(photo, mask, bg, 20.0, seed=1)])[0], batch[0])


def _adversarial_scene():
    """A striped object, its background (object region grey), the tiny classifier and its label for the photo."""
    photo, mask = synthetic_scene(64, 64, rx=10, ry=12)
    bg = photo.copy()
    bg[mask] = 128
    clf = TinyClassifier().eval()
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    label = int(clf(x).argmax())
    return photo, mask, bg, clf, label


def test_adversarial_guidance_lowers_the_true_label_probability():
    photo, mask, bg, clf, label = _adversarial_scene()
    editor = CPUBackgroundEditor(iterations=15, classifier=clf)
    plain, adv = editor.edit([_request(photo, mask, bg, 20.0), _request(photo, mask, bg, 20.0, adversarial=True, label=label)])

    def prob(img):
        t = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
        return float(torch.softmax(clf(t), -1)[0, label])

    assert prob(adv) < 0.5 * prob(plain), (prob(adv), prob(plain))
    assert prob(plain) > 0.05  # the classifier is confident enough for the comparison to mean something
    assert np.array_equal(adv[mask], photo[mask])


def test_adversarial_gradient_is_evaluated_every_adv_refresh_iterations():
    """The classifier is most of an adversarial edit's cost: with ``adv_refresh=k`` it runs once every k
    iterations (the push is reused in between), batched over the chunk's adversarial requests, and the
    edit still lowers the true label's probability as much as evaluating it every iteration."""
    photo, mask, bg, clf, label = _adversarial_scene()
    calls: list[int] = []
    handle = clf.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    reqs = [_request(photo, mask, bg, 20.0, seed=s, adversarial=True, label=label) for s in (1, 2)]

    def prob(img):
        t = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
        return float(torch.softmax(clf(t), -1)[0, label])

    drops = {}
    for refresh, expected in ((1, 12), (2, 6), (5, 3)):
        calls.clear()
        out = CPUBackgroundEditor(iterations=12, classifier=clf, adv_refresh=refresh).edit(reqs)
        assert calls == [2] * expected  # one batched evaluation for both requests
        drops[refresh] = prob(out[0])
    handle.remove()
    (plain,) = CPUBackgroundEditor(iterations=12, classifier=clf).edit([_request(photo, mask, bg, 20.0)])
    assert drops[2] < 0.5 * prob(plain) and drops[1] < 0.5 * prob(plain), (drops, prob(plain))
    with pytest.raises(ValueError, match="adv_refresh"):
        CPUBackgroundEditor(adv_refresh=0)


def test_adversarial_push_is_a_smooth_luminance_change_of_the_background_only(cat_source):
    # The raw classifier gradient is per-pixel colour noise ("rainbow" noise over the background); the push
    # the cpu editor applies is the same on every channel and low-passed, and never touches the object.
    from generation.guidance_classifier import load_guidance_classifier

    src = cat_source
    label = 281  # tabby
    clf = load_guidance_classifier("efficientnet-lite0")
    reqs = [_request(src.image, src.object_mask, src.background, 0.0),
            _request(src.image, src.object_mask, src.background, 0.0, adversarial=True, label=label)]
    plain, adv = CPUBackgroundEditor(iterations=6, classifier=clf).edit(reqs)
    (raw,) = CPUBackgroundEditor(iterations=6, classifier=clf, adv_smoothing=0).edit(reqs[1:])
    background = ~src.object_mask

    def push(out):
        diff = out.astype(float) - plain.astype(float)
        assert not diff[src.object_mask].any()
        lum = diff.mean(axis=2)
        inner = background[:, 1:] & background[:, :-1]
        # Neighbouring pixels move together when the push is low-passed.
        corr = np.corrcoef(lum[:, 1:][inner], lum[:, :-1][inner])[0, 1]
        chroma = np.abs(diff - diff.mean(axis=2, keepdims=True))[background].mean()
        return np.abs(diff[background]).mean(), chroma, corr

    size, chroma, corr = push(adv)
    assert size > 1.0  # it did push
    assert chroma < 0.1 * size  # rounding only: the same push on every channel, no colour noise
    raw_size, raw_chroma, raw_corr = push(raw)
    assert raw_chroma > 0.3 * raw_size  # what the raw gradient does: per-channel noise
    assert corr > raw_corr + 0.1, (corr, raw_corr)


def test_adversarial_request_without_classifier_or_label_is_refused():
    photo, mask = synthetic_scene(32, 32)
    with pytest.raises(ValueError, match="no classifier"):
        CPUBackgroundEditor(iterations=1).edit([_request(photo, mask, photo, 20.0, adversarial=True, label=3)])
    with pytest.raises(ValueError, match="no label"):
        CPUBackgroundEditor(iterations=1, classifier=TinyClassifier()).edit(
            [_request(photo, mask, photo, 20.0, adversarial=True)])


def test_efficientnet_lite0_recognises_the_cat():
    from generation.guidance_classifier import load_guidance_classifier

    clf = load_guidance_classifier("efficientnet-lite0")
    photo, _ = chelsea()
    x = torch.from_numpy(photo.copy()).permute(2, 0, 1)[None].float().div(255).requires_grad_(True)
    logits = clf(x)
    assert logits.shape == (1, 1000)
    assert int(logits.argmax()) in range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    logits[0, 281].backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # differentiable w.r.t. the image


def test_hf_classifier_from_a_local_folder(tmp_path):
    from transformers import ResNetConfig, ResNetForImageClassification, ViTImageProcessor

    from generation.guidance_classifier import load_guidance_classifier
    from imagenet_e_dataset.labels import synonyms

    def save(folder, names):
        config = ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                              num_labels=1000, id2label=dict(enumerate(names)),
                              label2id={n: i for i, n in enumerate(names)})
        ResNetForImageClassification(config).save_pretrained(folder)
        ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(folder)
        return folder

    good = save(tmp_path / "good", list(synonyms()))
    clf = load_guidance_classifier(f"hf:{good}")
    x = torch.rand(2, 3, 50, 60, requires_grad=True)
    out = clf(x)
    assert out.shape == (2, 1000)
    out.sum().backward()
    assert x.grad.abs().sum() > 0

    shuffled = list(synonyms())
    np.random.default_rng(0).shuffle(shuffled)
    bad = save(tmp_path / "shuffled", shuffled)
    with pytest.raises(ValueError, match="standard order"):
        load_guidance_classifier(f"hf:{bad}")


def test_unknown_guidance_classifier():
    from generation.guidance_classifier import load_guidance_classifier

    with pytest.raises(ValueError, match="efficientnet-lite0"):
        load_guidance_classifier("resnet-9000")


def test_progress_moves_per_iteration_through_a_slow_adversarial_edit():
    """One adversarial photo takes tens of seconds on a CPU: the editor reports each iteration, so the bar of
    `edit` and `generate` moves through it; the reports add up to one per request, and the image is the same."""
    photo, mask, bg, clf, label = _adversarial_scene()
    reqs = [_request(photo, mask, bg, 20.0, seed=1, adversarial=True, label=label)]
    ticks: list[float] = []
    editor = CPUBackgroundEditor(iterations=8, classifier=clf)
    (out,) = editor.edit(reqs, progress=ticks.append)
    assert len(ticks) == 8 and all(0 < t < 1 for t in ticks) and sum(ticks) == pytest.approx(1.0)
    (again,) = CPUBackgroundEditor(iterations=8, classifier=clf).edit(reqs)
    assert np.array_equal(out, again)

    # Through run_edits (what the pipeline calls): the same reports; an editor without `progress` still works.
    class Plain:
        name = "plain"

        def edit(self, requests):
            return editor.edit(requests)

        def provenance(self):
            return {}

    plans = [plan_edit(prepare_source(photo, mask, options=EditOptions(resolution=photo.shape[0]), source_id="p"),
                       None, "background_20", seed=1)]
    ticks.clear()
    run_edits(plans, editor, progress=ticks.append)
    assert len(ticks) == 8 and sum(ticks) == pytest.approx(1.0)
    ticks.clear()
    (result,) = run_edits(plans, Plain(), progress=ticks.append)
    assert ticks == [] and result.ok
