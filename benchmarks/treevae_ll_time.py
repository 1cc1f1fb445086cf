"""Time of TreeVAE's importance-weighted log-likelihood (K samples per image) before and after
the sparse-decoding change, same run, rounds interleaved; and predict_proba on test images.

Variants of ``dendrogen.models.treevae.likelihood``:

- ``before``: the code path as it was: every point repeated K times, the bottom-up pass on every
  repeated row, every leaf decoded on every row (``log_weights`` on the repeated rows);
- ``once``: the bottom-up pass once per point (``repeats=K``), every leaf decoded;
- ``eps=E``: the same, leaf l decoded only where P(l | x) > E (a lower bound of the ε = 0 value).

Each variant draws the same noise (same seed), so their LL means are directly comparable.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/treevae_ll_time.py runs/fm_acc_s0/acc_model \\
        --points 16 --samples 1000 --eps 0.0001 0.001 --rounds 2
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
import torch

from dendrogen import load, load_dataset
from dendrogen.models.treevae.likelihood import log_likelihood, log_weights


@torch.no_grad()
def ll_before(model, x: torch.Tensor, k: int, max_rows: int = 16384) -> torch.Tensor:
    """log p(x) (B,) as the code computed it before (all K rows through the bottom-up pass)."""
    model.eval()
    out = []
    for start in range(0, x.shape[0], max(1, max_rows // k)):
        xb = x[start : start + max(1, max_rows // k)]
        lw = log_weights(model, xb.repeat_interleave(k, dim=0)).double().view(xb.shape[0], k)
        out.append(torch.logsumexp(lw, dim=1) - math.log(k))
    return torch.cat(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a fitted dendrogen TreeVAE (28×28 Fashion-MNIST)")
    parser.add_argument("--points", type=int, default=16, help="test images per round")
    parser.add_argument("--samples", type=int, default=1000, help="K")
    parser.add_argument("--eps", type=float, nargs="*", default=[0.001])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--predict-points", type=int, default=10000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    est = load(args.model)
    model = est.module_
    X, _ = load_dataset("fashion-mnist", split="test")
    variants = {"before": lambda x: ll_before(model, x, args.samples)}
    variants["once"] = lambda x: log_likelihood(model, x, args.samples)
    for eps in args.eps:
        variants[f"eps={eps:g}"] = lambda x, e=eps: log_likelihood(model, x, args.samples, eps=e)
    secs: dict[str, list[float]] = {name: [] for name in variants}
    lls: dict[str, list[np.ndarray]] = {name: [] for name in variants}
    for r in range(args.rounds):
        x = torch.from_numpy(X[r * args.points : (r + 1) * args.points].copy())
        for name, fn in variants.items():
            torch.manual_seed(r)
            start = time.perf_counter()
            ll = fn(x)
            secs[name].append((time.perf_counter() - start) / len(x))
            lls[name].append(ll.numpy())
    base = statistics.median(secs["before"])
    before_ll = np.concatenate(lls["before"])
    print(f"LL, K = {args.samples}, {args.rounds} rounds of {args.points} test images, "
          f"{args.threads} thread(s); per image, median [min-max]:")  # fmt: skip
    for name in variants:
        ll = np.concatenate(lls[name])
        t = statistics.median(secs[name])
        print(f"  {name:>12}: {t * 1000:7.1f} ms [{min(secs[name]) * 1000:.1f}-"
              f"{max(secs[name]) * 1000:.1f}]  speed-up {base / t:5.2f}x  mean LL {ll.mean():.3f}"
              f"  (vs before: mean {np.mean(ll - before_ll):+.4f}, "
              f"max |diff| {np.abs(ll - before_ll).max():.4f})", flush=True)  # fmt: skip
    xp = X[: args.predict_points]
    est.predict_proba(xp[:256])  # warm-up
    times = []
    for _ in range(3):
        start = time.perf_counter()
        est.predict_proba(xp)
        times.append(time.perf_counter() - start)
    print(f"predict_proba on {len(xp)} test images: {min(times):.3f} s (best of 3; "
          f"{', '.join(f'{t:.3f}' for t in times)})")  # fmt: skip


if __name__ == "__main__":
    main()
