"""Could the data choose TreeVAE's likelihood? Held-out ELBOs of both likelihoods as densities.

Session 17 found that the fitted Gaussian (``obs_var="auto"``) recovers the hierarchical images
and the paper's Bernoulli clusters digits and Fashion-MNIST better. A label-free rule would
pick the likelihood whose model explains held-out data best, but the Bernoulli of grey values
is not a density. Its continuous-Bernoulli normaliser (Loaiza-Ganem & Cunningham, 2019),
log C(λ) = log(η / tanh(η/2)) for logits η, makes it one on [0, 1]^D, so the Bernoulli fit's
ELBO plus the normaliser and the Gaussian fit's ELBO are both lower bounds on a log density
of the same points. This script fits both (or loads saved fits) and prints the two bounds
beside each fit's DP and ACC; the labels only score, they choose nothing.

    python benchmarks/treevae_likelihood_choice.py --data hier-images --seeds 0-2
    python benchmarks/treevae_likelihood_choice.py --data fashion \\
        --bernoulli runs/fm10/seed{0,1,2}/acc_model --gaussian runs/fm10_auto/seed{0,1,2}/acc_model
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from treevae_seeds import load, parse_seeds

from dendrogen.nn.likelihoods import Bernoulli


class ContinuousBernoulli(Bernoulli):
    """The Bernoulli's log-probability plus its continuous normaliser: a density on [0, 1]."""

    def log_prob(self, output: Tensor, x: Tensor) -> Tensor:
        eta = output.double()
        small = eta.abs() < 1e-2
        safe = torch.where(small, torch.ones_like(eta), eta)
        log_c = torch.where(
            small, np.log(2.0) + eta**2 / 12, safe.abs().log() - torch.tanh(safe / 2).abs().log()
        )
        log_c = log_c.flatten(start_dim=output.dim() - x.dim() + 1).sum(-1)
        return super().log_prob(output, x) + log_c.to(output.dtype)


def density_elbo(model, X: np.ndarray) -> float:
    """Mean held-out ELBO of X under the model's likelihood made a density (ε = 0)."""
    module, original = model.module_, model.module_.likelihood
    if model.likelihood_ == "bernoulli":
        module.likelihood = ContinuousBernoulli()
    try:
        return float(model.elbo_terms(X)["elbo"].mean())
    finally:
        module.likelihood = original


def score(model, Xt: np.ndarray, yt: np.ndarray) -> dict:
    scores = model.evaluate(Xt, yt)
    return {"density_elbo": density_elbo(model, Xt), "dp": scores["dp"], "acc": scores["acc"],
            "n_leaves": int(model.n_leaves_), "obs_var": model.obs_var_}  # fmt: skip


def fit_pair(job: tuple[str, int]) -> dict:
    data, seed = job
    torch.set_num_threads(1)
    from dendrogen import TreeVAE

    X, _, Xt, yt, params = load(data)
    row = {"seed": seed}
    for name, extra in (("bernoulli", {"likelihood": "bernoulli"}),
                        ("gaussian", {"likelihood": "gaussian", "obs_var": "auto"})):  # fmt: skip
        model = TreeVAE(**{**params, **extra}, random_state=seed).fit(X)
        row[name] = score(model, Xt, yt)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="hier-images", help="a treevae_seeds.py data set, or fashion")
    ap.add_argument("--seeds", default="0-2", type=parse_seeds)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--bernoulli", nargs="*", default=[], help="saved Bernoulli fits (fashion)")
    ap.add_argument("--gaussian", nargs="*", default=[], help="saved Gaussian fits (fashion)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    if args.data == "fashion":
        from dendrogen.data import load_dataset
        from dendrogen.estimators.base import load as load_model

        Xt, yt = load_dataset("fashion-mnist", split="test")
        rows = []
        for k, (b, g) in enumerate(zip(args.bernoulli, args.gaussian, strict=True)):
            rows.append({"seed": k, "bernoulli": score(load_model(b), Xt, yt),
                         "gaussian": score(load_model(g), Xt, yt)})  # fmt: skip
    else:
        with mp.get_context("spawn").Pool(args.jobs) as pool:
            rows = list(pool.imap(fit_pair, [(args.data, s) for s in args.seeds]))
    for row in rows:
        b, g = row["bernoulli"], row["gaussian"]
        pick = "gaussian" if g["density_elbo"] > b["density_elbo"] else "bernoulli"
        print(f"seed {row['seed']}: density ELBO Bernoulli {b['density_elbo']:.2f} "
              f"(DP {b['dp']:.3f} ACC {b['acc']:.3f}), Gaussian {g['density_elbo']:.2f} "
              f"(DP {g['dp']:.3f} ACC {g['acc']:.3f}, v {g['obs_var']:.4g}) -> picks {pick}",
              flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"data": args.data, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
