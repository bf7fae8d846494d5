"""ImageNet-E as a Hugging Face dataset: subset registry, schema, Hub layout, importer, push."""

from .registry import (
    ALIASES,
    CONFIG_NAMES,
    DEFAULT_CONFIG,
    EDITED_CONFIG_NAMES,
    SUBSETS,
    Attribute,
    Subset,
    resolve,
    resolve_many,
    subsets_of,
)



def __getattr__(name: str):
    # ``load`` imports datasets; resolved lazily so `import imagenet_e_dataset` (and the CLI) stays light.
    if name == "load":
        from .reader import load

        return load
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "load",
    "ALIASES",
    "CONFIG_NAMES",
    "DEFAULT_CONFIG",
    "EDITED_CONFIG_NAMES",
    "SUBSETS",
    "Attribute",
    "Subset",
    "resolve",
    "resolve_many",
    "subsets_of",
]
