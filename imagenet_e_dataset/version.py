"""The one version string of the project (``imagenet_e.__version__`` re-exports it).

It lives on the ground floor because the dataset writer records it in every card, provenance file and
description, and the ground floor imports nothing above itself; ``pyproject.toml`` reads it from here.
"""

__version__ = "0.1.0"
