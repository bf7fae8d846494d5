"""How many DataLoader workers the runner picks when none is asked for."""

from __future__ import annotations

import pytest

from imagenet_e.eval import runner


@pytest.mark.parametrize(("cores", "world", "device", "expected"), [
    (2, 1, "cpu", 0),    # the CPU forward uses both cores: decode inline between forwards
    (1, 1, "cpu", 0),
    (2, 1, "cuda", 1),   # the forward runs on the GPU: a worker decodes meanwhile
    (8, 1, "cpu", 7),
    (8, 4, "cpu", 0),    # 2 cores per rank
    (64, 1, "cuda", 16),
])
def test_default_workers(monkeypatch: pytest.MonkeyPatch, cores: int, world: int, device: str, expected: int) -> None:
    monkeypatch.setattr(runner.os, "sched_getaffinity", lambda _pid: set(range(cores)), raising=False)
    assert runner._default_workers(world, device) == expected


def test_forked_workers_preprocess_after_the_parent_used_opencvs_thread_pool() -> None:
    """A DataLoader worker is a fork of a process that may have used OpenCV's thread pool (generation, a
    user's own code): its set-up and the table lookup must not deadlock on that pool (one did)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import numpy as np, torch, cv2
        from PIL import Image
        from imagenet_e.eval.data import worker_init
        from imagenet_e.eval.preprocess import ProcessorTransform
        from transformers import ViTImageProcessor

        cv2.resize(np.zeros((3000, 3000, 3), np.uint8), (1500, 1500))  # the parent's pool is started
        transform = ProcessorTransform(ViTImageProcessor(size={"height": 600, "width": 600}))  # LUT above 2^18 px
        images = [Image.fromarray(np.full((64, 64, 3), i, np.uint8)) for i in range(4)]

        class Images(torch.utils.data.Dataset):
            def __len__(self):
                return len(images)
            def __getitem__(self, i):
                return transform(images[i])

        loader = torch.utils.data.DataLoader(Images(), batch_size=2, num_workers=2, worker_init_fn=worker_init,
                                             multiprocessing_context="fork")
        print(sum(len(b) for b in loader))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "4"
