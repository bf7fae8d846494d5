"""The blended-diffusion background editor on a tiny random learned-sigma UNet (CPU, fp32)."""

from __future__ import annotations

import doctest
from dataclasses import replace

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")
from diffusers import UNet2DModel  # noqa: E402

import generation.diffusion_schedule as diffusion_schedule  # noqa: E402
from generation.diffusion_editor import DiffusionBackgroundEditor, fft_complexity  # noqa: E402
from generation.interfaces import BackgroundEditor, BackgroundEditRequest, make_background_editor  # noqa: E402

SIZE = 32


def tiny_unet(out_channels: int = 6) -> UNet2DModel:
    torch.manual_seed(0)
    # ADM-shaped (scale-shift norm, resnet resampling, attention, learned sigma), just very small.
    return UNet2DModel(
        sample_size=SIZE,
        in_channels=3,
        out_channels=out_channels,
        block_out_channels=(32, 32),
        layers_per_block=1,
        down_block_types=("ResnetDownsampleBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "ResnetUpsampleBlock2D"),
        attention_head_dim=16,
        resnet_time_scale_shift="scale_shift",
        attn_norm_num_groups=32,
        downsample_type="resnet",
        upsample_type="resnet",
    ).eval()


@pytest.fixture(scope="module")
def unet() -> UNet2DModel:
    return tiny_unet()


def scene(size: int = SIZE, shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size]
    image = np.stack(
        [128 + 60 * np.sin((xx + shift) / 3), 128 + 60 * np.cos(yy / 4), 128 + 40 * np.sin((xx + yy) / 5)], -1
    ).astype(np.uint8)
    mask = np.zeros((size, size), bool)
    mask[size // 3 : size // 2 + 3, size // 3 : size // 2 + 4] = True
    image[mask] = (np.arange(mask.sum() * 3).reshape(-1, 3) * 7 % 256).astype(np.uint8)  # a distinct "object"
    return image, mask


def request(lam: float = 0.0, seed: int = 0, size: int = SIZE, **kw) -> BackgroundEditRequest:
    image, mask = scene(size, shift=seed)
    background = image.copy()
    background[mask] = 90
    return BackgroundEditRequest(image=image, object_mask=mask, background=background, lam=lam, seed=seed, **kw)


def complexity(images: list[np.ndarray]) -> np.ndarray:
    return fft_complexity(torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255).numpy()


def test_schedule_doctests() -> None:
    assert doctest.testmod(diffusion_schedule).failed == 0


def test_object_pixels_byte_identical_and_background_changes(unet: UNet2DModel) -> None:
    editor = make_background_editor("diffusion", unet=unet, steps=4, progress=False)
    assert isinstance(editor, BackgroundEditor)
    reqs = [request(lam=20.0, seed=s) for s in range(2)]
    outs = editor.edit(reqs)
    for r, out in zip(reqs, outs):
        assert out.dtype == np.uint8 and out.shape == r.image.shape
        assert np.array_equal(out[r.object_mask], r.image[r.object_mask])
        # The background really was re-synthesised (not just copied back).
        assert np.abs(out[~r.object_mask].astype(int) - r.image[~r.object_mask]).mean() > 1.0


def test_batch_equals_single_runs(unet: UNet2DModel) -> None:
    editor = DiffusionBackgroundEditor(unet, steps=3, batch_size=3, progress=False)
    reqs = [request(lam=lam, seed=seed) for lam, seed in ((0.0, 11), (20.0, 12), (-20.0, 13))]
    batched = editor.edit(reqs)
    for r, out in zip(reqs, batched):
        assert np.array_equal(out, editor.edit([r])[0])
    # A different seed is a different draw.
    assert not np.array_equal(batched[0], editor.edit([request(lam=0.0, seed=99)])[0])


def test_mixed_sizes_keep_order(unet: UNet2DModel) -> None:
    editor = DiffusionBackgroundEditor(unet, steps=2, batch_size=2, progress=False)
    reqs = [request(seed=1), request(seed=2, size=48), request(seed=3)]
    outs = editor.edit(reqs)
    assert [o.shape for o in outs] == [(32, 32, 3), (48, 48, 3), (32, 32, 3)]
    assert np.array_equal(outs[2], editor.edit([reqs[2]])[0])


def test_complexity_guidance_direction(unet: UNet2DModel) -> None:
    editor = DiffusionBackgroundEditor(unet, steps=6, batch_size=9, progress=False)
    seeds = range(3)
    outs = editor.edit([request(lam=lam, seed=s) for lam in (0.0, 200.0, -200.0) for s in seeds])
    base, hard, smooth = (complexity(outs[i * 3 : i * 3 + 3]).mean() for i in range(3))
    assert hard > base > smooth


def test_edit_mask_limits_change(unet: UNet2DModel) -> None:
    r = request(lam=20.0, seed=5)
    edit_mask = np.zeros_like(r.object_mask)
    edit_mask[:, : SIZE // 4] = True  # only a left strip may change
    r2 = BackgroundEditRequest(
        image=r.image, object_mask=r.object_mask, background=r.background, lam=r.lam, seed=r.seed, edit_mask=edit_mask
    )
    out = DiffusionBackgroundEditor(unet, steps=4, progress=False).edit([r2])[0]
    outside = ~edit_mask & ~r.object_mask
    # Outside the edit region the result is x̂0 of the re-imposed image: close to it, unlike the strip.
    err_out = np.abs(out[outside].astype(int) - r.image[outside]).mean()
    err_in = np.abs(out[edit_mask].astype(int) - r.image[edit_mask]).mean()
    assert err_out < err_in


class TinyClassifier(torch.nn.Module):
    name = "tiny-test-classifier"

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.SiLU(), torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(),
            torch.nn.Linear(128, 1000),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1) * 4


def test_adversarial_guidance_lowers_true_label_probability(unet: UNet2DModel) -> None:
    clf = TinyClassifier().eval()
    editor = DiffusionBackgroundEditor(unet, steps=6, batch_size=8, classifier=clf, adv_scale=2000.0, progress=False)
    seeds = range(3)
    with torch.no_grad():
        probe = clf(torch.from_numpy(request(seed=0).image).permute(2, 0, 1)[None].float() / 255)
    label = int(probe.argmax())  # the class the classifier already believes: there is probability to lose
    plain = editor.edit([request(lam=20.0, seed=s, label=label) for s in seeds])
    adv = editor.edit([request(lam=20.0, seed=s, label=label, adversarial=True) for s in seeds])

    def p_true(images: list[np.ndarray]) -> float:
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
        with torch.no_grad():
            return float(torch.softmax(clf(x), -1)[:, label].mean())

    assert p_true(adv) < p_true(plain)
    for r, out in zip([request(seed=s) for s in seeds], adv):
        assert np.array_equal(out[r.object_mask], r.image[r.object_mask])


def test_bad_inputs_are_refused(unet: UNet2DModel, tmp_path) -> None:
    editor = DiffusionBackgroundEditor(unet, steps=2, progress=False)
    with pytest.raises(ValueError, match="adversarial"):
        editor.edit([request(seed=1, adversarial=True, label=3)])
    with pytest.raises(ValueError, match="request 1: image is 31x31.*multiples of 2"):
        editor.edit([request(seed=1), request(seed=2, size=31)])
    with pytest.raises(ValueError, match="learned-sigma"):
        DiffusionBackgroundEditor(tiny_unet(out_channels=3), steps=2)
    with pytest.raises(ValueError, match="steps"):
        DiffusionBackgroundEditor(unet, steps=0)
    with pytest.raises(ValueError, match="dtype"):
        DiffusionBackgroundEditor(unet, dtype="int8")
    with pytest.raises(FileNotFoundError, match="UNet2DModel"):
        DiffusionBackgroundEditor(tmp_path / "no-such-model")


def test_loads_from_folder_and_reports_provenance(unet: UNet2DModel, tmp_path) -> None:
    unet.save_pretrained(tmp_path / "unet")
    editor = make_background_editor("diffusion", unet=str(tmp_path / "unet"), steps=2, progress=False)
    prov = editor.provenance()
    assert prov["backend"] == "diffusion" and prov["unet"] == str(tmp_path / "unet")
    assert (prov["steps"], prov["respaced_steps"], prov["num_train_steps"], prov["dtype"]) == (2, 100, 1000, "float32")
    r = request(seed=4)
    assert np.array_equal(editor.edit([r])[0], DiffusionBackgroundEditor(unet, steps=2, progress=False).edit([r])[0])


class _PointwiseUNet(torch.nn.Module):
    """A stand-in for the UNet with a closed form: ε = 0.5·tanh(x) + 1e-3·t, v = 0.4 (t = ORIGINAL timestep)."""

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config

    def forward(self, x, t, class_labels=None):
        eps = 0.5 * torch.tanh(x) + 1e-3 * t.view(-1, 1, 1, 1).to(x.dtype)
        v = torch.full_like(x, 0.4)

        class Out:
            sample = torch.cat([eps, v], dim=1)

        return Out()


def _reference_blended_diffusion(r: BackgroundEditRequest, steps: int, noise: torch.Tensor, range_scale: float) -> np.ndarray:
    """The blended-diffusion step written out from ADM's linear schedule (float64), independent of RespacedSchedule.

    Every noise draw is the same tensor ``noise``, so the order of draws does not matter.
    """
    base = np.cumprod(1.0 - np.linspace(1e-4, 0.02, 1000))
    kept = [round(k * 999 / 99) for k in range(100)]  # guided-diffusion's space_timesteps(1000, [100])
    abar = base[kept]
    n = noise.double()

    def to_t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).permute(2, 0, 1)[None].double() / 127.5 - 1

    image, background = to_t(r.image), to_t(r.background)
    region = torch.from_numpy(r.region())[None, None].double()
    model = _PointwiseUNet(None)

    def q(x0: torch.Tensor, i: int) -> torch.Tensor:
        return x0 if i < 0 else np.sqrt(abar[i]) * x0 + np.sqrt(1 - abar[i]) * n

    x = q(background, steps - 1)
    for i in range(steps - 1, -1, -1):
        ab, ab_prev = abar[i], (abar[i - 1] if i else 1.0)
        beta = 1 - ab / ab_prev
        post_var = lambda j: (1 - abar[j] / (abar[j - 1] if j else 1.0)) * (1 - (abar[j - 1] if j else 1.0)) / (1 - abar[j])
        min_log, max_log = np.log(post_var(max(i, 1))), np.log(beta)
        x_in = x.detach().requires_grad_(True)
        out = model(x_in, torch.tensor([kept[i]]))
        eps, v = out.sample[:, :3], out.sample[:, 3:]
        log_var = (v + 1) / 2 * max_log + (1 - (v + 1) / 2) * min_log
        x0 = (x_in - np.sqrt(1 - ab) * eps) / np.sqrt(ab)
        mean = beta * np.sqrt(ab_prev) / (1 - ab) * x0 + (1 - ab_prev) * np.sqrt(1 - beta) / (1 - ab) * x_in
        loss = (-r.lam * torch.fft.fft2((x0 + 1) / 2).abs().mean()
                + range_scale * (x0 - x0.clamp(-1, 1)).pow(2).mean())
        grad = torch.autograd.grad(loss, x_in)[0]
        mean = (mean - log_var.exp() * grad).detach()  # μ ← μ − Σ·∇L
        x = mean + (0.5 * log_var).exp().detach() * n if i > 0 else mean
        x = x * region + q(image, i) * (1 - region)  # blend with q_sample(object image, t) of the step's own t
        pred_x0 = x0.detach()
    # The authors' to_pil_image truncates: floor(clamp((x̂0 + 1) / 2, 0, 1) · 255).
    out = (((pred_x0[0].permute(1, 2, 0) + 1) / 2).clamp(0, 1) * 255).floor().to(torch.uint8).numpy()
    out[r.object_mask] = r.image[r.object_mask]  # final exact paste
    return out


@pytest.mark.parametrize("lam", [0.0, 2000.0])
def test_step_matches_the_spec_formula(unet: UNet2DModel, monkeypatch, lam: float) -> None:
    # Two edit regions: pixels outside the edit mask (but not object) show the blend with q_sample(image, t).
    r0 = request(lam=lam, seed=7)
    edit_mask = np.zeros_like(r0.object_mask)
    edit_mask[:, : SIZE // 2] = True
    r = BackgroundEditRequest(image=r0.image, object_mask=r0.object_mask, background=r0.background, lam=lam,
                              seed=7, edit_mask=edit_mask & ~r0.object_mask)
    fixed = torch.randn((3, SIZE, SIZE), generator=torch.Generator().manual_seed(3))
    real_randn = torch.randn
    monkeypatch.setattr(torch, "randn", lambda *a, **k: fixed.clone() if tuple(a[0]) == (3, SIZE, SIZE) else real_randn(*a, **k))
    editor = DiffusionBackgroundEditor(unet, steps=4, range_scale=50.0, progress=False)
    editor.unet = _PointwiseUNet(unet.config)
    got = editor.edit([r])[0]
    want = _reference_blended_diffusion(r, 4, fixed[None], 50.0)
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 1 and diff.mean() < 0.05, (diff.max(), diff.mean())
    assert np.array_equal(got[r.object_mask], r.image[r.object_mask])
    if lam:
        # The guidance really moves the result (so the comparison above checks its scale and sign).
        plain = _reference_blended_diffusion(replace(r, lam=0.0), 4, fixed[None], 50.0)
        assert np.abs(plain.astype(int) - want.astype(int))[r.region()].mean() > 2


def test_rounding_follows_the_request(unet: UNet2DModel) -> None:
    editor = DiffusionBackgroundEditor(unet, steps=3, progress=False)
    r = request(lam=20.0, seed=9)
    floored, rounded = editor.edit([r, replace(r, rounding="round")])
    region = r.region()
    diff = rounded[region].astype(int) - floored[region].astype(int)
    # Truncation is never above rounding and is one level below it for about half the pixels.
    assert diff.min() >= 0 and diff.max() <= 1 and 0.3 < diff.mean() < 0.7


class _Recorder(torch.nn.Module):
    """The tiny UNet, recording the x_t each call receives."""

    def __init__(self, inner: UNet2DModel) -> None:
        super().__init__()
        self.inner, self.config, self.inputs = inner, inner.config, []

    def forward(self, x, t, class_labels=None):
        self.inputs.append((x.detach().clone(), t.detach().clone()))
        return self.inner(x, t, class_labels=class_labels)


def _abar(index: int) -> float:
    """ᾱ of respaced step ``index`` of 100 over ADM's 1000 linear steps, written out (guided-diffusion's rule)."""
    return float(np.cumprod(1.0 - np.linspace(1e-4, 0.02, 1000))[round(index * 999 / 99)])


def _fixed_noise(monkeypatch, seed: int) -> torch.Tensor:
    fixed = torch.randn((3, SIZE, SIZE), generator=torch.Generator().manual_seed(seed))
    real_randn = torch.randn
    monkeypatch.setattr(torch, "randn", lambda *a, **k: fixed.clone() if tuple(a[0]) == (3, SIZE, SIZE) else real_randn(*a, **k))
    return fixed


def test_blend_reimposes_the_object_at_the_noise_level_of_the_step_just_taken(unet: UNet2DModel, monkeypatch) -> None:
    # SPEC §2.3 / the authors' postprocess_fn: the step from index i to i−1 blends q_sample(object, i), not i−1.
    noise = _fixed_noise(monkeypatch, 5).double()
    r = request(lam=0.0, seed=3)
    editor = DiffusionBackgroundEditor(unet, steps=3, range_scale=0.0, progress=False)
    editor.unet = recorder = _Recorder(unet)
    editor.edit([r])
    assert [int(t) for _, t in recorder.inputs] == [20, 10, 0]  # the original timesteps of respaced 2, 1, 0
    image = torch.from_numpy(r.image).permute(2, 0, 1).double() / 127.5 - 1
    obj = torch.from_numpy(r.object_mask)
    for call, index in ((1, 2), (2, 1)):  # call k receives x blended after the step that left index 3 - k
        got = recorder.inputs[call][0][0].double()[:, obj]
        want = (np.sqrt(_abar(index)) * image + np.sqrt(1 - _abar(index)) * noise)[:, obj]
        one_step_later = (np.sqrt(_abar(index - 1)) * image + np.sqrt(1 - _abar(index - 1)) * noise)[:, obj]
        assert torch.allclose(got, want, atol=1e-5), (call, (got - want).abs().max())
        assert (got - one_step_later).abs().max() > 1e-2  # the t−1 reading would be far off


def test_class_guided_gradient_is_taken_on_the_detached_prediction(unet: UNet2DModel, monkeypatch) -> None:
    # The authors' class_guided: μ ← μ − Σ · s · ∇_{x̂0'} log p(y | x̂0'), x̂0' = x̂0 detached (not through the UNet).
    _fixed_noise(monkeypatch, 6)
    clf, scale, label = TinyClassifier().eval(), 300.0, 7
    editor = DiffusionBackgroundEditor(unet, steps=10, range_scale=0.0, classifier=clf, adv_scale=scale, progress=False)
    editor.unet = recorder = _Recorder(unet)
    plain = request(lam=0.0, seed=4, label=label)
    editor.edit([plain])
    plain_inputs = list(recorder.inputs)
    recorder.inputs.clear()
    editor.edit([replace(plain, adversarial=True)])
    x9, t9 = plain_inputs[0]
    assert torch.equal(recorder.inputs[0][0], x9) and int(t9) == 91
    shift = (recorder.inputs[1][0] - plain_inputs[1][0])[0].double()  # Σ·g_adv (same noise, same model output)

    ab, ab_prev = _abar(9), _abar(8)
    beta = 1 - ab / ab_prev
    with torch.no_grad():
        out = unet(x9, t9).sample.double()
    eps, frac = out[:, :3], (out[:, 3:] + 1) / 2
    sigma2 = (frac * np.log(beta) + (1 - frac) * np.log(beta * (1 - ab_prev) / (1 - ab))).exp()
    x0 = ((x9.double() - np.sqrt(1 - ab) * eps) / np.sqrt(ab)).float().requires_grad_(True)
    log_p = torch.log_softmax(clf((x0 + 1) / 2), -1)[0, label]
    want = (sigma2 * -scale * torch.autograd.grad(log_p, x0)[0].double())[0]
    region = torch.from_numpy(plain.region())
    tol = 1e-3 * float(want.abs().max())
    assert float(want.abs().max()) > 1e-5  # the term is really there
    assert (shift - want)[:, region].abs().max() <= tol, float((shift - want)[:, region].abs().max())
    # Differentiating through the UNet (the toolkit's old reading) gives a visibly different shift.
    x_in = x9.clone().requires_grad_(True)
    eps_g = unet(x_in, t9).sample[:, :3]
    log_p_t = torch.log_softmax(clf(((x_in - np.sqrt(1 - ab) * eps_g) / np.sqrt(ab) + 1) / 2), -1)[0, label]
    through = (sigma2 * -scale * torch.autograd.grad(log_p_t, x_in)[0].double())[0]
    assert (through - want)[:, region].abs().max() > 20 * tol
