"""The ImageNet-E editing toolkit: masks, object removal, object transforms, background editors."""

# The registry first, before any toolkit module is half-imported: it loads entry-point plug-ins when
# it is imported, and a plug-in's planner half imports generation.attributes.
import imagenet_e_dataset.registry  # noqa: E402,F401
