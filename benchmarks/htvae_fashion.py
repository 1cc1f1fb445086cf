"""HTVAE and SOM-VAE on Fashion-MNIST, printed beside the paper's Table I (htvae.md §3, §7).

Protocol: the official train set split at random into 59,400 train / 600 validation (validation is
only monitored), the official 10,000-image test set; 20 epochs, Adam 5e-4, batch 32; purity and
NMI of the finest map, D_tree against the Fashion-MNIST hierarchy of htvae.md §7.

    flock /tmp/dendrogen-bench.lock .venv/bin/python benchmarks/htvae_fashion.py \
        --models htvae,somvae --seeds 0 --json benchmarks/results/htvae_fashion.json

``--epochs``/``--train-limit`` give quicker, smaller runs (not comparable with the paper).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from dendrogen.data import get_dataset
from dendrogen.estimators.htvae import HTVAE
from dendrogen.estimators.somvae import SOMVAE
from dendrogen.metrics import purity

# Table I of the paper (mean ± std over 5 runs); D_tree is N.A. for SOM-VAE.
PAPER = {
    "somvae": {"purity": (0.73, 0.008), "nmi": (0.44, 0.007), "d_tree": None},
    "htvae": {"purity": (0.81, 0.004), "nmi": (0.48, 0.003), "d_tree": (3.49, 0.055)},
}
NAMES = {"htvae": "HTVAE", "somvae": "SOM-VAE"}


def split(X: np.ndarray, y: np.ndarray, n_val: int, seed: int) -> tuple[np.ndarray, ...]:
    order = np.random.default_rng(seed).permutation(len(X))
    val, train = order[:n_val], order[n_val:]
    return X[train], y[train], X[val], y[val]


def make_model(name: str, args: argparse.Namespace, seed: int):
    common = {
        "preset": "paper",
        "schedule": {"unit": "epochs", "train": args.epochs, "precision": args.precision},
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "widths": tuple(args.widths),
        "random_state": seed,
        "verbose": args.progress,
    }
    if name == "htvae":
        return HTVAE(rho=args.rho, **common, **dict(args.param))
    return SOMVAE(**common)


def parse_param(text: str) -> tuple[str, object]:
    """``key=value`` → (key, value), the value read as JSON when it parses (numbers, lists)."""
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--param needs key=value, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def record(rows: list[dict], row: dict, args: argparse.Namespace) -> None:
    """Keep, print and (with --json) append one result row."""
    rows.append(row)
    print(json.dumps(row), flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with args.json.open("a") as f:
            f.write(json.dumps(row) + "\n")


def fmt(value: float | None, paper: tuple[float, float] | None) -> str:
    ours = "—" if value is None else f"{value:.3f}"
    theirs = "N.A." if paper is None else f"{paper[0]:.2f} ± {paper[1]:.3f}"
    return f"{ours} ({theirs})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="htvae,somvae")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (paper: 5 runs)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--rho", type=float, default=10.0)
    parser.add_argument("--widths", type=int, nargs=2, default=(32, 64))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="bf16: each step under bfloat16 autocast")  # fmt: skip
    parser.add_argument(
        "--param", type=parse_param, action="append", default=[], metavar="KEY=VALUE",
        help="an HTVAE argument, e.g. --param map_sizes=12x12,6x6,3x3 (repeatable; rows tagged)",
    )  # fmt: skip
    parser.add_argument("--train-limit", type=int, default=0, help="use only this many train rows")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument(
        "--refit-also", type=int, default=0, metavar="N",
        help="HTVAE: after each fit, refit its codes with N Lloyd iterations and add a second row",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, help="append result rows here")
    parser.add_argument("--save", type=Path, default=None, help="save each model under this dir")
    parser.add_argument(
        "--summary", action="store_true",
        help="only print mean ± std per model over the --json rows with these epochs and widths",
    )  # fmt: skip
    args = parser.parse_args()
    if args.summary:
        summarise(args)
        return
    torch.set_num_threads(args.threads)

    ds = get_dataset("fashion-mnist")
    X, y = ds.load("train")
    X_test, y_test = ds.load("test")
    X_train, y_train, X_val, y_val = split(X, y, 600, seed=0)
    if args.train_limit:
        X_train, y_train = X_train[: args.train_limit], y_train[: args.train_limit]
    print(f"train {X_train.shape}, validation {X_val.shape}, test {X_test.shape}; "
          f"{args.epochs} epochs, batch {args.batch_size}, lr {args.lr}, widths {args.widths}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip

    rows = []
    for name in args.models.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            model = make_model(name, args, seed)
            start = time.perf_counter()
            model.fit(X_train, y=None)
            wall = time.perf_counter() - start
            metrics = model.evaluate(X_test, y_test, true_tree=ds.hierarchy)
            val_purity = purity(y_val, model.predict(X_val))
            row = {
                "model": name, "seed": seed, "date": date.today().isoformat(),
                "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                **({"precision": "bf16"} if args.precision == "bf16" else {}),
                "widths": list(args.widths), "n_train": len(X_train), "wall_s": round(wall, 1),
                **({"rho": args.rho, "params": dict(args.param)} if name == "htvae" else {}),
                "machine": platform.processor() or platform.machine(),
                "threads": torch.get_num_threads(), "val_purity": val_purity,
                **{k: float(v) for k, v in metrics.items()},
            }  # fmt: skip
            record(rows, row, args)
            if args.save is not None:
                model.save(args.save / f"{name}-seed{seed}")
            if name == "htvae" and args.refit_also:
                # the fit with refit_codes=N trains exactly like this one and refits afterwards
                model.set_params(refit_codes=args.refit_also)
                mu = torch.from_numpy(model.transform(X_train))
                model.module_.maps.refit(mu, args.refit_also)
                metrics = model.evaluate(X_test, y_test, true_tree=ds.hierarchy)
                params = {**row["params"], "refit_codes": args.refit_also}
                val = purity(y_val, model.predict(X_val))
                record(rows, {**row, "params": params, "val_purity": val,
                              **{k: float(v) for k, v in metrics.items()}}, args)  # fmt: skip

    print("\n| model | seed | purity (paper) | NMI (paper) | D_tree (paper) | wall |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        p = PAPER[r["model"]]
        print(f"| {NAMES[r['model']]} | {r['seed']} | {fmt(r['purity'], p['purity'])} | "
              f"{fmt(r['nmi'], p['nmi'])} | {fmt(r.get('d_tree'), p['d_tree'])} | "
              f"{r['wall_s'] / 60:.1f} min |")  # fmt: skip


def summarise(args: argparse.Namespace) -> None:
    """Mean ± std over seeds of the rows in ``--json`` that match ``--epochs`` and ``--widths``."""
    if args.json is None or not args.json.exists():
        raise SystemExit("--summary needs --json FILE with result rows")
    rows = [json.loads(line) for line in args.json.read_text().splitlines() if line.strip()]
    params = dict(args.param)
    rows = [r for r in rows if r["epochs"] == args.epochs and r["widths"] == list(args.widths)]
    rows = [r for r in rows if r["model"] != "htvae" or r.get("params", {}) == params]
    print(
        f"{args.epochs} epochs, widths {list(args.widths)}, HTVAE {params or 'defaults'}: "
        "mean ± std over seeds"
    )
    print("| model | seeds | purity (paper) | NMI (paper) | D_tree (paper) | fit |")
    print("|---|---|---|---|---|---|")
    for name in PAPER:
        mine = [r for r in rows if r["model"] == name]
        if not mine:
            continue
        cells = []
        for key in ("purity", "nmi", "d_tree"):
            values = np.array([r[key] for r in mine if r.get(key) is not None])
            paper = PAPER[name][key]
            theirs = "N.A." if paper is None else f"{paper[0]:.2f}"
            ours = f"{values.mean():.3f} ± {values.std():.3f}" if len(values) else "—"
            cells.append(f"{ours} ({theirs})")
        wall = np.mean([r["wall_s"] for r in mine]) / 60
        seeds = ",".join(str(r["seed"]) for r in mine)
        print(f"| {NAMES[name]} | {seeds} | {' | '.join(cells)} | {wall:.1f} min |")


if __name__ == "__main__":
    main()
