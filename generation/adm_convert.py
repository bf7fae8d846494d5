"""Convert an OpenAI guided-diffusion (ADM) UNet checkpoint into a diffusers ``UNet2DModel`` folder.

The ADM UNet maps onto ``UNet2DModel`` as follows (checked numerically against the original network
in ``tests/test_convert_adm.py``):

* timestep embedding ``[cos, sin]`` with no frequency shift → ``flip_sin_to_cos=True, freq_shift=0``;
* ``resblock_updown`` resampling ResBlocks → ``ResnetDownsampleBlock2D``/``ResnetUpsampleBlock2D`` and
  the attention blocks' ``downsample_type``/``upsample_type="resnet"`` (strided/nearest convs otherwise);
* ``use_scale_shift_norm`` → ``resnet_time_scale_shift="scale_shift"``;
* the middle attention has its own GroupNorm(32) → ``attn_norm_num_groups=32``;
* the legacy attention layout stores qkv rows per head ([q|k|v] of head 0, then head 1, …); the
  1×1 convs of attention become linear weights;
* ``class_cond`` → ``num_class_embeds=1000``.

``UNet2DModel`` sizes its timestep projection by the first block's width, so a model whose first
channel multiplier is not 1 (ADM-512) cannot be expressed and is refused.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from imagenet_e_dataset.atomic import current_umask
from imagenet_e_dataset.checksums import file_sha256 as _sha256
from imagenet_e_dataset.output_folder import (
    OutputKind,
    check_output_folder,
    make_staging,
    release_staging,
    replace_output,
)

COMMAND = "convert-adm"

# guided-diffusion's script_util defaults when --channel_mult is empty.
DEFAULT_CHANNEL_MULT: dict[int, tuple[float, ...]] = {
    512: (0.5, 1, 1, 2, 2, 4, 4),
    256: (1, 1, 2, 2, 4, 4),
    128: (1, 1, 2, 3, 4),
    64: (1, 2, 3, 4),
}
NUM_CLASSES = 1000


@dataclass(frozen=True)
class ADMFlags:
    """guided-diffusion's model flags (same names and meanings); defaults: the 256×256 unconditional model."""

    image_size: int = 256
    num_channels: int = 256
    num_res_blocks: int = 2
    channel_mult: tuple[float, ...] | None = None  # None: guided-diffusion's default for image_size
    attention_resolutions: tuple[int, ...] = (32, 16, 8)  # feature-map sizes that get attention
    num_heads: int = 4
    num_head_channels: int = 64  # -1: use num_heads instead
    num_heads_upsample: int = -1  # -1: same as num_heads
    learn_sigma: bool = True
    resblock_updown: bool = True
    use_scale_shift_norm: bool = True
    class_cond: bool = False
    dropout: float = 0.0
    use_new_attention_order: bool = False
    in_channels: int = 3

    def mult(self) -> tuple[float, ...]:
        if self.channel_mult is not None:
            return tuple(self.channel_mult)
        if self.image_size not in DEFAULT_CHANNEL_MULT:
            raise ValueError(
                f"no default channel_mult for image_size {self.image_size} (known: {sorted(DEFAULT_CHANNEL_MULT)}); pass --channel-mult"
            )
        return DEFAULT_CHANNEL_MULT[self.image_size]


def parse_int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise ValueError(f"expected comma-separated integers, got {text!r}") from exc


def parse_channel_mult(text: str) -> tuple[float, ...] | None:
    """guided-diffusion's ``--channel_mult`` ("" = default for the image size)."""
    if not text.strip():
        return None
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError as exc:
        raise ValueError(f"--channel-mult expects comma-separated numbers, got {text!r}") from exc


@dataclass(frozen=True)
class _Module:
    """One ADM module and where it lives in diffusers; ``kind`` says how its tensors move."""

    adm: str
    diffusers: str
    kind: str  # "plain" | "resblock" | "attention" | "embedding"
    heads: int = 0
    legacy: bool = True
    has_skip: bool = False


