"""The transformers-processor fast path (PIL geometry + 8-bit value table) gives exactly what the processor gives."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

transformers = pytest.importorskip("transformers")

from imagenet_e.eval.preprocess import ProcessorTransform  # noqa: E402


def _processors() -> list[Any]:
    return [
        transformers.ConvNextImageProcessor(size={"shortest_edge": 224}, crop_pct=0.875),
        transformers.ConvNextImageProcessor(size={"shortest_edge": 64}, crop_pct=0.9, image_mean=[0.1, 0.2, 0.3],
                                            image_std=[0.3, 0.2, 0.1]),
        transformers.ViTImageProcessor(size={"height": 48, "width": 40}),
        transformers.CLIPImageProcessor(size={"shortest_edge": 56}, crop_size={"height": 48, "width": 40}),
        transformers.BitImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 56, "width": 56},
                                       resample=Image.Resampling.BILINEAR),
    ]


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    rgb = [Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8)) for shape in
           [(256, 256, 3), (301, 199, 3), (90, 500, 3), (17, 23, 3)]]
    return [*rgb, rgb[1].convert("L"), rgb[2].convert("RGBA"), rgb[0].convert("P")]


@pytest.mark.parametrize("processor", _processors(), ids=lambda p: type(p).__name__)
def test_table_path_is_bit_identical_to_the_processor(processor: Any) -> None:
    transform = ProcessorTransform(processor)
    assert transform.table is not None, "the table path should apply to a resize/crop/rescale/normalise processor"
    for image in _images():
        expected = processor(images=image.convert("RGB"), return_tensors="pt")["pixel_values"][0]
        got = transform(image)
        assert got.dtype == expected.dtype == torch.float32
        assert torch.equal(got, expected), f"{image.mode} {image.size}"
    # ...and the speed: every size here took PIL's direct resize + crop, none fell back to the processor.
    assert transform.geometry and all(g is not None for g in transform.geometry.values()), transform.geometry


def test_same_logits_as_the_processor_on_a_tiny_model() -> None:
    torch.manual_seed(0)
    config = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_labels=10)
    model = transformers.ResNetForImageClassification(config).eval()
    processor = _processors()[1]
    transform = ProcessorTransform(processor)
    images = _images()[:4]
    old = torch.stack([processor(images=im, return_tensors="pt")["pixel_values"][0] for im in images])
    new = torch.stack([transform(im) for im in images])
    with torch.inference_mode():
        torch.testing.assert_close(model(new).logits, model(old).logits, rtol=0, atol=1e-5)


class _BlurAfterNormalise:
    """A processor whose output is not an elementwise function of resized 8-bit pixels (a blur at the end)."""

    def __init__(self) -> None:
        self.inner = transformers.ViTImageProcessor(size={"height": 32, "width": 32})

    def to_dict(self) -> dict[str, Any]:
        return self.inner.to_dict()

    def __call__(self, images: Image.Image, return_tensors: str = "pt", **kwargs: Any) -> dict[str, Any]:
        out = self.inner(images=images, return_tensors="pt", **kwargs)["pixel_values"].float()
        if kwargs.get("do_normalize", True):
            out = torch.nn.functional.avg_pool2d(out, 3, stride=1, padding=1)
        return {"pixel_values": out.numpy() if return_tensors == "np" else out}


def test_a_processor_the_table_cannot_reproduce_keeps_the_plain_call() -> None:
    processor = _BlurAfterNormalise()
    transform = ProcessorTransform(processor)
    assert transform.table is None
    image = _images()[1]
    assert torch.equal(transform(image), processor(images=image, return_tensors="pt")["pixel_values"][0])


class _LanczosBehindItsConfig:
    """Says (in its config) it resizes bilinearly, actually resizes with LANCZOS: the config-derived geometry is wrong."""

    def __init__(self) -> None:
        self.inner = transformers.ViTImageProcessor(size={"height": 32, "width": 32}, resample=Image.Resampling.LANCZOS)

    def to_dict(self) -> dict[str, Any]:
        return {**self.inner.to_dict(), "resample": int(Image.Resampling.BILINEAR)}

    def __call__(self, images: Image.Image, **kwargs: Any) -> dict[str, Any]:
        return self.inner(images=images, **kwargs)


def test_a_geometry_the_config_gets_wrong_is_caught_by_the_probe_and_left_to_the_processor() -> None:
    processor = _LanczosBehindItsConfig()
    transform = ProcessorTransform(processor)
    for image in _images()[:3]:
        assert torch.equal(transform(image), processor(images=image, return_tensors="pt")["pixel_values"][0])
    assert set(transform.geometry) == {im.size for im in _images()[:3]}
    assert all(g is None for g in transform.geometry.values())
