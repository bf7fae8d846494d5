"""The ADM → diffusers converter, checked against OpenAI's original guided-diffusion network.

``guided-diffusion-sdk`` (PyPI, dev extra) is a packaging of openai/guided-diffusion; its ``unet.py``
differs from upstream only in honouring ``use_checkpoint`` in AttentionBlock (gradient checkpointing,
no effect on outputs). The schedule tests compare against its ``respace``/``gaussian_diffusion``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")
with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # torch.cuda.amp decorators in the 2021 code
    gd_unet = pytest.importorskip("guided_diffusion.unet")
    gd_respace = pytest.importorskip("guided_diffusion.respace")
    gd_gaussian = pytest.importorskip("guided_diffusion.gaussian_diffusion")
from diffusers import UNet2DModel  # noqa: E402

from generation.adm_convert import ADMFlags, convert_adm_state_dict, diffusers_layout, expected_adm_keys  # noqa: E402
from generation.diffusion_schedule import RespacedSchedule, space_timesteps  # noqa: E402
from imagenet_e.cli import main  # noqa: E402

SMALL = ADMFlags(
    image_size=32, num_channels=32, num_res_blocks=2, channel_mult=(1, 1, 2), attention_resolutions=(16, 8),
    num_head_channels=16,
)


def original_unet(flags: ADMFlags, seed: int = 0) -> torch.nn.Module:
    """OpenAI's UNetModel for ``flags`` with every parameter random (zero-initialised layers included)."""
    torch.manual_seed(seed)
    model = gd_unet.UNetModel(
        image_size=flags.image_size,
        in_channels=3,
        model_channels=flags.num_channels,
        out_channels=6 if flags.learn_sigma else 3,
        num_res_blocks=flags.num_res_blocks,
        attention_resolutions=tuple(flags.image_size // r for r in flags.attention_resolutions),
        dropout=flags.dropout,
        channel_mult=flags.mult(),
        num_classes=1000 if flags.class_cond else None,
        num_heads=flags.num_heads,
        num_head_channels=flags.num_head_channels,
        num_heads_upsample=flags.num_heads_upsample,
        use_scale_shift_norm=flags.use_scale_shift_norm,
        resblock_updown=flags.resblock_updown,
        use_new_attention_order=flags.use_new_attention_order,
    ).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 and ("norm" in name or name.endswith(("in_layers.0.weight", "out_layers.0.weight", "out.0.weight"))):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif p.ndim == 1:
                p.copy_(0.2 * torch.randn_like(p))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn_like(p) / math.sqrt(fan_in))
    return model


def outputs(original: torch.nn.Module, converted: UNet2DModel, flags: ADMFlags) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(123)
    x = torch.randn(2, 3, flags.image_size, flags.image_size)
    t = torch.tensor([7, 912])
    y = torch.tensor([5, 998]) if flags.class_cond else None
    with torch.no_grad():
        a = original(x, t, y=y) if y is not None else original(x, t)
        b = converted(x, t, class_labels=y).sample
    return a, b


def converted_model(flags: ADMFlags, state_dict: dict) -> UNet2DModel:
    config, weights = convert_adm_state_dict(state_dict, flags)
    model = UNet2DModel(**config).eval()
    model.load_state_dict(weights, strict=True)
    return model


