"""Telling a local path from a Hub repo id before anything is loaded (no heavy imports here)."""

from __future__ import annotations


def looks_like_local_path(text: str) -> bool:
    """Whether ``text`` can only be meant as a local path, never as a Hub repo id (``namespace/name``).

    True for ``./x``, ``../x``, ``/x``, ``~/x``, Windows separators, more than one ``/`` or a trailing
    ``/``: such an argument that does not exist is a local mistake, reported at once instead of after
    a round of Hub requests and retries. (``models/x`` is a valid Hub id, so it is not one: write
    ``./models/x`` for a local folder.)
    """
    return bool(text) and (text.startswith((".", "/", "~")) or "\\" in text or text.endswith("/")
                           or text.count("/") > 1)
