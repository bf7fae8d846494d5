"""What every ``imagenet-e jobs`` verb needs: the user's flags handed on verbatim, local paths refused,
a job's outputs committed to the staging repo in one commit, and ``imagenet-e <command>``'s parser."""

from __future__ import annotations

import argparse
import hashlib
import shlex
from pathlib import Path
from typing import Any, Mapping, Sequence


def command_parser(module: Any, name: str) -> argparse.ArgumentParser:
    """A stand-alone copy of ``imagenet-e <name>``'s parser, as ``module.register`` builds it."""
    commands = argparse.ArgumentParser(prog="imagenet-e", add_help=False).add_subparsers()
    module.register(commands)
    return commands.choices[name]


def verb_tokens(argv: Sequence[str], verb: str) -> list[str]:
    """The tokens after ``jobs <verb>`` in a full ``imagenet-e`` command line."""
    tokens = list(argv)
    for k in range(len(tokens) - 1):
        if tokens[k] == "jobs" and tokens[k + 1] == verb:
            return tokens[k + 2:]
    raise ValueError(f"expected 'jobs {verb}' in the command line, got {shlex.join(tokens)}")


def job_argv(parser: argparse.ArgumentParser, tokens: Sequence[str], drop: frozenset[str]) -> tuple[str, ...]:
    """``tokens`` without the options whose dest is in ``drop`` (and their values).

    Options must be spelled in full: an abbreviation could mean another flag in the job's version.
    """
    kept: list[str] = []
    skip_value = False
    for token in tokens:
        if skip_value:
            skip_value = False
            continue
        if token.startswith("--"):
            name, has_value = token.split("=", 1)[0], "=" in token
            action = parser._option_string_actions.get(name)
            if action is None:
                raise ValueError(f"{name}: spell the flag out in full for a Jobs run (the jobs' command must mean "
                                 "the same in any version)")
            if action.dest in drop:
                skip_value = not has_value and action.nargs != 0
                continue
        kept.append(token)
    return tuple(kept)


def refuse_local_paths(args: argparse.Namespace, flags: Mapping[str, str]) -> None:
    """A job runs on another machine: refuse a value of ``flags`` (dest -> flag) that names a path here.

    ``hf:X`` / ``diffusers:X`` / ``file.py:function`` are checked on either side of the colon."""
    for dest, flag in flags.items():
        value = getattr(args, dest, None)
        for item in [] if value is None else value if isinstance(value, (list, tuple)) else [value]:
            before, colon, after = str(item).partition(":")
            parts = [str(item)] + ([after] if colon else []) + ([before] if colon and before.endswith(".py") else [])
            hit = next((part for part in parts if part and Path(part).exists()), None)
            if hit is not None:
                raise ValueError(f"{flag} {item}: {hit} is a path on this machine, which Hugging Face Jobs cannot "
                                 "read; upload it to the Hub and pass its repo id")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def commit_files(repo: str, files: Mapping[str, Path | bytes], message: str, *,
                 token: str | bool | None = None) -> None:
    """Commit ``files`` (path in repo -> local file or bytes) to the dataset ``repo`` in ONE commit: a job's
    output is in the staging repo whole or not at all. The repo is created (private) when missing."""
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(token=token)
    api.create_repo(repo, repo_type="dataset", private=True, exist_ok=True)
    operations = [CommitOperationAdd(path, data if isinstance(data, bytes) else str(data))
                  for path, data in files.items()]
    api.create_commit(repo, operations, repo_type="dataset", commit_message=message)
