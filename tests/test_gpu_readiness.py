"""Ready for the first GPU run, exercised on CPU (issue 26, item 4): rank -> GPU binding, reproducible and
fp32 adversarial guidance under low-precision autocast, fp16 guidance with loss scaling."""

from __future__ import annotations

import pytest
import torch


def test_each_rank_binds_its_gpu_modulo_the_gpus_it_sees(monkeypatch):
    # torchrun with one GPU per rank (CUDA_VISIBLE_DEVICES per process): rank 1 sees a single device, cuda:0.
    import torch.distributed as dist

    from imagenet_e.eval import distributed

    bound: list[torch.device] = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", bound.append)
    monkeypatch.setattr(dist, "is_initialized", lambda: False)

    def no_peer(**kwargs):
        raise RuntimeError("0/2 clients joined")

    monkeypatch.setattr(dist, "init_process_group", no_peer)
    with pytest.raises(ValueError, match="did not join"):
        distributed.setup("cuda", timeout_s=1)
    assert bound == [torch.device("cuda:0")]  # not cuda:1, which this rank cannot see
