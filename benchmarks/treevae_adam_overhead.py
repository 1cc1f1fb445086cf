"""What Adam's per-tensor walk costs on a 10-leaf TreeVAE: one optimizer step over the tree's
parameter tensors against one step over a single flat tensor of the same size (the measurement
behind training/optimizer.py's FlatAdam, which now does the latter for the Trainer).

    .venv/bin/python benchmarks/treevae_adam_overhead.py --threads 1 --rounds 5 --steps 50

Rounds of the three optimizers are interleaved, so machine noise hits them alike; the figures are
median milliseconds a step. The gradients are random: Adam's cost does not depend on them.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from treevae_vs_reference import our_tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50, help="timed steps per round")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    params = list(our_tree(10).parameters())
    size = sum(p.numel() for p in params)
    for p in params:
        p.grad = torch.randn_like(p)
    flat = torch.nn.Parameter(torch.zeros(size))
    flat.grad = torch.randn(size)
    optimizers = {
        "fused, per tensor (make_adam)": torch.optim.Adam(
            params, 1e-3, weight_decay=1e-5, fused=True
        ),
        "foreach, per tensor": torch.optim.Adam(params, 1e-3, weight_decay=1e-5, foreach=True),
        "fused, one flat tensor": torch.optim.Adam([flat], 1e-3, weight_decay=1e-5, fused=True),
    }
    times: dict[str, list[float]] = {name: [] for name in optimizers}
    for _ in range(args.rounds):
        for name, opt in optimizers.items():
            opt.step()  # warm-up, and the state exists before timing
            start = time.perf_counter()
            for _ in range(args.steps):
                opt.step()
            times[name].append((time.perf_counter() - start) / args.steps * 1000)
    print(f"10-leaf tree: {len(params)} parameter tensors, {size:,} values, {args.threads} threads")
    for name, ms in times.items():
        print(f"  {name:32s} {statistics.median(ms):6.2f} ms a step (median of {args.rounds})")


if __name__ == "__main__":
    main()
