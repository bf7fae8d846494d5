"""Computing one chunk: sources read and prepared once, every subset planned, background edits batched.

Per (source, subset) the seed is ``derive_seed(seed, source_id, <the subset spec's seed key>)`` (the config name, or one key shared by every level of a severity sweep). ``background_random``
draws its donor background from the *whole* selected source list with that seed, so the donor
does not depend on which process handles the item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from imagenet_e_dataset.jsonsafe import canonical_json, to_jsonable
from imagenet_e_dataset.registry import resolve
from imagenet_e_dataset.runtime import choose_device

from ..attributes import Requirement, requirements
from ..image_io import decode_rgb, encode_png, misread_mode
from ..seeding import seed_for
from ..sources import Skip, SkipReason, Source
from .fingerprint import InputDigests
from .settings import ORIGINAL, GenerateSettings, Placement
from .work import RowStatus, sha256_hex

# Donor draws for background_random use their own stream of the item's seed, so they never
# correlate with the draws the edit itself makes from rng_for(seed).
_DONOR_STREAM = 0xD0402
_DONOR_TRIES = 8


@dataclass(frozen=True)
class _Loaded:
    source: Source
    raw: bytes
    prepared: Any  # edits.PreparedSource
    auto_mask: bool = False


PROGRESS_BAR_FORMAT = "{l_bar}{bar}| {n:.1f}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
"""tqdm layout for the edit bars: progress arrives in fractions of an edit (an editor reports each
iteration of a slow image), so the count shows one decimal instead of a float's full repr."""