CASES = {
    "adm256-style": SMALL,  # legacy attention, resblock up/down, scale-shift norm, learned sigma
    "class-cond": replace(SMALL, num_res_blocks=1, class_cond=True),
    "conv-resample-heads": replace(
        SMALL, channel_mult=(1, 2), attention_resolutions=(16,), num_head_channels=-1, num_heads=2,
        resblock_updown=False, use_scale_shift_norm=False, learn_sigma=False, num_res_blocks=1,
    ),
    "new-attention-order": replace(SMALL, num_res_blocks=1, use_new_attention_order=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_converted_model_matches_original(case: str) -> None:
    flags = CASES[case]
    original = original_unet(flags)
    a, b = outputs(original, converted_model(flags, original.state_dict()), flags)
    assert a.shape == b.shape
    assert a.abs().mean() > 0.1  # a non-degenerate network, so agreement means something
    halves = [(a[:, :3], b[:, :3]), (a[:, 3:], b[:, 3:])] if flags.learn_sigma else [(a, b)]
    for ref, got in halves:  # ε half and variance-interpolation half
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)


def test_wrong_qkv_layout_is_detected() -> None:
    """The equivalence check can fail: reading legacy qkv rows as q/k/v blocks changes the output."""
    original = original_unet(SMALL)
    wrong = converted_model(replace(SMALL, use_new_attention_order=True), original.state_dict())
    a, b = outputs(original, wrong, SMALL)
    assert (a - b).abs().max() > 1e-2


def test_default_flags_describe_adm256_uncond() -> None:
    flags = ADMFlags()
    with torch.device("meta"):
        original = gd_unet.UNetModel(
            image_size=256, in_channels=3, model_channels=256, out_channels=6, num_res_blocks=2,
            attention_resolutions=(8, 16, 32), channel_mult=(1, 1, 2, 2, 4, 4), num_head_channels=64,
            use_scale_shift_norm=True, resblock_updown=True,
        )
    sd = original.state_dict()
    assert expected_adm_keys(flags) and set(expected_adm_keys(flags)) == set(sd)
    config, weights = convert_adm_state_dict(sd, flags)  # shape-checked against diffusers' module tree
    assert config["block_out_channels"] == [256, 256, 512, 512, 1024, 1024]
    assert config["attention_head_dim"] == 64 and config["out_channels"] == 6
    assert config["down_block_types"][3:] == ["AttnDownBlock2D"] * 3
    assert config["down_block_types"][:3] == ["ResnetDownsampleBlock2D"] * 3
    assert (config["flip_sin_to_cos"], config["freq_shift"], config["attn_norm_num_groups"]) == (True, 0, 32)
    assert sum(v.numel() for v in weights.values()) == sum(v.numel() for v in sd.values())


def test_first_channel_multiplier_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be expressed"):
        diffusers_layout(ADMFlags(image_size=512))


def test_inconsistent_head_widths_are_refused() -> None:
    flags = replace(SMALL, num_head_channels=-1, num_heads=4)  # 32 and 64 channels → 8 and 16 per head
    with pytest.raises(ValueError, match="one attention head width"):
        diffusers_layout(flags)


def test_bad_keys_are_listed() -> None:
    sd = original_unet(SMALL).state_dict()
    del sd["middle_block.1.qkv.weight"]
    sd["input_blocks.99.0.in_layers.0.weight"] = torch.zeros(3)
    with pytest.raises(ValueError) as info:
        convert_adm_state_dict(sd, SMALL)
    message = str(info.value)
    assert "middle_block.1.qkv.weight" in message and "input_blocks.99.0.in_layers.0.weight" in message
    # A checkpoint for other flags is caught too (here: no learned sigma → output conv shape differs).
    with pytest.raises(ValueError, match="conv_out"):
        convert_adm_state_dict(original_unet(replace(SMALL, learn_sigma=False)).state_dict(), SMALL)


SMALL_CLI = [
    "--image-size", "32", "--num-channels", "32", "--num-res-blocks", "2", "--channel-mult", "1,1,2",
    "--attention-resolutions", "16,8", "--num-head-channels", "16",
    "--learn-sigma", "--resblock-updown", "True", "--use_scale_shift_norm", "true",
]


def test_cli_round_trip(tmp_path: Path) -> None:
    original = original_unet(SMALL)
    ckpt = tmp_path / "adm.pt"
    torch.save(original.state_dict(), ckpt)
    out = tmp_path / "converted"
    assert main(["convert-adm", str(ckpt), "--out", str(out), *SMALL_CLI]) == 0
    assert (out / "config.json").is_file() and (out / "diffusion_pytorch_model.safetensors").is_file()
    assert (out / "adm_conversion.json").is_file()
    a, b = outputs(original, UNet2DModel.from_pretrained(out).eval(), SMALL)
    torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    # The converted folder is what the diffusion background editor loads.
    from generation.interfaces import BackgroundEditRequest, make_background_editor

    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[8:20, 10:22] = True
    editor = make_background_editor("diffusion", unet=str(out), steps=1, progress=False)
    edited = editor.edit([BackgroundEditRequest(image=image, object_mask=mask, background=image, lam=20.0, seed=404)])[0]
    assert np.array_equal(edited[mask], image[mask]) and editor.provenance()["unet"] == str(out)
    # An existing output is not clobbered without --overwrite.
    assert main(["convert-adm", str(ckpt), "--out", str(out), *SMALL_CLI]) == 1
    assert main(["convert-adm", str(ckpt), "--out", str(out), "--overwrite", *SMALL_CLI]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adm.pt", "converted"]


def test_cli_failure_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sd = original_unet(SMALL).state_dict()
    sd["unknown.extra.weight"] = torch.zeros(1)
    ckpt = tmp_path / "bad.pt"
    torch.save(sd, ckpt)
    assert main(["convert-adm", str(ckpt), "--out", str(tmp_path / "out"), *SMALL_CLI]) == 1
    assert "unknown.extra.weight" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert main(["convert-adm", str(tmp_path / "junk.pt"), "--out", str(tmp_path / "out")]) == 1
    assert main(["convert-adm", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "out")]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pt", "junk.pt"]


# -- the respaced schedule against guided-diffusion's SpacedDiffusion -------------------------------


@pytest.mark.parametrize("spec", [100, 10, 25, "ddim50", "10,15,20", 1000])
def test_space_timesteps_matches_original(spec) -> None:
    original_spec = [spec] if isinstance(spec, int) else spec  # the original takes a string or a list
    assert space_timesteps(1000, spec) == gd_respace.space_timesteps(1000, original_spec)


def test_respaced_step_matches_original() -> None:
    flags = replace(SMALL, num_res_blocks=1)
    original = original_unet(flags)
    base = dict(
        betas=gd_gaussian.get_named_beta_schedule("linear", 1000),
        model_mean_type=gd_gaussian.ModelMeanType.EPSILON,
        model_var_type=gd_gaussian.ModelVarType.LEARNED_RANGE,
        loss_type=gd_gaussian.LossType.MSE,
    )
    spaced = gd_respace.SpacedDiffusion(use_timesteps=gd_respace.space_timesteps(1000, "100"), **base)
    ours = RespacedSchedule.build(1000, 100)
    np.testing.assert_allclose(ours.betas, spaced.betas, rtol=1e-12)
    np.testing.assert_array_equal(ours.timestep_map, spaced.timestep_map)
    converted = converted_model(flags, original.state_dict())
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    noise = torch.randn_like(x)
    for index in (0, 1, 9, 57, 99):
        t = torch.full((2,), index)
        with torch.no_grad():
            ref = spaced.p_mean_variance(original, x, t, clip_denoised=False)
            model_out = converted(x, torch.full((2,), int(ours.timestep_map[index])), return_dict=False)[0]
        mean, log_var, pred_x0 = ours.p_mean_variance(model_out, x, index)
        torch.testing.assert_close(mean, ref["mean"].float(), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(log_var, ref["log_variance"].float(), rtol=1e-4, atol=1e-5)
        # x̂0 scales ε by up to sqrt(1/ᾱ − 1) ≈ 160 at t = 999, so fp32 rounding of the net grows with it.
        torch.testing.assert_close(pred_x0, ref["pred_xstart"].float(), rtol=1e-4, atol=1e-3)
        torch.testing.assert_close(ours.q_sample(x, index, noise), spaced.q_sample(x, t, noise).float(), rtol=1e-5, atol=1e-6)
