"""Does more fine-tuning raise a fitted TreeVAE's DP and LP? A measurement of the budget lever.

Loads a saved Fashion-MNIST TreeVAE and trains the whole tree further, in chunks of ``--chunk``
optimizer steps (each a fine-tuning phase of the `fast` kind at α = 1: lr 1e-3, ×0.1 after two
thirds; ε = 1e-3), scoring DP and LP on the 10,000 test images and the ELBO on 2,000 of them
after each chunk. The fit's tree is kept: this moves the leaves and the routing, not the
structure.

    OMP_NUM_THREADS=1 python benchmarks/treevae_more_finetuning.py runs/.../seed0/dp_model \\
        --seed 0 --chunks 2 --chunk 2000 --json more.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from dendrogen import load, load_dataset
from dendrogen.metrics import dendrogram_purity, leaf_purity
from dendrogen.training import Phase, Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a saved TreeVAE folder (Fashion-MNIST)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunks", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=2000, help="optimizer steps per chunk")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    X, _ = load_dataset("fashion-mnist", split="train")
    X_test, y_test = load_dataset("fashion-mnist", split="test")
    estimator = load(args.model)
    model = estimator.module_

    def score(steps: int, seconds: float) -> dict:
        nodes = np.asarray(estimator.leaves_)[estimator.predict(X_test)]
        row = {"extra_steps": steps, "seconds": round(seconds),
               "dp": dendrogram_purity(estimator.tree_, nodes, y_test),
               "lp": leaf_purity(estimator.tree_, nodes, y_test),
               "elbo": estimator.score(X_test[:2000])}  # fmt: skip
        print(row, flush=True)
        return row

    rows = [score(0, 0.0)]
    data = torch.from_numpy(X)
    trainer = Trainer(batch_size=256, seed=args.seed + 100, progress=False)
    for k in range(args.chunks):
        phase = Phase.from_steps(
            "finetune", args.chunk, lr=1e-3, weight_decay=1e-5, kl_start=1.0, kl_ramp=0.5,
            lr_drop_at=2 / 3, kl_max=1.0,
        )  # fmt: skip
        start = time.perf_counter()

        def loss(x: torch.Tensor, alpha: float) -> dict:
            return model.loss(x, alpha, eps=1e-3)

        trainer.run(phase, model, model.parameters(), loss, data, phase_index=50 + k)
        model.eval()
        rows.append(score(args.chunk * (k + 1), time.perf_counter() - start))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "seed": args.seed, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
