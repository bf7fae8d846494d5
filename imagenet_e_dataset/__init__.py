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

__all__ = [
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
