"""The subtree step of this checkout against the one of an earlier commit, in the same run.

A subtree step (``TreeVAEModel.subtree_loss`` and its backward pass) trains the two new leaves
under a frozen tree; growth runs one such phase per split. This script loads
``models/treevae/model.py`` as it was at ``--old`` (``git show``), builds a tree of Fashion-MNIST
shape (1×28×28, batch 256) grown breadth-first to ``n − 1`` leaves and split once more, checks
that both versions give the same loss and gradients for the same random draws, and times them in
interleaved rounds at one thread (median ms a step and the ratio new / old).

    python benchmarks/treevae_subtree_step.py --old 0254b4e --leaves 10 20
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from treevae_step_time import grown

from dendrogen.models.treevae.model import TreeVAEModel

ROOT = Path(__file__).resolve().parents[1]


def old_subtree_loss(rev: str):
    """``TreeVAEModel.subtree_loss`` as committed at ``rev``."""
    source = subprocess.run(
        ["git", "show", f"{rev}:src/dendrogen/models/treevae/model.py"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "model_old.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("model_old", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["model_old"] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module.TreeVAEModel.subtree_loss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", required=True, help="the commit to compare against")
    ap.add_argument("--leaves", type=int, nargs="+", default=[10, 20])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    variants = {"old": old_subtree_loss(args.old), "new": TreeVAEModel.subtree_loss}
    for n_leaves in args.leaves:
        torch.manual_seed(0)
        model = grown(n_leaves - 1)
        leaf = min(model.tree.leaves, key=lambda node: (model.tree.depth(node), node))
        model.split_leaf(leaf)
        model.train()
        x = torch.rand(256, 1, 28, 28)
        params = model.subtree_parameters(leaf)
        results = []
        for loss_of in variants.values():
            torch.manual_seed(1)
            model.zero_grad(set_to_none=True)
            loss = loss_of(model, x, leaf)["loss"]
            loss.backward()
            results.append((loss.item(), [p.grad.clone() for p in params]))
        (loss_a, grads_a), (loss_b, grads_b) = results
        same = loss_a == loss_b and all(map(torch.equal, grads_a, grads_b))
        ms: dict[str, list[float]] = {name: [] for name in variants}
        for r in range(args.rounds):
            for name in ("old", "new") if r % 2 == 0 else ("new", "old"):
                started = time.perf_counter()
                for _ in range(args.steps):
                    model.zero_grad(set_to_none=True)
                    variants[name](model, x, leaf)["loss"].backward()
                ms[name].append((time.perf_counter() - started) / args.steps * 1e3)
        old, new = statistics.median(ms["old"]), statistics.median(ms["new"])
        ratios = [round(b / a, 3) for a, b in zip(ms["old"], ms["new"], strict=True)]
        print(f"{n_leaves} leaves after the split: identical loss and gradients {same}; "
              f"ms a subtree step: old {old:.1f}, new {new:.1f}, new / old {new / old:.3f} "
              f"(rounds {ratios})")  # fmt: skip


if __name__ == "__main__":
    main()
