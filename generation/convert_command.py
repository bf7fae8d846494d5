"""``imagenet-e convert-adm``: an OpenAI guided-diffusion checkpoint → a diffusers ``UNet2DModel`` folder.

Flags keep guided-diffusion's names and meanings (dashes or underscores both accepted, booleans as
``--learn-sigma`` / ``--learn-sigma False``), so the flags printed next to a released checkpoint
can be pasted as they are. Defaults describe ``256x256_diffusion_uncond.pt``.
"""

from __future__ import annotations

import argparse

_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {text!r}")


def _flag(parser: argparse.ArgumentParser, name: str, **kwargs) -> None:
    kwargs.setdefault("help", "guided-diffusion flag")
    parser.add_argument(f"--{name}", f"--{name.replace('-', '_')}", dest=name.replace("-", "_"), **kwargs)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "convert-adm",
        help="convert an OpenAI guided-diffusion (ADM) UNet checkpoint into a diffusers UNet2DModel folder",
        description=(
            "Convert an OpenAI guided-diffusion (ADM) UNet checkpoint into a diffusers UNet2DModel folder. "
            "Flags keep guided-diffusion's names and meanings (dashes or underscores; booleans as --learn-sigma "
            "or --learn-sigma False); defaults describe 256x256_diffusion_uncond.pt."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("checkpoint", help="guided-diffusion .pt state dict, e.g. 256x256_diffusion_uncond.pt")
    p.add_argument("--out", required=True, help="output folder (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty output folder")
    _flag(p, "image-size", type=int, default=256)
    _flag(p, "num-channels", type=int, default=256)
    _flag(p, "num-res-blocks", type=int, default=2)
    _flag(p, "channel-mult", default="", help='e.g. "1,1,2,2,4,4"; empty: guided-diffusion default for the image size')
    _flag(p, "attention-resolutions", default="32,16,8", help="feature-map sizes with attention")
    _flag(p, "num-heads", type=int, default=4)
    _flag(p, "num-head-channels", type=int, default=64, help="-1: use --num-heads")
    _flag(p, "num-heads-upsample", type=int, default=-1)
    for name, default in (
        ("learn-sigma", True),
        ("resblock-updown", True),
        ("use-scale-shift-norm", True),
        ("class-cond", False),
        ("use-new-attention-order", False),
    ):
        _flag(p, name, type=_bool, nargs="?", const=True, default=default)
    _flag(p, "dropout", type=float, default=0.0)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .adm_convert import ADMFlags, convert_adm_checkpoint, parse_channel_mult, parse_int_list

    flags = ADMFlags(
        image_size=args.image_size,
        num_channels=args.num_channels,
        num_res_blocks=args.num_res_blocks,
        channel_mult=parse_channel_mult(args.channel_mult),
        attention_resolutions=parse_int_list(args.attention_resolutions),
        num_heads=args.num_heads,
        num_head_channels=args.num_head_channels,
        num_heads_upsample=args.num_heads_upsample,
        learn_sigma=args.learn_sigma,
        resblock_updown=args.resblock_updown,
        use_scale_shift_norm=args.use_scale_shift_norm,
        class_cond=args.class_cond,
        dropout=args.dropout,
        use_new_attention_order=args.use_new_attention_order,
    )
    out = convert_adm_checkpoint(args.checkpoint, args.out, flags, overwrite=args.overwrite)
    print(f"wrote diffusers UNet2DModel to {out}")
    return 0
