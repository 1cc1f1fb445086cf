"""TreeVAE training-step throughput side by side with the reference code (lauramanduchi/treevae).

The project's version of ``shared/tools/treevae_vs_reference.py``: the same topologies (the
initial 2-leaf tree, and 10 leaves = full depth 3 with two depth-3 leaves split again), the same
Fashion-MNIST batches (uniform noise when the data set is absent), Adam at lr 1e-3 and weight
decay 1e-5, rounds interleaved so that machine noise hits every contestant alike. Prints the
samples/s of each and the ratio dendrogen / reference; the last line is the 10-leaf ratio.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/treevae_vs_reference.py /tmp/treevae \\
        --threads 1 --eps 0 0.001 --fitted runs/fm_acc_s0/acc_model

REFERENCE_CHECKOUT is a plain checkout of lauramanduchi/treevae, imported as is (not vendored;
its trainer's imports wandb, yaml and torchmetrics are stubbed). ``--eps`` runs dendrogen once
per sparse-decoding threshold ε (``models/treevae/leaf_decoding.py``). Sparse decoding pays only
where rows route confidently, which a freshly built tree does not: ``--fitted`` loads a fitted
dendrogen TreeVAE of the 10-leaf topology for dendrogen's 10-leaf contestants (the reference's
dense step costs the same whatever its weights, so it stays freshly built). Without a saved fit of
that shape, ``--train-steps N`` trains dendrogen's 10-leaf tree N Adam steps (ε = 1e-3) first.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import statistics
import sys
import time
import types
from collections.abc import Callable

import torch

from dendrogen.models.treevae.config import TreeVAEConfig
from dendrogen.models.treevae.leaf_decoding import MIN_ROWS
from dendrogen.models.treevae.model import TreeVAEModel
from dendrogen.training.optimizer import make_adam, make_optimizer
from dendrogen.training.schedules import autocast

REFERENCE_CONFIG = dict(
    inp_shape=784, latent_dim=[8] * 6, mlp_layers=[128] * 6, activation="sigmoid",
    encoder="cnn1", augment=False, augmentation_method="simple", aug_decisions_weight=1,
    kl_start=1.0, grow=True, prune=True, num_clusters_tree=10, compute_ll=False,
)  # fmt: skip


def import_reference(path: str) -> tuple[type, type]:
    """The reference's TreeVAE and SmallTreeVAE classes from a checkout at ``path``."""
    for name in ("wandb", "yaml"):
        sys.modules.setdefault(name, types.ModuleType(name))
    metrics = types.ModuleType("torchmetrics")
    metrics.Metric = object
    sys.modules.setdefault("torchmetrics", metrics)
    sys.path.insert(0, path)
    from models.model import TreeVAE
    from models.model_smalltree import SmallTreeVAE

    return TreeVAE, SmallTreeVAE


def reference_tree(classes: tuple[type, type], n_leaves: int) -> torch.nn.Module:
    """The reference model with 2 leaves, or 8 at depth 3 with the first depth-3 ones split."""
    tree_vae, small_tree = classes
    if n_leaves == 2:
        return tree_vae(initial_depth=1, **REFERENCE_CONFIG)
    model = tree_vae(initial_depth=3, **REFERENCE_CONFIG)
    for _ in range(n_leaves - 8):
        leaf = next(lf["node"] for lf in model.compute_leaves() if lf["depth"] == 3)
        model.attach_smalltree(leaf, small_tree(depth=4, **REFERENCE_CONFIG))
    return model


def our_tree(n_leaves: int) -> TreeVAEModel:
    """dendrogen's model grown breadth-first (shallowest, lowest-id leaf first)."""
    model = TreeVAEModel(TreeVAEConfig(input_shape=(1, 28, 28)))
    while len(model.tree.leaves) < n_leaves:
        model.split_leaf(min(model.tree.leaves, key=lambda n: (model.tree.depth(n), n)))
    return model


def fitted_tree(path: str) -> TreeVAEModel:
    """The module of a saved dendrogen TreeVAE; its leaves' depths must be the 10-leaf tree's."""
    from dendrogen import load

    model = load(path).module_
    depths = sorted(model.tree.depth(leaf) for leaf in model.tree.leaves)
    if depths != [3] * 6 + [4] * 4:
        raise SystemExit(f"{path}: leaf depths {depths} are not the 10-leaf benchmark tree's")
    return model


def trained_tree(steps: int) -> TreeVAEModel:
    """dendrogen's 10-leaf tree after ``steps`` Adam steps (ε = 1e-3) on Fashion-MNIST batches:
    a tree that routes confidently, as a fitted one does, without a saved fit of that shape."""
    torch.manual_seed(0)
    model = our_tree(10)
    opt = make_optimizer(
        list(model.parameters()), lr=1e-3, weight_decay=1e-5, device=torch.device("cpu")
    )
    step = our_step(1e-3)
    data, _ = batches(min(steps, 200))
    model.train()
    for i in range(steps):
        step(model, opt, data[i % len(data)])
    with torch.no_grad():  # each parameter in its own storage again, as in a loaded model
        for p in model.parameters():
            p.data = p.data.clone()
            p.grad = None
    return model


def reference_step(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor) -> None:
    opt.zero_grad()
    out = model(x)
    kl = out["kl_root"] + out["kl_decisions"] + out["kl_nodes"]
    (out["rec_loss"] + kl + out["aug_decisions"]).backward()
    opt.step()


