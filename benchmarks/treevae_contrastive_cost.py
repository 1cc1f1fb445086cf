"""Expected cost of the paper's contrastive TreeVAE runs (CIFAR-10, CIFAR-100, CelebA) on this
machine, from measured training steps (issue 16; treevae.md §4-§5).

Measures, on random images of the data set's shape with the paper's architecture (ResNet,
latent 64, width 512, H = 5, Gaussian likelihood, λ = 100) and batch of 128 images (256 rows of
two views), the seconds of one optimizer step (augmentation included) of the full tree with 2
and with ``--leaves`` leaves, and of one subtree step. The paper's schedule for these data is
150 epochs for the initial tree and 150 per split, no intermediate or fine-tuning epochs; a split
at ℓ leaves trains on about N/ℓ samples (a balanced tree), so the estimate is

    150·N/128·t_full(2) + 150·N·(H_{L−1} − 1)/128·t_sub        (H_n the n-th harmonic number)

plus nothing for growth decisions, pruning and evaluation (minutes; not modelled).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/treevae_contrastive_cost.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from dendrogen.data.augment import AUGMENTATIONS
from dendrogen.models.treevae import TreeVAEConfig
from dendrogen.models.treevae.contrastive import ContrastiveTreeVAEModel, view_pairs

#: N (train), image side and the leaves of the DP/LP protocol (treevae.md §8).
DATA = {"cifar10": (50_000, 32, 20), "cifar100": (50_000, 32, 30), "celeba": (162_770, 64, 20)}


def grow(model: ContrastiveTreeVAEModel, leaves: int) -> None:
    """Split leaves breadth-first until the tree has ``leaves`` leaves."""
    while len(model.tree.leaves) < leaves:
        leaf = min(model.tree.leaves, key=model.tree.depth)
        model.split_leaf(leaf)


def step_seconds(model, loss_fn, pairs, x: torch.Tensor, params, repeats: int) -> float:
    """Median seconds of one optimizer step: CPU seconds of this process (on a shared VM, what
    the step costs with its threads to itself), wall seconds on a GPU."""
    opt = torch.optim.Adam(params, lr=1e-3, weight_decay=1e-5)
    model.train()
    times = []
    for _ in range(repeats + 1):  # the first step warms up
        clock = time.perf_counter if x.is_cuda else time.process_time
        start = clock()
        terms = loss_fn(pairs(x))
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        if x.is_cuda:
            torch.cuda.synchronize()
        times.append(clock() - start)
    return sorted(times[1:])[len(times[1:]) // 2]


def harmonic(n: int) -> float:
    return sum(1.0 / k for k in range(1, n + 1))


def measure(
    name: str, images: int, repeats: int, device: torch.device, threads: int, grown: bool = True
) -> dict:
    """Step seconds of data set ``name``'s paper architecture and the schedule's hours."""
    n_train, side, leaves = DATA[name]
    torch.manual_seed(0)
    config = TreeVAEConfig((3, side, side), latent_dim=64, width=512, max_depth=5,
                           likelihood="gaussian")  # fmt: skip
    model = ContrastiveTreeVAEModel(config).to(device)
    pairs = view_pairs(AUGMENTATIONS[name])
    x = torch.rand(images, 3, side, side, device=device)

    def full(v: torch.Tensor) -> dict:
        return model.loss(v, 1.0)

    t2 = step_seconds(model, full, pairs, x, model.parameters(), repeats)
    grow(model, leaves)
    tl = step_seconds(model, full, pairs, x, model.parameters(), repeats) if grown else None
    parent = model.tree.parent(model.tree.leaves[-1])
    sub = [p for m in model.node_modules(model.tree.children(parent)) for p in m.parameters()]
    sub += list(model.post_routers[str(parent)].parameters())
    sub += list(model.prior_routers[str(parent)].parameters())

    def subtree(v: torch.Tensor) -> dict:
        return model.subtree_loss(v, parent, 1.0)

    ts = step_seconds(model, subtree, pairs, x, sub, repeats)
    steps_initial = 150 * n_train / images
    steps_sub = 150 * n_train * (harmonic(leaves - 1) - 1) / images
    hours = (steps_initial * t2 + steps_sub * ts) / 3600
    return {
        "data": name, "threads": threads, "device": str(device), "images_per_step": images,
        "step_s_2_leaves": round(t2, 3),
        f"step_s_{leaves}_leaves": None if tl is None else round(tl, 3),
        "subtree_step_s": round(ts, 3), "leaves": leaves, "paper_schedule_hours": round(hours, 1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="cifar10,cifar100,celeba")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=128, help="images per batch (2x rows)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--skip-grown", action="store_true", help="do not time the tree of L leaves (not estimated)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    for name in args.data.split(","):
        print(json.dumps(measure(name, args.images, args.repeats, device, args.threads,
                                 not args.skip_grown)),
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
