"""``imagenet-e`` entry point.

Each package contributes its subcommands through a ``register(subparsers)`` function in a
``commands`` module listed in :data:`COMMAND_MODULES`; heavy imports stay inside the command
handlers so ``imagenet-e --help`` is instant. A handler is stored as ``func`` on the parser
defaults and receives the parsed ``argparse.Namespace``; it returns an exit code (or None for 0).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from .. import __version__

COMMAND_MODULES: tuple[str, ...] = (
    "imagenet_e_dataset.commands",
    "generation.commands",
    "generation.convert_command",
    "generation.generate_command",
    "imagenet_e.eval.commands",
    "imagenet_e.leaderboard.commands",
    "imagenet_e.demo.commands",
    "imagenet_e.publish.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imagenet-e",
        description="ImageNet-E: edit object attributes, build the benchmark, score classifiers, rank them.",
    )
    parser.add_argument("--version", action="version", version=f"imagenet-e {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if getattr(args, "plugin", None):
            from generation.attributes import load_plugin

            for plugin in args.plugin:
                load_plugin(plugin)
        code = args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"imagenet-e {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