def our_step(
    eps: float, precision: str = "fp32", min_rows: int = MIN_ROWS
) -> Callable[[TreeVAEModel, torch.optim.Optimizer, torch.Tensor], None]:
    """dendrogen's training step; ``precision="bf16"`` runs the forward pass under bfloat16
    autocast, as the Trainer does with ``schedule.precision``; ``min_rows`` is sparse decoding's
    top-up (``schedule.leaf_min_rows``)."""

    def step(model: TreeVAEModel, opt: torch.optim.Optimizer, x: torch.Tensor) -> None:
        opt.zero_grad()
        with autocast(precision, x.device):
            loss = model.loss(x, 1.0, eps=eps, min_rows=min_rows)["loss"]
        loss.backward()
        opt.step()

    return step


def batches(n: int) -> tuple[list[torch.Tensor], str]:
    """``n`` batches of 256 Fashion-MNIST training images (28×28 in [0, 1]), or noise."""
    try:
        from dendrogen import load_dataset

        X, _ = load_dataset("fashion-mnist", split="train")
    except Exception:  # any missing data set falls back to noise
        return [torch.rand(256, 1, 28, 28) for _ in range(n)], "uniform noise"
    x = torch.from_numpy(X[: 256 * n].copy())
    return list(x.split(256)), "Fashion-MNIST"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", help="a checkout of lauramanduchi/treevae")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="Adam steps per round")
    parser.add_argument("--eps", type=float, nargs="+", default=[0.0], help="dendrogen's ε")
    parser.add_argument("--fitted", default=None, help="a fitted 10-leaf dendrogen TreeVAE")
    parser.add_argument(
        "--train-steps",
        type=int,
        default=0,
        help="without --fitted: train the 10-leaf tree this many steps first",
    )
    parser.add_argument("--leaves", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--min-rows", type=int, nargs="+", default=[MIN_ROWS],
                        help="dendrogen: one contestant per top-up")  # fmt: skip
    parser.add_argument("--precision", nargs="+", choices=("fp32", "bf16"), default=["fp32"],
                        help="dendrogen: one contestant per ε and precision")  # fmt: skip
    parser.add_argument("--optimizer", nargs="+", choices=("flat", "per-tensor"),
                        default=["flat"], help="dendrogen's Adam: the Trainer's (one flat "
                        "buffer, training/optimizer.py) or per-tensor fused Adam")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    classes = import_reference(args.reference)
    data, source = batches(args.steps * args.rounds + 2)
    cpu = torch.device("cpu")
    ratio = None
    # dendrogen's 10-leaf starting tree, built once: saved weights, trained here, or fresh
    if args.fitted:
        ten, weights = fitted_tree(args.fitted), " (fitted weights)"
    elif args.train_steps:
        ten, weights = trained_tree(args.train_steps), f" (trained {args.train_steps} steps first)"
    else:
        ten, weights = None, ""
    for n in args.leaves:
        contestants = {"reference": (reference_tree(classes, n), reference_step)}
        kinds = {}
        variants = itertools.product(args.eps, args.precision, args.optimizer, args.min_rows)
        for eps, precision, kind, min_rows in variants:
            model = copy.deepcopy(ten) if n == 10 and ten is not None else our_tree(n)
            tag = "" if precision == "fp32" else f" {precision}"
            tag += "" if kind == "flat" else " per-tensor Adam"
            tag += "" if min_rows == MIN_ROWS else f" min_rows={min_rows}"
            name = f"dendrogen eps={eps:g}{tag}"
            contestants[name] = (model, our_step(eps, precision, min_rows))
            kinds[name] = kind
        opts = {}
        for name, (model, step) in contestants.items():
            model.train()
            if name == "reference":
                opts[name] = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
            else:
                build = make_optimizer if kinds[name] == "flat" else make_adam
                opts[name] = build(list(model.parameters()), 1e-3, 1e-5, cpu)
            for x in data[:2]:  # warm-up
                step(model, opts[name], x)
        rates: dict[str, list[float]] = {name: [] for name in contestants}
        for r in range(args.rounds):
            xs = data[2 + r * args.steps : 2 + (r + 1) * args.steps]
            for name, (model, step) in contestants.items():
                start = time.perf_counter()
                for x in xs:
                    step(model, opts[name], x)
                rates[name].append(len(xs) * 256 / (time.perf_counter() - start))
        ref = statistics.median(rates["reference"])
        fitted = weights if n == 10 else ""
        print(f"{n}-leaf tree{fitted}, {source}, {args.threads} threads, {args.rounds} rounds "
              f"of {args.steps} steps, median [min-max] samples/s:", flush=True)  # fmt: skip
        for name, values in rates.items():
            median = statistics.median(values)
            ratios = [v / o for v, o in zip(values, rates["reference"], strict=True)]
            print(f"  {name:>41}: {median:7,.0f} [{min(values):,.0f}-{max(values):,.0f}]  "
                  f"ratio {median / ref:.2f}x (per round {min(ratios):.2f}-{max(ratios):.2f})",
                  flush=True)  # fmt: skip
            ratio = median / ref
    print(f"last {args.leaves[-1]}-leaf ratio dendrogen/reference: {ratio:.2f}x")


if __name__ == "__main__":
    main()
