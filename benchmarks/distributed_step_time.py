"""Data-parallel TreeVAE training throughput: the 10-leaf Fashion-MNIST tree's step through the
library's Trainer, in one process or under torchrun, and the size of its per-step all-reduce.

    .venv/bin/python benchmarks/distributed_step_time.py --batch 256             # 1 process
    torchrun --nproc_per_node 2 benchmarks/distributed_step_time.py --batch 128  # 2 x 128 rows
    torchrun --nproc_per_node 2 benchmarks/distributed_step_time.py --batch 256  # 2 x 256 rows

Samples/s counts the rows of all ranks (world size x per-rank batch) per second of a phase of
``--steps`` optimizer steps (after a warm-up phase). Rank 0 prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import distributed as dist
from treevae_step_time import grown  # the balanced 10-leaf tree (this folder is on sys.path)

from dendrogen import load_dataset
from dendrogen.training import Phase, Trainer
from dendrogen.training.distributed import batchnorm_buffers, setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256, help="rows per rank per step")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    world = setup(None, device)
    torch.manual_seed(0)
    X, _ = load_dataset("fashion-mnist", split="train")
    data = torch.from_numpy(np.ascontiguousarray(X[:20_000]))
    device = world.device if world else device
    model = grown(10).to(device)
    trainer = Trainer(batch_size=args.batch, seed=0, progress=False, device=device, world=world)

    def loss_fn(x: torch.Tensor, alpha: float) -> dict[str, torch.Tensor]:
        return model.loss(x, alpha)

    trainer.run(Phase("warmup", 3, lr=1e-5, weight_decay=1e-5), model, model.parameters(),
                loss_fn, data)  # fmt: skip
    if world is not None:
        dist.barrier()
    start = time.perf_counter()
    trainer.run(Phase("timed", args.steps, lr=1e-5, weight_decay=1e-5), model,
                model.parameters(), loss_fn, data, phase_index=1)  # fmt: skip
    seconds = time.perf_counter() - start
    size = world.world_size if world else 1
    n_params = sum(p.numel() for p in model.parameters())
    n_buffers = sum(b.numel() for b in batchnorm_buffers(model))
    row = {
        "processes": size, "distributed": world is not None, "batch_per_rank": args.batch,
        "threads_per_process": args.threads, "steps": args.steps,
        "samples_per_s": round(size * args.batch * args.steps / seconds, 1),
        "step_ms": round(1000 * seconds / args.steps, 1),
        "allreduce_floats": n_params + (n_buffers if world else 0),
    }  # fmt: skip
    if world is not None and size > 1:  # the all-reduce alone, same size, same backend
        flat = torch.zeros(row["allreduce_floats"], device=world._comm_device)
        world.all_reduce_mean(flat)
        t0 = time.perf_counter()
        for _ in range(10):
            world.all_reduce_mean(flat)
        row["allreduce_ms"] = round(100 * (time.perf_counter() - t0), 1)
    if world is None or world.is_main:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