class ChunkGenerator:
    """Turns runs of consecutive sources into chunk rows with one background editor and one inpainter.

    A batch of sources is read and prepared (object removed once per photo), every subset of every
    source is planned, then all background requests of the batch go through ONE ``run_edits`` call.
    """

    def __init__(self, settings: GenerateSettings, selection: Sequence[Source], placement: Placement,
                 digests: InputDigests | None = None, *, masker: Any = None, record_mask_source: bool = False,
                 editor: Any = None, lam: float | None = None):
        from ..inpaint import make_inpainter
        from ..masks import AutoMasker

        # Sources without a mask file get theirs here, where the photo is decoded anyway (never twice).
        self.masker = masker if masker is not None or settings.auto_mask is None else \
            AutoMasker(settings.auto_mask, settings.mask_threshold)
        self.record_mask_source = record_mask_source or self.masker is not None
        """Whether original rows record ``mask_source`` (off for the ImageNet layout with mask files,
        whose manifests stay byte-identical to earlier versions')."""
        self.settings = settings
        self.digests = digests
        """The inputs' sha256 taken when the run started: a photo or mask edited since is refused, not edited."""
        self.sources = list(selection)
        self.index_of = {s.source_id: i for i, s in enumerate(self.sources)}
        self.placement = placement
        self.protocol = settings.protocol_object()
        self.options = self.protocol.options
        # Subsets whose edit takes another source's clean background (background_random, plug-ins).
        self.needs_donor = {s for s in settings.subsets
                            if Requirement.OTHER_BACKGROUND in requirements(resolve(s), self.options)}
        self.inpainter = make_inpainter(self.options.inpainter, dilation=self.options.inpaint_dilation)
        self.editor = editor if editor is not None else build_editor(settings, placement)
        self.lam = lam
        """A λ override of every background edit (``edit --lambda``; None: each subset's own)."""
        # Donor backgrounds for background_random: a small cache of prepared sources (pure function
        # of the source, so the cache changes speed only, never bytes).
        self._cache: dict[str, _Loaded | Skip] = {}
        self._cache_limit = 4 * settings.batch_size + 16

    def provenance(self) -> dict[str, Any]:
        return {str(k): to_jsonable(v) for k, v in self.editor.provenance().items()}

    # -- loading ------------------------------------------------------------------------------------
    def load(self, source: Source) -> _Loaded | Skip:
        cached = self._cache.get(source.source_id)
        if cached is not None:
            return cached
        value = self._load(source)
        if len(self._cache) >= self._cache_limit:
            self._cache.pop(next(iter(self._cache)))
        self._cache[source.source_id] = value
        return value

    def _load(self, source: Source) -> _Loaded | Skip:
        from .. import edits
        from ..masks import read_mask

        sid = source.source_id
        try:
            raw = source.image_path.read_bytes()
        except OSError as exc:
            return Skip(sid, SkipReason.UNREADABLE_IMAGE, str(exc))
        if self.digests is not None:
            self.digests.check_image(sid, raw)
            try:
                mask_raw = None if source.mask_path is None else source.mask_path.read_bytes()
            except OSError:
                mask_raw = None  # reported below by read_mask, with its reason
            if mask_raw is not None:
                self.digests.check_mask(sid, mask_raw)
        try:
            photo = decode_rgb(raw, source.image_path)
        except ValueError as exc:
            return Skip(sid, SkipReason.UNREADABLE_IMAGE, str(exc))
        if source.mask_path is None:
            made = self._auto_mask(source, photo)
            if isinstance(made, Skip):
                return made
            mask = made
        else:
            try:
                mask = read_mask(source.mask_path, photo_size=(photo.shape[1], photo.shape[0]))
            except (OSError, ValueError) as exc:
                return Skip(sid, SkipReason.MASK_SIZE_MISMATCH if "resolution" in str(exc) else SkipReason.UNREADABLE_MASK, str(exc))
        try:
            prepared = edits.prepare_source(photo, mask, self.inpainter, self.options, source_id=sid)
        except ValueError as exc:
            return Skip(sid, SkipReason.EDIT_FAILED, f"preparing the photo failed: {exc}")
        return _Loaded(source, raw, prepared, source.mask_path is None)

    def _auto_mask(self, source: Source, photo: np.ndarray) -> np.ndarray | Skip:
        """The cleaned automatic mask of ``photo``, or the reason it cannot be used (refused by
        ``clean_mask``, or outside the selection filter: judged here as file masks are at selection)."""
        sid = source.source_id
        if self.masker is None:
            raise ValueError(f"source {sid} has no mask file and no --auto-mask method was given")
        cleaned = self.masker(photo, source.class_name)
        if cleaned.problem is not None:
            return Skip(sid, SkipReason(cleaned.problem.value), f"automatic mask ({self.masker.method}): {cleaned.detail}")
        verdict = self.settings.selection.check(cleaned.mask)
        if verdict is not None:
            return Skip(sid, verdict.reason, f"automatic mask: {verdict.detail}")
        return cleaned.mask

    def donor(self, source: Source, seed: int, subset: str) -> _Loaded | Skip:
        """The source whose clean background ``background_random`` uses, drawn from the whole selection."""
        n = len(self.sources)
        me = self.index_of[source.source_id]
        if n < 2:
            return Skip(source.source_id, SkipReason.EDIT_FAILED, f"{subset} needs at least two source images", subset)
        rng = np.random.default_rng([seed, _DONOR_STREAM])
        tried = []
        for _ in range(_DONOR_TRIES):
            j = int(rng.integers(n - 1))
            j += j >= me
            candidate = self.load(self.sources[j])
            if isinstance(candidate, _Loaded):
                return candidate
            tried.append(self.sources[j].source_id)
        return Skip(source.source_id, SkipReason.EDIT_FAILED, f"no usable donor background (tried {', '.join(tried)})", subset)

    # -- one chunk ----------------------------------------------------------------------------------
    def run(self, indices: range, on_progress: Callable[[float, str], None] | None = None) -> list[dict[str, Any]]:
        """The rows of the sources at ``indices``; ``on_progress(edits_done, what)`` is called as each
        source is prepared and as its edits finish (per image and subset, not per batch)."""
        rows: list[dict[str, Any]] = []
        batch = self.settings.batch_size
        for start in range(indices.start, indices.stop, batch):
            members = [self.sources[i] for i in range(start, min(start + batch, indices.stop))]
            rows.extend(self._run_batch(members, on_progress or (lambda n, what: None)))
        return rows

    def _run_batch(self, members: list[Source], on_progress: Callable[[float, str], None]) -> list[dict[str, Any]]:
        from .. import edits

        settings = self.settings
        loaded = []
        for s in members:
            loaded.append(self.load(s))  # reads the photo and removes its object (the slow CPU step)
            # Its original row is done now (or, for a skipped source, every row of it).
            on_progress(1 if isinstance(loaded[-1], _Loaded) else 1 + len(settings.subsets), f"{s.source_id}: object removed")
        plans: list[Any] = []  # PlannedEdit, or a Skip row for (source, subset)
        owner: list[str] = []  # the subset of each plan
        for item in loaded:
            if not isinstance(item, _Loaded):
                continue
            sid, label = item.source.source_id, item.source.label
            for subset in settings.subsets:
                owner.append(subset)
                seed = seed_for(settings.seed, sid, resolve(subset))
                other = None
                if subset in self.needs_donor:
                    donor = self.donor(item.source, seed, subset)
                    if isinstance(donor, Skip):
                        plans.append(donor)
                        continue
                    other = donor.prepared
                try:
                    plans.append(edits.plan_edit(item.prepared, None, subset, seed=seed, other_background=other,
                                                 label=label, options=self.protocol, lam=self.lam))
                except ValueError as exc:
                    plans.append(Skip(sid, SkipReason.EDIT_FAILED, str(exc), subset))
        finished = iter(self._finish(plans, owner, on_progress))

        rows: list[dict[str, Any]] = []
        for source, item in zip(members, loaded):
            if isinstance(item, Skip):
                rows.append(_skip_row(item, label=source.label))
                continue
            rows.append(self._original_row(item))
            for subset in settings.subsets:
                result = next(finished)
                rows.append(self._edited_row(item, subset, result))
        return rows

    def _finish(self, plans: list[Any], owner: list[str], on_progress: Callable[[float, str], None]) -> list[Any]:
        """Run the background editor over the planned edits, reporting progress per subset.

        The cpu editor optimises every request on its own (same bytes alone or batched), so it is
        called once per request, and progress moves per image; other editors (a GPU model) get the
        whole batch in one call, where batching pays most.
        """
        from .. import edits

        groups: dict[str, list[int]] = {}
        for i, subset in enumerate(owner):
            groups.setdefault(subset if getattr(self.editor, "name", "") == "cpu" else "", []).append(i)
        out: list[Any] = list(plans)
        for subset, group in groups.items():
            planned = [i for i in group if not isinstance(plans[i], Skip)]
            # The cpu editor is called per image (it gives the same bytes alone or batched, and a CPU gains
            # little from batching), so the bar moves per image even through a slow adversarial subset.
            pieces = [[i] for i in planned] if subset else [planned]
            for piece in pieces:
                what = f"{subset or 'batch'}: edited"
                reported = [0.0]

                def tick(done: float, what: str = what, reported: list[float] = reported) -> None:
                    reported[0] += done
                    on_progress(done, what)

                for i, result in zip(piece, edits.run_edits([plans[i] for i in piece], self.editor, progress=tick)):
                    out[i] = result
                rest = len(piece) - reported[0]  # edits that needed no editor, and float rounding
                if rest > 1e-6:
                    on_progress(rest, what)
            if len(group) > len(planned):  # skipped rows count as done too
                on_progress(len(group) - len(planned), f"{subset or 'batch'}: edited")
        return out

    def _original_params(self, item: _Loaded) -> dict[str, Any]:
        from ..masks import mask_warnings

        params: dict[str, Any] = {"source_file": item.source.image_path.name}
        if item.auto_mask:
            params.update(self.masker.record())
        elif self.record_mask_source:
            params["mask_source"] = "file"
        # A mask over 40 % of the frame or touching three sides is probably not one object: flagged
        # in the manifest and counted in the card, the edits are still made.
        warnings = mask_warnings(item.prepared.mask)
        if warnings:
            params["mask_warnings"] = warnings
        return params

    def _original_row(self, item: _Loaded) -> dict[str, Any]:
        source = item.source
        image, name, params = item.raw, source.image_path.name, self._original_params(item)
        mode = misread_mode(item.raw)
        if mode is not None:  # 16-bit and the like: stored as the 8-bit RGB every edit was made from
            image, name = encode_png(decode_rgb(item.raw, source.image_path)), f"{source.image_path.stem}.png"
            params.update(source_mode=mode, source_sha256=sha256_hex(item.raw))
        return {
            "source_id": source.source_id, "subset": ORIGINAL, "status": RowStatus.OK, "reason": None, "detail": None,
            "label": source.label, "seed": None, "image_name": name, "image": image,
            "object_mask": encode_png(item.prepared.mask), "params": canonical_json(params),
            "sha256": sha256_hex(image),
        }

    def _edited_row(self, item: _Loaded, subset: str, result: Any) -> dict[str, Any]:
        source = item.source
        seed = seed_for(self.settings.seed, source.source_id, resolve(subset))
        if isinstance(result, Skip):
            return _skip_row(result, label=source.label, seed=seed)
        params = canonical_json(to_jsonable(result.params))
        if not result.ok:
            return {
                "source_id": source.source_id, "subset": subset, "status": RowStatus.UNREACHABLE,
                "reason": SkipReason.UNREACHABLE.value, "detail": str(result.params.get("reason", "")),
                "label": source.label, "seed": seed, "image_name": None, "image": None, "object_mask": None,
                "params": params, "sha256": None,
            }
        image = encode_png(result.image)
        return {
            "source_id": source.source_id, "subset": subset, "status": RowStatus.OK, "reason": None, "detail": None,
            "label": source.label, "seed": seed, "image_name": f"{source.source_id}.png", "image": image,
            "object_mask": None if result.object_mask is None else encode_png(result.object_mask),
            "params": params, "sha256": sha256_hex(image),
        }


