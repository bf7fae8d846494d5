"""The one parser of labels files: ``<file name><TAB><class index>`` per line (the release's ``labels.txt``,
and ``generate --labels``).

Both readers (the release importer and the generation toolkit) go through :func:`read_labels_file`; they
differ only in which file names are source ids and whether a space may stand for the TAB, which they pass
in. Every bad line is named ``<path>:<line>: <reason>``; with ``on_bad`` it is reported and left out instead
of stopping the read (``import-release --skip-bad``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

from .labels import NUM_CLASSES

# ASCII digits only ([0-9], not \d, which also takes "٥"), matched whole: int() would also take "٥" (5)
# and "2_8_1" (281), and a 5000-digit string raises an error that names no line.
_LABEL_VALUE = re.compile(r"[+-]?[0-9]+")
_MAX_LABEL_DIGITS = 6

OnBadLine = Callable[[str, str], None]
"""``(where, reason)`` of a line left out: ``where`` is ``<path>:<line>``."""


def short_text(text: str, limit: int = 60) -> str:
    """``repr`` of ``text``, cut to ``limit`` characters (a 5000-digit label stays readable)."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"


def read_labels_file(
    path: str | os.PathLike,
    *,
    source_id: Callable[[str], str | None],
    name_rule: str,
    tab_only: bool = False,
    num_classes: int = NUM_CLASSES,
    on_bad: OnBadLine | None = None,
) -> dict[str, int]:
    """``source_id -> class index`` of a labels file.

    ``source_id(file name)`` is the id a listed name stands for (None: not a usable name, explained by
    ``name_rule``); ``tab_only`` refuses a space in place of the TAB (the authors' release format).
    Blank lines and ``#`` comments are skipped. A line that fails raises a ValueError naming
    ``<path>:<line>``, or is handed to ``on_bad`` and left out.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"labels file {path} does not exist")
    labels: dict[str, int] = {}
    first_line: dict[str, int] = {}

    def bad(number: int, reason: str) -> None:
        if on_bad is None:
            raise ValueError(f"{path}:{number}: {reason}")
        on_bad(f"{path}:{number}", reason)

    expected = "'<file name><TAB><label index>'"
    for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        try:
            line = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            bad(number, f"line is not UTF-8 text ({exc.reason} at byte {exc.start})")
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("\t") if "\t" in line or tab_only else line.split()
        if len(parts) != 2:
            bad(number, f"malformed label line {short_text(line)}; expected {expected}")
            continue
        name, value = parts[0].strip(), parts[1].strip()
        sid = source_id(name)
        if sid is None:
            bad(number, f"{short_text(name)} is not a usable image file name ({name_rule})")
            continue
        if not _LABEL_VALUE.fullmatch(value):
            bad(number, f"label {short_text(value)} is not an integer in ASCII digits 0-9")
            continue
        if len(value.lstrip("+-")) > _MAX_LABEL_DIGITS or not 0 <= int(value) < num_classes:
            bad(number, f"label {value if len(value) <= 12 else short_text(value)} is outside 0..{num_classes - 1}")
            continue
        label = int(value)
        if sid in labels and labels[sid] != label:
            # Keeping either one would silently mislabel the image.
            bad(number, f"{name!r} has label {label}, but line {first_line[sid]} gave {sid} label {labels[sid]}; "
                        "one image has one label: fix one of the lines")
            continue
        labels[sid] = label
        first_line.setdefault(sid, number)
    return labels
