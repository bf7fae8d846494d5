"""Ready for the first GPU run, exercised on CPU (issue 26, item 4): rank -> GPU binding, reproducible and
fp32 adversarial guidance under low-precision autocast, fp16 guidance with loss scaling."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def test_each_rank_binds_its_gpu_modulo_the_gpus_it_sees(monkeypatch):
    # torchrun with one GPU per rank (CUDA_VISIBLE_DEVICES per process): rank 1 sees a single device, cuda:0.
    import torch.distributed as dist

    from imagenet_e.eval import distributed

    bound: list[torch.device] = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", bound.append)
    monkeypatch.setattr(dist, "is_initialized", lambda: False)

    def no_peer(**kwargs):
        raise RuntimeError("0/2 clients joined")

    monkeypatch.setattr(dist, "init_process_group", no_peer)
    with pytest.raises(ValueError, match="did not join"):
        distributed.setup("cuda", timeout_s=1)
    assert bound == [torch.device("cuda:0")]  # not cuda:1, which this rank cannot see


# --- the adversarial guidance: reproducible, fp32, fp16 with loss scaling ------------------------------------

def _editor(dtype: str = "fp32", **kw):
    from helpers.scenes import TinyClassifier
    from test_diffusion_editor import tiny_unet

    from generation.diffusion_editor import DiffusionBackgroundEditor

    return DiffusionBackgroundEditor(tiny_unet(), steps=4, classifier=TinyClassifier().eval(), adv_scale=500.0,
                                     device="cpu", dtype=dtype, progress=False, **kw)


def test_adversarial_edits_are_the_same_alone_or_in_a_batch_of_four():
    from test_diffusion_editor import request

    reqs = [request(lam=20.0, seed=s, label=7 * s + 3, adversarial=True) for s in range(4)]
    batched = _editor(batch_size=4).edit(reqs)
    alone = _editor(batch_size=1)
    for r, out in zip(reqs, batched):
        assert np.array_equal(out, alone.edit([r])[0])
    assert not np.array_equal(batched[0], _editor(batch_size=4).edit([request(lam=20.0, seed=0, label=3)])[0])


def test_the_guidance_classifier_runs_in_fp32_under_the_unets_bf16_autocast():
    from test_diffusion_editor import request

    editor = _editor("bf16")
    assert next(editor.unet.parameters()).dtype == torch.bfloat16  # cast once, not at every forward
    seen: list[torch.dtype] = []
    editor.classifier.conv.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    unet_out: list[torch.dtype] = []
    editor.unet.conv_in.register_forward_hook(lambda module, args, out: unet_out.append(out.dtype))
    (out,) = editor.edit([request(lam=20.0, seed=1, label=5, adversarial=True)])
    assert out.dtype == np.uint8
    assert seen and set(seen) == {torch.float32}
    assert set(unet_out) == {torch.bfloat16}  # the UNet itself does run in bf16


def test_fp16_guidance_gradient_is_loss_scaled():
    from generation.diffusion_editor import scaled_input_grad

    x = torch.linspace(0.5, 1.0, 64).requires_grad_(True)
    # A gradient of ~1e-9 through fp16 activations: flushed to zero unscaled, kept with the loss scale.
    loss = ((x.half() * 1e-3) ** 2).sum() * 1e-3
    (plain,) = torch.autograd.grad(loss, x, retain_graph=True)
    assert not plain.any()
    scaled = scaled_input_grad(loss, x)
    assert torch.allclose(scaled, 2e-9 * x.detach(), rtol=0.05)
    # An overflow at the first scale is retried with a smaller one.
    big = (x.half() * 300).sum()
    assert torch.allclose(scaled_input_grad(big, x, scale=2.0 ** 10), torch.full_like(x, 300.0))


def test_fp16_edit_keeps_object_pixels_and_runs_the_scaled_guidance(monkeypatch):
    import generation.diffusion_editor as diffusion_editor
    from test_diffusion_editor import request

    calls: list[float] = []
    real = diffusion_editor.scaled_input_grad

    def counting(loss, x_in, **kw):
        calls.append(1.0)
        return real(loss, x_in, **kw)

    monkeypatch.setattr(diffusion_editor, "scaled_input_grad", counting)
    r = request(lam=20.0, seed=2)
    (out,) = _editor("fp16").edit([r])
    assert len(calls) == 4  # one scaled backward per step
    assert np.array_equal(out[r.object_mask], r.image[r.object_mask])


def test_batch_size_auto_is_sized_from_free_memory():
    import doctest

    import generation.diffusion_editor as diffusion_editor
    from generation.diffusion_editor import batch_size_for

    assert doctest.testmod(diffusion_editor).failed == 0
    gib = 2**30
    # The figures: ~4.2 GiB of saved activations per ADM-256 image; a fixed 32 needs ~138 GiB.
    assert batch_size_for(78 * gib, int(4.2 * gib)) < 32 and batch_size_for(139 * gib, int(4.2 * gib)) < 32
    assert batch_size_for(0, gib) == 1  # always at least one request per call
    assert _editor(batch_size="auto").batch_size == 8  # on a CPU there is no free-memory figure to size from
    with pytest.raises(ValueError, match="'auto'"):
        _editor(batch_size="many")