def _skip_row(skip: Skip, *, label: int | None, seed: int | None = None) -> dict[str, Any]:
    return {
        "source_id": skip.source_id, "subset": skip.subset, "status": RowStatus.SKIPPED, "reason": skip.reason.value,
        "detail": skip.detail, "label": label, "seed": seed, "image_name": None, "image": None, "object_mask": None,
        "params": None, "sha256": None,
    }


def build_editor(settings: GenerateSettings, placement: Placement):
    from ..interfaces import make_background_editor

    options = dict(settings.backend_options)
    # One device for the editor and its guiding classifier: a classifier on cuda beside a cpu editor
    # fails on the first adversarial request.
    # A --backend-option device=... is read with --device's vocabulary, so a bad one is named here.
    device = choose_device(str(options["device"])) if options.get("device") else placement.device_for(settings.backend)
    if "classifier" in options:
        from ..guidance_classifier import load_guidance_classifier

        options["classifier"] = load_guidance_classifier(str(options["classifier"]), device=device)
    options["device"] = device
    if settings.backend == "diffusion":
        options.setdefault("batch_size", settings.batch_size)
        options.setdefault("progress", False)
    try:
        return make_background_editor(settings.backend, **options)
    except TypeError as exc:
        raise ValueError(f"the {settings.backend} background editor does not take these options {sorted(options)}: {exc}") from None
