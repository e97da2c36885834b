"""The PatchGAN discriminator under DistributedDataParallel (2 CPU processes, gloo): the
hinge loss calls it on real and fake in ONE DDP forward, which is safe whatever the torch
version (two BatchNorm calls per step are not on all: pytorch#175024)."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        from yonos_train.discriminator import PatchDiscriminator
        from yonos_train.losses import LDMAutoencoderLoss

        torch.manual_seed(0)
        disc = DDP(PatchDiscriminator(3, 8, 2))
        opt = torch.optim.SGD(disc.parameters(), lr=0.1)
        loss_fn = LDMAutoencoderLoss(disc, None, disc_start=0)
        g = torch.Generator().manual_seed(rank)
        for _ in range(2):  # two steps: the second sees the running stats the first changed
            x, x_hat = torch.rand(2, 3, 32, 32, generator=g), torch.rand(2, 3, 32, 32, generator=g)
            loss = loss_fn.discriminator_loss(x * 2 - 1, x_hat * 2 - 1)
            opt.zero_grad()
            loss.backward()
            opt.step()
        flat = torch.cat([p.detach().flatten() for p in disc.parameters()])
        torch.save(flat, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # ~60 s on the loaded 2-core box (two spawned processes)
def test_discriminator_loss_trains_under_ddp_with_synced_gradients(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    a, b = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    torch.testing.assert_close(a, b, rtol=0, atol=0)  # all-reduced gradients: identical weights
