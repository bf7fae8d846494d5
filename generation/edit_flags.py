"""The editing flags of ``imagenet-e edit`` and ``imagenet-e generate``, defined once.

Both commands are the same pipeline (``edit`` is it applied to one photo), so they take the same
flags with the same names, types, defaults and checks, and turn them into the same
:class:`~generation.pipeline.GenerateSettings` with :func:`settings_from_args`. What differs is only
where the photos come from and how the results are laid out, and those flags stay in each command.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from imagenet_e_dataset.vocab import DEVICE_FORMS, device_argument

from .interfaces import BACKENDS

DEFAULT_GLOBAL_SEED = 404
DEFAULT_AUTO_MASK = "u2netp"
"""``generation.masks.DEFAULT_AUTO_MASK``, spelled here so ``--help`` does not import PIL (a test checks they agree)."""

# The settings the named flags below set, as EditOptions fields (flag dest -> field).
_EDIT_OPTION_FLAGS = (("resolution", "resolution"), ("fit", "fit"), ("full_mode", "full_mode"),
                      ("rotation_center", "rotation_center"), ("harmonize", "harmonize"), ("inpainter", "inpainter"))


def protocol_name(text: str) -> str:
    """argparse type of ``--protocol``: a known protocol name (the error lists the valid ones)."""
    from .protocol import parse_protocol_name

    try:
        return parse_protocol_name(text).value
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as JSON when it parses (``iterations=5``, ``lr=0.05``), else as text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed: Any = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed


def add_plugin_argument(parser: argparse.ArgumentParser | Any) -> None:
    """``--plugin`` (repeatable): an attribute plug-in module or .py file to load first."""
    parser.add_argument("--plugin", action="append", metavar="MODULE_OR_FILE",
                        help="load an attribute plug-in (module name or .py file) first; repeatable (docs/plugins.md)")


def add_protocol_arguments(parser: argparse.ArgumentParser | Any) -> None:
    """``--protocol``, ``--resolution``, ``--edit-option`` and the named single settings."""
    parser.add_argument("--protocol", type=protocol_name, default="official",
                        help="editing protocol: official (default, the authors' pipeline step by step) or corrected "
                             "(with the fixes listed in docs/fidelity.md); single settings can be overridden")
    parser.add_argument("--resolution", type=int,
                        help="working resolution (default: the diffusion UNet's sample_size, else 256)")
    parser.add_argument("--edit-option", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                        help="override one edit setting of the protocol (an EditOptions field, repeatable), "
                             "e.g. full_mode=aspect; recorded as an override")
    parser.add_argument("--fit", help="photo to square: stretch (the protocols') or center_crop")
    parser.add_argument("--full-mode", help="size_full: official (the authors' window), aspect (corrected) or "
                                            "stretch (tight box)")
    parser.add_argument("--rotation-center", help="direction_random: image (official) or object (corrected)")
    parser.add_argument("--harmonize", action=argparse.BooleanOptionalAction, default=None,
                        help="pass object-transform edits and background_random through the editor with λ=0 "
                             "(official: yes, corrected: no)")


class _Deprecated(argparse.Action):
    """An old flag name kept as an alias: stores into the new flag's dest and says so in one line."""

    def __init__(self, option_strings: list[str], dest: str, *, new: str, **kwargs: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"warning: {option_string} is deprecated; use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_editing_arguments(parser: argparse.ArgumentParser | Any, *, deprecated: bool = False) -> None:
    """The flags that say what to edit and how: subsets, sweeps, protocol, backend, device, classifier, seed.

    ``deprecated`` adds the old ``edit`` spellings ``--subset`` and ``--iterations`` as aliases that warn.
    """
    parser.add_argument("--subsets", default=None,
                        help="'all' (the 12 ImageNet-E configs; the default without --sweep), 'all+extras', or "
                             "comma-separated config names / official aliases")
    parser.add_argument("--sweep", action="append", default=[], metavar="ATTRIBUTE=LEVELS",
                        help="one config per level of an attribute, LEVELS as V1,V2,... or START:STOP:COUNT "
                             "(e.g. size=0.02,0.05,0.1,0.2 or background=-40:40:9 or direction=0:90:7); repeatable")
    add_protocol_arguments(parser)
    parser.add_argument("--backend", choices=BACKENDS, default="cpu", help="background editor (default cpu)")
    parser.add_argument("--unet", help="diffusers UNet2DModel folder / Hub id (diffusion backend)")
    parser.add_argument("--steps", type=int, help="diffusion: guided steps (default 10); cpu: optimisation iterations")
    parser.add_argument("--classifier", help="guidance classifier for background_20_adv: efficientnet-lite0 (default), "
                                             "hf:<id or dir>, torchvision:<name>")
    parser.add_argument("--adv-scale", type=float, help="adversarial guidance scale s_adv")
    parser.add_argument("--inpainter", help="object-removal inpainter: the protocol's (official: patchmatch, corrected: layered), opencv, or "
                                            "diffusers:<hub id or folder> (a diffusers inpainting pipeline)")
    parser.add_argument("--seed", type=int, default=DEFAULT_GLOBAL_SEED,
                        help=f"global seed (default {DEFAULT_GLOBAL_SEED}, as the paper)")
    parser.add_argument("--backend-option", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                        help="extra background-editor option (repeatable), e.g. lr=0.02")
    parser.add_argument("--device", type=device_argument, default="auto",
                        help=f"torch device, one of {DEVICE_FORMS} (default auto: cpu for --backend cpu; "
                             "cuda:LOCAL_RANK if available for diffusion)")
    if deprecated:
        parser.add_argument("--subset", dest="subsets", action=_Deprecated, new="--subsets", help=argparse.SUPPRESS)
        parser.add_argument("--iterations", dest="steps", type=int, action=_Deprecated, new="--steps",
                            help=argparse.SUPPRESS)
    add_plugin_argument(parser)


def edit_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The edit settings the command line sets explicitly (``--edit-option`` first, then the named flags)."""
    overrides: dict[str, Any] = dict(getattr(args, "edit_option", None) or [])
    for flag, field in _EDIT_OPTION_FLAGS:
        value = getattr(args, flag, None)
        if value is not None:
            overrides[field] = value
    return overrides


def settings_from_args(args: argparse.Namespace, **extra: Any):
    """The :class:`~generation.pipeline.GenerateSettings` of the editing flags (``extra``: the command's own
    fields, such as ``generate``'s selection and chunking)."""
    from imagenet_e_dataset.registry import ALL, resolve_many

    from .pipeline import GenerateSettings
    from .sweeps import parse_sweep

    backend_options: dict[str, Any] = dict(args.backend_option)
    if args.backend == "diffusion":
        if args.unet is None and "unet" not in backend_options:
            raise ValueError("--backend diffusion needs --unet (a diffusers UNet2DModel folder or Hub id)")
        if args.unet is not None:
            backend_options["unet"] = str(args.unet)
        if args.steps is not None:
            backend_options["steps"] = args.steps
    else:
        if args.unet is not None:
            raise ValueError("--unet is only used by --backend diffusion")
        if args.steps is not None:
            backend_options["iterations"] = args.steps
    if args.adv_scale is not None:
        backend_options["adv_scale"] = args.adv_scale
    if args.classifier is not None:
        backend_options["classifier"] = args.classifier
    sweeps = tuple(parse_sweep(text) for text in args.sweep)
    swept = tuple(dict.fromkeys(name for sweep in sweeps for name in sweep.config_names()))
    chosen = args.subsets if args.subsets is not None else (None if sweeps else ALL)
    subsets = tuple(s.name for s in resolve_many(chosen, levels=False)) if chosen is not None else ()
    return GenerateSettings(
        subsets=subsets + tuple(name for name in swept if name not in subsets),
        sweeps=tuple((sweep.attribute, sweep.values) for sweep in sweeps),
        protocol=args.protocol,
        backend=args.backend,
        backend_options=tuple(sorted(backend_options.items())),
        edit_options=tuple(sorted(edit_overrides(args).items())),
        seed=args.seed,
        **extra,
    )
