"""A process of ``test_distributed.py``: fits tiny TreeVAE, HTVAE and VLAC models on fixed
synthetic data, data-parallel when started by torchrun (or with its environment variables), and
writes what each rank ended with to ``OUT/rank<r>.json``.

    python distributed_child.py OUT [--models treevae,htvae,vlac] [--batch B] [--split-init S]
        [--likelihood-probe STEPS]
                                    [--checkpoint DIR] [--die-at STEP] [--mark-at STEP]

``--other-data-on-rank-1`` gives rank 1 the rows of VLAC's data in reverse order.
``--die-at`` makes rank 1 SIGKILL itself at that optimizer step of TreeVAE (after the checkpoint
the step before it wrote); ``--mark-at`` makes rank 1 write ``OUT/marker`` at that step and go on,
so the parent can kill it from outside.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)

from dendrogen import HTVAE, VLAC, TreeVAE  # noqa: E402 - after fixing the thread count
from dendrogen.training import trainer as trainer_module  # noqa: E402

# Growth that leaves a nearly empty leaf: min_leaf_fraction=0.1 makes pruning remove it (the
# run's history records the prune event, which the test checks), with either split init.
TREEVAE = dict(
    max_leaves=4, max_depth=2, latent_dim=2, width=16, batch_size=16, random_state=4,
    min_leaf_fraction=0.1, schedule=dict(initial=40, subtree=20, intermediate=0, finetune=20),
    checkpoint_every=0.0, preset="tiny",
)  # fmt: skip
HTVAE_PARAMS = dict(map_sizes="2x2,1x2", latent_dim=4, widths=(4, 8), preset="tiny",
                    batch_size=16, schedule={"train": 1}, random_state=0)  # fmt: skip
VLAC_PARAMS = dict(K=[1, 2], z_dims=[2, 2], arch="mlp", hidden=8, batch_size=16, random_state=0,
                   schedule={"train": 12}, preset="tiny")  # fmt: skip


def data() -> np.ndarray:
    """Three blobs of unequal sizes in [0, 1]^12 (60%, 30%, 10% of 256 rows): (256, 12)."""
    rng = np.random.default_rng(11)
    centres = rng.uniform(0.15, 0.85, size=(3, 12))
    which = rng.choice(3, size=256, p=[0.6, 0.3, 0.1])
    X = centres[which] + rng.normal(0, 0.05, size=(256, 12))
    return np.clip(X, 0, 1).astype(np.float32)


def images() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.uniform(0, 1, size=(64, 1, 8, 8)).astype(np.float32)


def colour_images() -> np.ndarray:
    """(64, 3, 16, 16) colour shapes (dendrogen.data.synthetic.make_colour_shapes)."""
    from dendrogen.data.synthetic import make_colour_shapes

    return make_colour_shapes(64, size=16, random_state=0).X


def digest(module: torch.nn.Module) -> str:
    """SHA-256 of every parameter and buffer, by name: equal only for bit-identical models."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def hook_steps(die_at: int | None, mark_at: int | None, out: Path) -> None:
    """Count optimizer steps of rank 1 and die or leave a marker at the chosen one."""
    if os.environ.get("RANK") != "1" or (die_at is None and mark_at is None):
        return
    original = trainer_module._check_finite
    count = {"n": 0}

    def counting(loss, phase, step):
        count["n"] += 1
        if count["n"] == mark_at:
            (out / "marker").write_text("training")
        if count["n"] == die_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(loss, phase, step)

    trainer_module._check_finite = counting


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--models", default="treevae,htvae,vlac")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--die-at", type=int, default=None)
    parser.add_argument("--mark-at", type=int, default=None)
    parser.add_argument("--other-data-on-rank-1", action="store_true")
    parser.add_argument("--split-init", default="random", choices=["random", "kmeans"])
    parser.add_argument("--split-candidates", type=int, default=1)
    parser.add_argument("--likelihood-probe", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    hook_steps(args.die_at, args.mark_at, args.out)
    report: dict = {"world_size": int(os.environ.get("WORLD_SIZE", "1"))}
    for name in args.models.split(","):
        if name == "treevae":
            schedule = TREEVAE["schedule"] | {
                "split_init": args.split_init,
                "split_candidates": args.split_candidates,
                "likelihood_probe": args.likelihood_probe,
            }
            est = TreeVAE(**(TREEVAE | {"batch_size": args.batch, "schedule": schedule}))
            est.fit(data(), checkpoint_dir=args.checkpoint)
            report["treevae_tree"] = est.tree_.to_dict()
            report["treevae_events"] = [r for r in est.history_ if "event" in r]
            report["treevae_likelihood"] = [est.likelihood_, est.likelihood_scores_]
        elif name == "contrastive":  # each rank augments its own rows (treevae.md §5)
            est = TreeVAE(**(TREEVAE | {"batch_size": args.batch, "contrastive": True,
                                        "schedule": dict(initial=8, subtree=4, intermediate=0,
                                                         finetune=4)}))  # fmt: skip
            est.fit(colour_images(), checkpoint_dir=args.checkpoint)
            report["contrastive_tree"] = est.tree_.to_dict()
        elif name == "htvae":
            est = HTVAE(**(HTVAE_PARAMS | {"batch_size": args.batch})).fit(images())
        else:
            X = data()
            if args.other_data_on_rank_1 and os.environ.get("RANK") == "1":
                X = np.ascontiguousarray(X[::-1])
            est = VLAC(**(VLAC_PARAMS | {"batch_size": args.batch})).fit(X)
        report[f"{name}_digest"] = digest(est.module_)
        report[f"{name}_loss"] = [r["loss"] for r in est.history_ if "loss" in r]
        report[f"{name}_distributed"] = est.world_ is not None
    rank = os.environ.get("RANK", "0")
    (args.out / f"rank{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    sys.exit(main())
