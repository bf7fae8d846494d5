"""Contact sheets: a labelled grid of images, for looking at edits side by side."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .image_io import write_png_atomic

_LINE_HEIGHT = 13
_LABEL_LINES = 2
_LABEL_HEIGHT = _LINE_HEIGHT * _LABEL_LINES + 4
_GAP = 4


OUTLINE_COLOUR = (255, 0, 255)


def outline(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = OUTLINE_COLOUR,
            width: int | None = None) -> np.ndarray:
    """``image`` with the border of ``mask`` drawn on it (the mask an edit used, shown on the original).

    The line is about 0.6 % of the longer side (at least 2 px), so it stays visible when the image is
    shrunk into a contact-sheet tile.
    """
    import cv2

    image = np.ascontiguousarray(np.asarray(image, dtype=np.uint8)).copy()
    mask = np.asarray(mask, bool)
    if mask.shape != image.shape[:2]:
        mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(image.shape[1::-1], Image.NEAREST)) > 127
    width = max(2, round(0.006 * max(image.shape[:2]))) if width is None else width
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(image, contours, -1, colour, width)
    return image


def fit_label(label: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: int,
              lines: int = _LABEL_LINES) -> list[str]:
    """``label`` wrapped into at most ``lines`` lines of ``width`` pixels; what does not fit is cut from the
    middle of the line with an ellipsis, so its end (a config's level) stays readable.

    Breaks fall at spaces; a label without spaces (a config name), or a word too wide for a line alone
    (a source id), also breaks after ``_`` and ``-``. No line is ever wider than ``width``: a line that
    overflows runs into the next tile's label.
    """
    text = str(label)
    # (glue, piece): the glue is what joins a piece to the one before it on the same line.
    pieces: list[tuple[str, str]] = []
    for i, word in enumerate(text.split(" ")):
        breakable = " " not in text or font.getlength(word) > width
        parts = [part for part in re.split(r"(?<=[_-])", word) if part] if breakable else [word]
        for j, part in enumerate(parts or [""]):
            pieces.append((" " if i and not j else "", part))
    out: list[list[tuple[str, str]]] = [[]]
    for glue, piece in pieces:
        candidate = _join(out[-1] + [(glue, piece)])
        if out[-1] and font.getlength(candidate) > width:
            out.append([])
        out[-1].append((glue, piece))
    if len(out) > lines:
        out = out[: lines - 1] + [[piece for line in out[lines - 1:] for piece in line]]
    return [_cut_middle(_join(line), font, width) for line in out]


def _join(line: list[tuple[str, str]]) -> str:
    return "".join(glue + piece if k else piece for k, (glue, piece) in enumerate(line))


def _cut_middle(line: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: int) -> str:
    if font.getlength(line) <= width:
        return line
    keep = len(line)
    while keep > 2 and font.getlength(line[: keep // 2] + "…" + line[-(keep - keep // 2 - 1):]) > width:
        keep -= 1
    return line[: keep // 2] + "…" + line[-(keep - keep // 2 - 1):]


def contact_sheet(
    items: Sequence[tuple[str, np.ndarray | str | None]],
    path: str | os.PathLike,
    columns: int = 4,
    tile: int = 256,
) -> Path:
    """Write a PNG grid: each ``(label, image)`` is fitted into a ``tile`` square (aspect kept) under its label
    (wrapped onto two lines, cut in the middle beyond that).

    ``image`` may be None or the reason there is none (a string, e.g. "unreachable"): the tile is grey and
    says "skipped: <reason>". The file is written atomically. Returns ``path``.
    """
    if not items:
        raise ValueError("contact_sheet needs at least one (label, image) item")
    if columns < 1 or tile < 16:
        raise ValueError(f"contact_sheet: columns must be >= 1 and tile >= 16, got {columns}, {tile}")
    columns = min(columns, len(items))
    rows = -(-len(items) // columns)
    cell_w, cell_h = tile + _GAP, tile + _LABEL_HEIGHT + _GAP
    sheet = Image.new("RGB", (columns * cell_w + _GAP, rows * cell_h + _GAP), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for k, (label, image) in enumerate(items):
        x = _GAP + (k % columns) * cell_w
        y = _GAP + (k // columns) * cell_h
        for n, line in enumerate(fit_label(label, font, tile - 4)):
            draw.text((x + 2, y + 2 + n * _LINE_HEIGHT), line, fill=(0, 0, 0), font=font)
        top = y + _LABEL_HEIGHT
        if image is None or isinstance(image, str):
            draw.rectangle([x, top, x + tile - 1, top + tile - 1], fill=(200, 200, 200))
            reason = f"skipped: {image}" if image else "skipped"
            for n, line in enumerate(fit_label(reason, font, tile - 16, lines=4)):
                draw.text((x + 8, top + tile // 2 - 12 + n * _LINE_HEIGHT), line, fill=(90, 0, 0), font=font)
            continue
        im = Image.fromarray(np.asarray(image, dtype=np.uint8))
        s = tile / max(im.size)
        if s != 1:
            im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))),
                           Image.LANCZOS if s < 1 else Image.BICUBIC)
        sheet.paste(im, (x + (tile - im.width) // 2, top + (tile - im.height) // 2))
    return write_png_atomic(sheet, path)