@dataclass(frozen=True)
class _Layout:
    config: dict[str, Any]
    modules: tuple[_Module, ...] = field(repr=False)


def _heads(channels: int, num_heads: int, num_head_channels: int, where: str) -> int:
    if num_head_channels != -1:
        if channels % num_head_channels:
            raise ValueError(f"{where}: {channels} channels are not divisible by num_head_channels={num_head_channels}")
        return channels // num_head_channels
    if channels % num_heads:
        raise ValueError(f"{where}: {channels} channels are not divisible by num_heads={num_heads}")
    return num_heads


def diffusers_layout(flags: ADMFlags) -> _Layout:
    """The ``UNet2DModel`` config for ``flags`` and the module-by-module correspondence."""
    mult = flags.mult()
    if not mult:
        raise ValueError("channel_mult is empty")
    if mult[0] != 1:
        raise ValueError(
            f"channel_mult {mult} starts with {mult[0]}, not 1: diffusers' UNet2DModel ties the timestep embedding "
            "width to the first block's width, so this ADM model (e.g. the 512×512 one) cannot be expressed"
        )
    if flags.in_channels != 3:
        raise ValueError(f"only RGB ADM models are supported (in_channels=3), got {flags.in_channels}")
    chans = [int(m * flags.num_channels) for m in mult]
    for c in chans:
        if c % 32:
            raise ValueError(f"block width {c} is not divisible by 32 (ADM's GroupNorm groups)")
    bad_res = [r for r in flags.attention_resolutions if r <= 0 or flags.image_size % r]
    if bad_res:
        raise ValueError(f"attention resolutions {bad_res} do not divide image_size {flags.image_size}")
    attn_ds = {flags.image_size // r for r in flags.attention_resolutions}
    levels = len(mult)
    attn_level = [2**i in attn_ds for i in range(levels)]
    heads_up = flags.num_heads if flags.num_heads_upsample == -1 else flags.num_heads_upsample
    legacy = not flags.use_new_attention_order
    updown = flags.resblock_updown

    modules: list[_Module] = [
        _Module("time_embed.0", "time_embedding.linear_1", "plain"),
        _Module("time_embed.2", "time_embedding.linear_2", "plain"),
        _Module("input_blocks.0.0", "conv_in", "plain"),
    ]
    if flags.class_cond:
        modules.append(_Module("label_emb", "class_embedding", "embedding"))
    head_dims: dict[int, list[str]] = {}

    def attention(adm: str, dif: str, channels: int, num_heads: int) -> None:
        heads = _heads(channels, num_heads, flags.num_head_channels, adm)
        head_dims.setdefault(channels // heads, []).append(adm)
        modules.append(_Module(adm, dif, "attention", heads=heads, legacy=legacy))

    idx, ch = 0, chans[0]
    for i in range(levels):
        for j in range(flags.num_res_blocks):
            idx += 1
            modules.append(_Module(f"input_blocks.{idx}.0", f"down_blocks.{i}.resnets.{j}", "resblock", has_skip=ch != chans[i]))
            ch = chans[i]
            if attn_level[i]:
                attention(f"input_blocks.{idx}.1", f"down_blocks.{i}.attentions.{j}", ch, flags.num_heads)
        if i != levels - 1:
            idx += 1
            if updown:
                modules.append(_Module(f"input_blocks.{idx}.0", f"down_blocks.{i}.downsamplers.0", "resblock"))
            else:
                modules.append(_Module(f"input_blocks.{idx}.0.op", f"down_blocks.{i}.downsamplers.0.conv", "plain"))
    modules.append(_Module("middle_block.0", "mid_block.resnets.0", "resblock"))
    attention("middle_block.1", "mid_block.attentions.0", ch, flags.num_heads)
    modules.append(_Module("middle_block.2", "mid_block.resnets.1", "resblock"))
    skips = [chans[0]] + [chans[i] for i in range(levels) for _ in range(flags.num_res_blocks + (i != levels - 1))]
    k = 0
    for ui, level in enumerate(reversed(range(levels))):
        for j in range(flags.num_res_blocks + 1):
            cin = ch + skips.pop()
            ch = chans[level]
            modules.append(_Module(f"output_blocks.{k}.0", f"up_blocks.{ui}.resnets.{j}", "resblock", has_skip=cin != ch))
            sub = 1
            if attn_level[level]:
                attention(f"output_blocks.{k}.1", f"up_blocks.{ui}.attentions.{j}", ch, heads_up)
                sub = 2
            if level and j == flags.num_res_blocks:
                if updown:
                    modules.append(_Module(f"output_blocks.{k}.{sub}", f"up_blocks.{ui}.upsamplers.0", "resblock"))
                else:
                    modules.append(_Module(f"output_blocks.{k}.{sub}.conv", f"up_blocks.{ui}.upsamplers.0.conv", "plain"))
            k += 1
    modules += [_Module("out.0", "conv_norm_out", "plain"), _Module("out.2", "conv_out", "plain")]

    if len(head_dims) != 1:
        detail = "; ".join(f"{d} channels per head at {', '.join(names)}" for d, names in sorted(head_dims.items()))
        raise ValueError(
            "diffusers' UNet2DModel uses one attention head width everywhere, but these flags give several "
            f"({detail}); use --num-head-channels instead of --num-heads"
        )
    (head_dim,) = head_dims
    down_types = [
        "AttnDownBlock2D" if a else ("ResnetDownsampleBlock2D" if updown else "DownBlock2D") for a in attn_level
    ]
    up_types = [
        "AttnUpBlock2D" if attn_level[lv] else ("ResnetUpsampleBlock2D" if updown else "UpBlock2D")
        for lv in reversed(range(levels))
    ]
    config: dict[str, Any] = {
        "sample_size": flags.image_size,
        "in_channels": flags.in_channels,
        "out_channels": 2 * flags.in_channels if flags.learn_sigma else flags.in_channels,
        "center_input_sample": False,
        "time_embedding_type": "positional",
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "down_block_types": down_types,
        "mid_block_type": "UNetMidBlock2D",
        "up_block_types": up_types,
        "block_out_channels": chans,
        "layers_per_block": flags.num_res_blocks,
        "mid_block_scale_factor": 1,
        "downsample_padding": 1,
        "downsample_type": "resnet" if updown else "conv",
        "upsample_type": "resnet" if updown else "conv",
        "dropout": flags.dropout,
        "act_fn": "silu",
        "attention_head_dim": head_dim,
        "norm_num_groups": 32,
        "attn_norm_num_groups": 32,
        "norm_eps": 1e-5,
        "resnet_time_scale_shift": "scale_shift" if flags.use_scale_shift_norm else "default",
        "add_attention": True,
        "class_embed_type": None,
        "num_class_embeds": NUM_CLASSES if flags.class_cond else None,
    }
    return _Layout(config=config, modules=tuple(modules))


_RESBLOCK_PARTS = (
    ("in_layers.0", "norm1"),
    ("in_layers.2", "conv1"),
    ("emb_layers.1", "time_emb_proj"),
    ("out_layers.0", "norm2"),
    ("out_layers.3", "conv2"),
)


def _pairs(module: _Module) -> list[tuple[str, str]]:
    """(ADM sub-module, diffusers sub-module) pairs holding a weight and a bias each."""
    if module.kind == "resblock":
        parts = list(_RESBLOCK_PARTS) + ([("skip_connection", "conv_shortcut")] if module.has_skip else [])
        return [(f"{module.adm}.{a}", f"{module.diffusers}.{d}") for a, d in parts]
    if module.kind == "plain":
        return [(module.adm, module.diffusers)]
    raise AssertionError(module.kind)


def expected_adm_keys(flags: ADMFlags) -> list[str]:
    """Every state-dict key an ADM checkpoint with ``flags`` holds."""
    keys: list[str] = []
    for m in diffusers_layout(flags).modules:
        if m.kind == "embedding":
            keys.append(f"{m.adm}.weight")
        elif m.kind == "attention":
            keys += [f"{m.adm}.{p}.{w}" for p in ("norm", "qkv", "proj_out") for w in ("weight", "bias")]
        else:
            keys += [f"{a}.{w}" for a, _ in _pairs(m) for w in ("weight", "bias")]
    return keys


def _split_qkv(t: torch.Tensor, heads: int, legacy: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """qkv rows → (q, k, v) rows with each head's channels contiguous, as diffusers' Attention expects."""
    if t.ndim == 3:  # 1×1 conv1d weight → linear weight
        t = t[..., 0]
    three_c = t.shape[0]
    c = three_c // 3
    rest = t.shape[1:]
    if legacy:  # rows: head 0 [q|k|v], head 1 [q|k|v], ...
        grouped = t.reshape(heads, 3, c // heads, *rest)
        return tuple(grouped[:, i].reshape(c, *rest).clone() for i in range(3))  # type: ignore[return-value]
    return tuple(part.clone() for part in t.reshape(3, c, *rest).unbind(0))  # type: ignore[return-value]


def _limited(names: list[str], limit: int = 25) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


def convert_adm_state_dict(
    state_dict: Mapping[str, torch.Tensor], flags: ADMFlags = ADMFlags()
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(``UNet2DModel`` config, diffusers state dict) for an ADM UNet state dict; ValueError on any key or shape mismatch."""
    layout = diffusers_layout(flags)
    expected = expected_adm_keys(flags)
    expected_set, given = set(expected), set(state_dict)
    missing = [k for k in expected if k not in given]
    unexpected = sorted(given - expected_set)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys ({len(missing)}): {_limited(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_limited(unexpected)}")
        raise ValueError(
            "checkpoint does not match an ADM UNet with these flags — " + "; ".join(parts)
            + " (check --image-size/--num-channels/--channel-mult/--num-res-blocks/--attention-resolutions/"
            "--learn-sigma/--class-cond/--resblock-updown)"
        )
    bad = [k for k in expected if not isinstance(state_dict[k], torch.Tensor)]
    if bad:
        raise ValueError(f"checkpoint entries are not tensors: {_limited(bad)}")

    out: dict[str, torch.Tensor] = {}
    for m in layout.modules:
        if m.kind == "embedding":
            out[f"{m.diffusers}.weight"] = state_dict[f"{m.adm}.weight"]
        elif m.kind == "attention":
            out[f"{m.diffusers}.group_norm.weight"] = state_dict[f"{m.adm}.norm.weight"]
            out[f"{m.diffusers}.group_norm.bias"] = state_dict[f"{m.adm}.norm.bias"]
            for w in ("weight", "bias"):
                q, k, v = _split_qkv(state_dict[f"{m.adm}.qkv.{w}"], m.heads, m.legacy)
                out[f"{m.diffusers}.to_q.{w}"], out[f"{m.diffusers}.to_k.{w}"], out[f"{m.diffusers}.to_v.{w}"] = q, k, v
                proj = state_dict[f"{m.adm}.proj_out.{w}"]
                out[f"{m.diffusers}.to_out.0.{w}"] = proj[..., 0] if proj.ndim == 3 else proj
        else:
            for a, d in _pairs(m):
                for w in ("weight", "bias"):
                    out[f"{d}.{w}"] = state_dict[f"{a}.{w}"]

    # Compare with the real diffusers module tree (built on the meta device: no memory, no init cost).
    from diffusers import UNet2DModel

    with torch.device("meta"):
        reference = UNet2DModel(**layout.config).state_dict()
    absent = sorted(set(reference) - set(out))
    extra = sorted(set(out) - set(reference))
    wrong_shape = [
        f"{k}: checkpoint {tuple(out[k].shape)} vs model {tuple(reference[k].shape)}"
        for k in sorted(set(out) & set(reference))
        if tuple(out[k].shape) != tuple(reference[k].shape)
    ]
    if absent or extra or wrong_shape:
        raise ValueError(
            "converted weights do not fit the diffusers UNet2DModel for these flags — "
            + "; ".join(
                s
                for s in (
                    absent and f"not filled: {_limited(absent)}",
                    extra and f"no such parameter: {_limited(extra)}",
                    wrong_shape and f"shape mismatches: {_limited(wrong_shape, 10)}",
                )
                if s
            )
        )
    return dict(layout.config), out


def load_adm_checkpoint(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A guided-diffusion ``.pt`` state dict, loaded without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ADM checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's pickle-protocol notice would precede our one-line error
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors come in many types; all mean "not a loadable state dict"
        # torch's message runs over many lines (and names no file); keep one line of it.
        reason = " ".join(str(exc).split())
        if "Weights only load failed" in reason:
            reason = ("torch's safe loader (weights_only) refused it: it is damaged, or holds pickled objects besides "
                      "tensors, which are never unpickled (they could run code); save the state dict alone with "
                      "torch.save(model.state_dict(), path)")
        raise ValueError(f"{path} is not a loadable PyTorch state dict: {reason[:300]}") from None
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) for k in obj):
        raise ValueError(f"{path} does not hold a plain state dict (got {type(obj).__name__})")
    not_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise ValueError(f"{path}: entry {not_tensors[0]!r} is a {type(obj[not_tensors[0]]).__name__}, not a tensor; "
                         "an ADM checkpoint is a state dict of tensors")
    integral = [k for k, v in obj.items() if not (v.is_floating_point() or v.is_complex())]
    if integral:
        raise ValueError(f"{path}: tensor {integral[0]!r} has dtype {obj[integral[0]].dtype}; the weights of an ADM UNet "
                         "are floating point (this file is not a guided-diffusion UNet checkpoint, or it was altered)")
    return dict(obj)


def convert_adm_checkpoint(
    checkpoint: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    flags: ADMFlags = ADMFlags(),
    overwrite: bool = False,
) -> Path:
    """Write a diffusers ``UNet2DModel`` folder (safetensors + config) for an ADM checkpoint.

    The folder appears complete or not at all: it is written under a temporary name beside ``out_dir``
    and renamed at the end; on any failure nothing is left behind.
    """
    ckpt_path = Path(checkpoint)
    # The output-folder rule, before the (slow) load: a new folder, or with overwrite an earlier
    # conversion, never the checkpoint itself or a folder holding it.
    out = check_output_folder(out_dir, command=COMMAND, kind=OutputKind.UNET, inputs=(ckpt_path,), overwrite=overwrite)
    config, weights = convert_adm_state_dict(load_adm_checkpoint(ckpt_path), flags)

    from diffusers import UNet2DModel

    with torch.device("meta"):
        model = UNet2DModel(**config)
    model.load_state_dict(weights, strict=True, assign=True)
    tmp = make_staging(out, "converting")  # locked: a later run removes it if this one is killed
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        provenance = {
            "converted_from": ckpt_path.name,
            "checkpoint_sha256": _sha256(ckpt_path),
            "adm_flags": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(flags).items()},
            "channel_mult_used": list(flags.mult()),
            "converter": "imagenet-e convert-adm",
        }
        (tmp / "adm_conversion.json").write_text(json.dumps(provenance, indent=2) + "\n")
        _share(tmp)
        replace_output(tmp, out, command=COMMAND, kind=OutputKind.UNET, inputs=(ckpt_path,), overwrite=overwrite)
    except BaseException:
        release_staging(tmp)
        raise
    release_staging(tmp, remove=False)
    return out


def _share(folder: Path) -> None:
    """Ordinary permissions (umask) on everything in ``folder``: writers that go through temporary files
    (mkdtemp, mkstemp) leave 0700 folders and 0600 files, which other users of a shared model folder could not read."""
    mask = current_umask()
    for path in folder.rglob("*"):
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)
    os.chmod(folder, 0o777 & ~mask)
