"""Who submitted a row and when, from the Hub, and model names as a reader sees them.

A results file's own ``created_at`` and model id are whatever its author typed: a file dated 2099
must not supersede an honest one, and ``оrg/model`` (Cyrillic о) must not sit beside ``org/model``
as if they were two models. So the date and submitter of a row come from the commit that added the
file to the results repo (:func:`hub_provenance`), names are shown NFKC-normalised
(:func:`display_name`), and names that look like another row's, or mix scripts, are flagged
(:func:`confusable_flags`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

# Letters of other scripts that render like a Latin letter (the common ones of Unicode's
# confusables table: Cyrillic, Greek, Armenian and a few IPA letters).
_HOMOGLYPHS = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "ɡ": "g", "ı": "i", "ɩ": "i", "ο": "o", "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "օ": "o", "ս": "u", "ց": "g", "զ": "q", "һ": "h", "ӏ": "l",
})


def display_name(name: str) -> str:
    """The model id as shown: NFKC-normalised (full-width and ligature forms become plain letters)."""
    return unicodedata.normalize("NFKC", name)


def skeleton(name: str) -> str:
    """What a name looks like: NFKC, case-folded, homoglyphs mapped to Latin, so look-alikes collide."""
    return display_name(name).casefold().translate(_HOMOGLYPHS)


def scripts(name: str) -> set[str]:
    """The scripts of the letters in ``name`` (the first word of each letter's Unicode name)."""
    out = set()
    for ch in display_name(name):
        if ch.isalpha():
            out.add(unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0])
    return out


def confusable_flags(names: Iterable[str]) -> dict[str, str]:
    """{name: why it is flagged} for names mixing scripts or looking like another name of the set."""
    names = list(dict.fromkeys(names))
    by_skeleton: dict[str, list[str]] = {}
    for name in names:
        by_skeleton.setdefault(skeleton(name), []).append(name)
    flags: dict[str, str] = {}
    for name in names:
        found = scripts(name)
        if len(found) > 1:
            flags[name] = f"mixes scripts ({', '.join(sorted(found))})"
        twins = [other for other in by_skeleton[skeleton(name)]
                 if other != name and display_name(other) != display_name(name)]
        if twins:
            flags[name] = (flags.get(name, "") + "; " if name in flags else "") + \
                f"looks like {display_name(twins[0])!r}"
    return flags


@dataclass(frozen=True)
class Provenance:
    """Where a file on the board came from: the commit that last wrote it and its author."""

    submitter: str | None
    date: str | None
    commit: str | None = None
    via_pr: int | None = None
    """The pull request it was merged through: its ``submitter`` is the PR's author (None when the Hub
    could not tell), never the owner who merged it."""


_MERGE_TITLE = re.compile(r"^Merge pull request #(\d+)")
_MERGED: dict[tuple[str, str, int], tuple[str | None, str | None]] = {}
"""(endpoint, repo, PR number) -> (author, merge commit): a merged PR never changes, so a Refresh asks
the Hub only about PRs merged since the last one."""


def merged_pull_requests(api: Any, repo_id: str) -> dict[str, tuple[int, str | None]]:
    """{merge commit id: (PR number, author)} of the dataset repo's merged pull requests; a PR whose
    details cannot be read is left out (its merge commit is then recognised by its title, author unknown)."""
    out: dict[str, tuple[int, str | None]] = {}
    try:
        # The client filters by open/closed only; "merged" is a PR's own status.
        merged = [d for d in api.get_repo_discussions(repo_id, repo_type="dataset", discussion_type="pull_request")
                  if d.status == "merged"]
    except Exception:  # noqa: BLE001 - the Hub cannot tell: rows merged through PRs are shown "via PR"
        return out
    for discussion in merged:
        key = (str(api.endpoint), repo_id, int(discussion.num))
        if key not in _MERGED:
            try:
                details = api.get_discussion_details(repo_id, discussion.num, repo_type="dataset")
            except Exception:  # noqa: BLE001 - as above, for this PR only
                continue
            _MERGED[key] = (details.author or None, details.merge_commit_oid)
        author, merge_commit = _MERGED[key]
        if merge_commit:
            out[merge_commit] = (int(discussion.num), None if author in (None, "", "deleted") else author)
    return out


def hub_provenance(repo_id: str, paths: list[str], *, revision: str | None = None,
                   token: str | bool | None = None) -> Mapping[str, Provenance]:
    """{path: Provenance} for files of the Hub dataset repo ``repo_id`` (the commit that last changed
    each file, its date and first author). Two API calls whatever the number of files."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    commits = list(api.list_repo_commits(repo_id, repo_type="dataset", revision=revision))
    authors: dict[str, str | None] = {c.commit_id: (c.authors[0] if c.authors else None) for c in commits}
    # A file merged through a pull request was added by the PR's author, not by the owner who merged it
    # (else every merged file is the owner's, and one merged PR supersedes another submitter's row).
    via: dict[str, int] = {}
    for commit in commits:
        found = _MERGE_TITLE.match(commit.title or "")
        if found:
            via[commit.commit_id], authors[commit.commit_id] = int(found[1]), None
    for merge_commit, (number, author) in merged_pull_requests(api, repo_id).items():
        via[merge_commit], authors[merge_commit] = number, author
    out: dict[str, Provenance] = {}
    for start in range(0, len(paths), 500):
        infos = api.get_paths_info(repo_id, paths[start:start + 500], expand=True, repo_type="dataset",
                                   revision=revision)
        for info in infos:
            last = getattr(info, "last_commit", None)
            if last is None:
                continue
            date = last.date.isoformat() if hasattr(last.date, "isoformat") else str(last.date)
            out[info.path] = Provenance(authors.get(last.oid), date, last.oid, via.get(last.oid))
    return out
