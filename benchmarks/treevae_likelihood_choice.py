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

Since session 18 ``likelihood="auto"`` makes this choice itself from two short probes
(``estimators/treevae_likelihood_choice.py``). ``--probe STEPS`` runs only that probe per seed
(on any data set, fashion included) and prints its two scores, its pick and its wall time, so
the probe's picks can be set beside the full fits' above:

    python benchmarks/treevae_likelihood_choice.py --data nested-images --seeds 0-4 --probe 300
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from treevae_seeds import load, parse_seeds

from dendrogen.estimators.treevae_likelihood_choice import choose_likelihood, density_elbo


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


def probe(job: tuple[str, int, int]) -> dict:
    """The library's likelihood probe of ``steps`` steps on a data set, at one thread."""
    data, seed, steps = job
    torch.set_num_threads(1)
    from dendrogen import TreeVAE

    if data == "fashion":
        from dendrogen.data import load_dataset

        X, _ = load_dataset("fashion-mnist", split="train")
        params = {}
    else:
        X, _, _, _, params = load(data)
    start = time.perf_counter()
    choice = choose_likelihood(TreeVAE(**params, random_state=seed), X, steps, batch_size=256)
    return {"seed": seed, "steps": steps, "pick": choice.likelihood, **choice.scores,
            "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="hier-images", help="a treevae_seeds.py data set, or fashion")
    ap.add_argument("--seeds", default="0-2", type=parse_seeds)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--bernoulli", nargs="*", default=[], help="saved Bernoulli fits (fashion)")
    ap.add_argument("--gaussian", nargs="*", default=[], help="saved Gaussian fits (fashion)")
    ap.add_argument("--probe", type=int, metavar="STEPS", help="run only the probe")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    if args.probe:
        with mp.get_context("spawn").Pool(args.jobs) as pool:
            rows = list(pool.imap(probe, [(args.data, s, args.probe) for s in args.seeds]))
        for row in rows:
            print(f"seed {row['seed']}: probe of {row['steps']} steps: Bernoulli "
                  f"{row['bernoulli']:.2f}, Gaussian {row['gaussian']:.2f} -> {row['pick']} "
                  f"({row['seconds']:.0f} s)", flush=True)  # fmt: skip
        if args.json:
            args.json.write_text(json.dumps({"data": args.data, "probe": rows}, indent=1))
        return
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
