"""Loading attribute plug-ins from outside the package: entry points and ``--plugin``.

A plug-in module registers its attribute (:func:`imagenet_e_dataset.registry.register_attribute`) and,
when it can be edited, its planner (:func:`generation.attributes.register_planner`) on import.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from pathlib import Path

ENTRY_POINT_GROUP = "imagenet_e.attributes"
logger = logging.getLogger(__name__)
_entry_points_loaded = False


def load_entry_points() -> list[str]:
    """Import every module declared in the ``imagenet_e.attributes`` entry-point group (once)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return []
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    loaded = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:  # a broken third-party plug-in must not take the toolkit down
            logger.warning("attribute plug-in entry point %r (%s) failed to load: %s", ep.name, ep.value, exc)
            continue
        loaded.append(ep.name)
    return loaded


def load_plugin(spec: str) -> str:
    """Import a plug-in given as a module name (``my_pkg.my_attr``) or a ``.py`` file; return the module name."""
    path = Path(spec)
    if spec.endswith(".py") or path.is_file():
        if not path.is_file():
            raise ValueError(f"--plugin {spec}: no such file")
        name = "imagenet_e_plugin_" + "".join(c if c.isalnum() else "_" for c in str(path.resolve()))
        if name in sys.modules:
            return name
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise ValueError(f"--plugin {spec}: not an importable Python file")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception:
            del sys.modules[name]
            raise
        return name
    try:
        importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name == spec or spec.startswith(f"{exc.name}."):
            raise ValueError(f"--plugin {spec}: no module or .py file of that name") from None
        raise
    return spec
