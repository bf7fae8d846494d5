"""``imagenet-e`` entry point.

Each package contributes its subcommands through a ``register(subparsers)`` function in a
``commands`` module listed in :data:`COMMAND_MODULES`; heavy imports stay inside the command
handlers so ``imagenet-e --help`` is instant. A handler is stored as ``func`` on the parser
defaults and receives the parsed ``argparse.Namespace``; it returns an exit code (or None for 0).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
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
    "imagenet_e.jobs.commands",
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
    # The tokens as typed: a command that hands its flags on to another machine (``jobs generate``) passes them verbatim.
    args.cli_argv = tuple(sys.argv[1:] if argv is None else argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if getattr(args, "plugin", None):
            from imagenet_e_dataset.plugin_loading import load_plugin

            for plugin in args.plugin:
                load_plugin(plugin)
        code = args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError) as exc:
        print(f"imagenet-e {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # disk full, permissions, a Hub HTTP error: the user's environment, not a bug
        print(f"imagenet-e {args.command}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"imagenet-e {args.command}: error: out of memory; use a smaller --batch-size / --limit or a machine "
              "with more memory", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"imagenet-e {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


# errno -> what the user can do about it.
_OS_ERROR_HINTS: dict[int, str] = {
    errno.ENOSPC: "free some space or write to another disk (nothing half-written was kept)",
    errno.EDQUOT: "your disk quota is full: free some space or write elsewhere (nothing half-written was kept)",
    errno.EFBIG: "the file system refused a file this large: write to another disk, or use a smaller --max-shard-size",
    errno.EACCES: "check the permissions of that path, or choose another one",
    errno.EPERM: "check the permissions of that path, or choose another one",
    errno.EROFS: "that file system is read-only: choose a writable location",
    errno.EISDIR: "a folder is in the way: give a file path",
}


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def describe_os_error(exc: OSError) -> str:
    """One line for an ``OSError``: what failed, on which file, and what to do."""
    module = type(exc).__module__ or ""
    if module.startswith("huggingface_hub"):
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        text = _first_line(str(exc))
        if status == 401:
            return (f"the Hub refused the request as unauthenticated (HTTP 401: {text}); log in with `hf auth login` "
                    "or set HF_TOKEN to a valid token")
        if status == 403:
            return f"the Hub refused the request (HTTP 403: {text}); your token needs write access to this repo"
        return f"Hub request failed: {text}"
    code = exc.errno
    if code is None:  # pyarrow and others put the errno only in the message
        for name in ("ENOSPC", "EDQUOT", "EFBIG", "EACCES", "EROFS"):
            if f"errno {getattr(errno, name)}]" in str(exc).lower() or os.strerror(getattr(errno, name)) in str(exc):
                code = getattr(errno, name)
                break
    what = exc.strerror or _first_line(str(exc)) or type(exc).__name__
    where = f": {exc.filename}" if exc.filename else ""
    if exc.filename2:
        where += f" -> {exc.filename2}"
    hint = _OS_ERROR_HINTS.get(code) if code is not None else None
    return f"{what}{where}" + (f"; {hint}" if hint else "")


if __name__ == "__main__":
    sys.exit(main())
