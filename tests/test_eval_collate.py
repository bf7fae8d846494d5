"""Batches laid out NHWC in the worker hold the same values as the plain stacked batch."""

from __future__ import annotations

import functools

import torch

from imagenet_e.eval.data import Item, collate


def _items() -> list[Item]:
    g = torch.Generator().manual_seed(0)
    return [Item(0, torch.randn(3, 9, 7, generator=g)), Item(1, None, "ValueError: broken"),
            Item(2, torch.randn(3, 9, 7, generator=g))]


def test_channels_last_batch_equals_the_stacked_batch() -> None:
    plain, nhwc = collate(_items()), collate(_items(), channels_last=True)
    assert nhwc.pixels.is_contiguous(memory_format=torch.channels_last)
    assert not plain.pixels.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(plain.pixels, nhwc.pixels)
    assert nhwc.positions.tolist() == [0, 2] and nhwc.failures == ((1, "ValueError: broken"),)


def test_channels_last_layout_survives_a_worker_process() -> None:
    class Images(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int) -> Item:
            return Item(i, torch.full((3, 5, 4), float(i)))

    loader = torch.utils.data.DataLoader(Images(), batch_size=2, num_workers=1,
                                         collate_fn=functools.partial(collate, channels_last=True))
    batches = list(loader)
    assert all(b.pixels.is_contiguous(memory_format=torch.channels_last) for b in batches)
    assert [b.pixels[:, 0, 0, 0].tolist() for b in batches] == [[0.0, 1.0], [2.0, 3.0]]
