"""TreeVAE's spread over seeds: DP, LP, ACC, NMI, ELBO and fit time per seed, beside Ward.

One seed is an anecdote; this script fits the same configuration with several ``random_state``
values (each fit in its own process at one thread, ``--jobs`` at a time) and prints a table of
seeds plus mean ± std, minimum and median.

Data sets:
- ``nested``: the synthetic nested clusters of ``tests/hierarchy_data.py`` (8 Gaussian classes
  three levels deep, unequal sizes and spreads; 1,200 points; scored on the training points,
  as the test does), with the test's configuration;
- ``digits``: the bundled 8×8 digits (1,437 train / 360 test), ``max_leaves=10``, defaults;
- ``digits-all``: all 1,797 digits, fitted and scored on the same points (the setting of the
  Ward 0.693 / 0.804 comparison);
- ``hier-images``: ``dendrogen.data.synthetic.make_hierarchical`` as 8×8 images, 2 coarse × 4
  fine classes, 4,000 train / 1,000 test;
- ``nested-images``: the nested clusters' three-level hierarchy as grey 8×8 images (64
  features squashed into (0, 1) by a sigmoid; unequal class sizes and spreads), 4,000 train /
  1,000 test, ``max_leaves=8``: a hierarchy of images that nothing was tuned on.

    python benchmarks/treevae_seeds.py --data nested --seeds 0-9 --jobs 2 \\
        --json benchmarks/results/treevae_seeds_nested.json
    python benchmarks/treevae_seeds.py --data digits --seeds 0-4 --set schedule.initial=500

``--set key=value`` changes a TreeVAE parameter (``schedule.initial=500`` sets one schedule
entry), so variants can be compared on the same seeds.
"""

from __future__ import annotations

import argparse
import ast
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def parse_seeds(text: str) -> list[int]:
    """``"0-9"`` or ``"0,3,5"`` → a list of ints."""
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            out += list(range(int(lo), int(hi) + 1))
        else:
            out.append(int(part))
    return out


def parse_settings(items: list[str]) -> dict:
    settings: dict = {}
    for item in items:
        key, _, raw = item.partition("=")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        if "." in key:
            outer, inner = key.split(".", 1)
            settings.setdefault(outer, {})[inner] = value
        else:
            settings[key] = value
    return settings


def with_settings(params: dict, settings: dict) -> dict:
    """A data set's TreeVAE parameters with ``--set`` settings on top (schedules merged)."""
    merged = {**params, **settings}
    if "schedule" in settings and "schedule" in params:
        merged["schedule"] = {**params["schedule"], **settings["schedule"]}
    return merged


def load(data: str):
    """``(X_train, y_train, X_test, y_test, base_params)`` of a data set name."""
    if data == "nested":
        sys.path.insert(0, str(ROOT / "tests"))
        from hierarchy_data import make_nested_clusters

        X, y = make_nested_clusters(n=1200, seed=0)
        params = dict(
            max_leaves=8, max_depth=3, latent_dim=2, width=32, likelihood="gaussian",
            batch_size=100, schedule=dict(initial=1200, subtree=400, intermediate=0, finetune=600),
        )  # fmt: skip
        return X, y, X, y, params
    if data in ("digits", "digits-all"):
        from dendrogen.data import load_dataset

        X, y = load_dataset("digits", split="train")
        Xt, yt = load_dataset("digits", split="test")
        if data == "digits-all":
            X, y = np.concatenate([X, Xt]), np.concatenate([y, yt])
            Xt, yt = X, y
        return X, y, Xt, yt, dict(max_leaves=10)
    if data == "hier-images":
        from dendrogen.data.synthetic import make_hierarchical

        s = make_hierarchical(5000, n_coarse=2, n_fine=4, image=True, random_state=0)
        return s.X[:4000], s.y[:4000], s.X[4000:], s.y[4000:], dict(max_leaves=8)
    if data == "nested-images":
        sys.path.insert(0, str(ROOT / "tests"))
        from hierarchy_data import make_nested_clusters

        X, y = make_nested_clusters(n=5000, n_features=64, seed=0)
        X = (1 / (1 + np.exp(-X / 2))).reshape(-1, 1, 8, 8).astype(np.float32)
        return X[:4000], y[:4000], X[4000:], y[4000:], dict(max_leaves=8)
    raise SystemExit(f"unknown --data {data!r}")


def ward_scores(X: np.ndarray, y: np.ndarray, n_leaves: int) -> dict:
    from scipy.cluster.hierarchy import fcluster, linkage

    from dendrogen.metrics import cluster_accuracy, dendrogram_purity, leaf_purity

    Z = linkage(X.reshape(len(X), -1), "ward")
    flat = fcluster(Z, n_leaves, criterion="maxclust")
    return {
        "dp": dendrogram_purity(Z, y, n_leaves=n_leaves),
        "lp": leaf_purity(Z, y, n_leaves=n_leaves),
        "acc": cluster_accuracy(y, flat),
    }


def arrangement_dps(model, X: np.ndarray, y: np.ndarray) -> dict:
    """DP of the fitted leaves under other hierarchies over them: the best label-informed linkage
    (a reference point that uses the labels) and two label-free Ward linkages of the leaves'
    centroids, on the pixels and on the root's posterior means. Says how much of a DP gap lies in
    the arrangement of the leaves, and whether the data alone could find a better one."""
    from scipy.cluster.hierarchy import linkage
    from treevae_leaf_arrangement import arranged_dp

    from dendrogen.metrics import dendrogram_purity
    from dendrogen.tree import Tree

    column = model.predict(X)
    used, column = np.unique(column, return_inverse=True)  # leaves that hold rows, renumbered
    out = {"dp_arranged_labels": arranged_dp(column, y, len(used))}
    if len(used) < 3:
        return {**out, "dp_arranged_pixels": np.nan, "dp_arranged_root_z": np.nan}
    for name, features in (("pixels", X.reshape(len(X), -1)), ("root_z", model.transform(X))):
        centroids = np.stack([features[column == k].mean(0) for k in range(len(used))])
        tree = Tree.from_linkage(linkage(centroids, method="ward"))
        out[f"dp_arranged_{name}"] = dendrogram_purity(tree, column, y)
    return out


def fit_one(job: tuple[str, int, dict, bool]) -> dict:
    data, seed, settings, arrangement = job
    import torch

    torch.set_num_threads(1)
    from dendrogen import TreeVAE

    X, _, Xt, yt, params = load(data)
    params = with_settings(params, settings)
    start = time.perf_counter()
    model = TreeVAE(**params, random_state=seed, verbose=False).fit(X)
    seconds = time.perf_counter() - start
    scores = model.evaluate(Xt, yt)
    empty = int(model.n_leaves_ - len(np.unique(model.labels_)))
    row = {"seed": seed, "fit_s": round(seconds, 1), "empty_leaves": empty, **scores}
    stops = [e["reason"] for e in model.history_ if e.get("event") == "stop"]
    row["growth_stop"] = stops[-1] if stops else "max_growth_iterations"
    row["splits"] = sum(e.get("event") == "split" for e in model.history_)
    row["undone_splits"] = sum(e.get("event") == "undo_split" for e in model.history_)
    row["likelihood"] = model.likelihood_
    if model.likelihood_scores_:  # likelihood="auto" probed both: held-out ELBOs as densities
        row["likelihood_scores"] = model.likelihood_scores_
    if model.obs_var_ is not None:  # the Gaussian's variance, fitted with obs_var="auto"
        row["obs_var"] = model.obs_var_
    if arrangement:
        row.update(arrangement_dps(model, Xt, yt))
    trials = [e for e in model.history_ if e.get("event") == "split_trials"]
    if trials:  # split_candidates > 1: how often a split raised the held-out ELBO at all
        row["trial_decisions"] = len(trials)
        row["trial_decisions_all_below_unsplit"] = sum(
            max(e["heldout_elbo"]) < e["heldout_elbo_before"] for e in trials
        )
    return row


def summarize(rows: list[dict], keys: tuple[str, ...]) -> dict:
    out = {}
    for k in keys:
        v = np.asarray([r[k] for r in rows], float)
        v = v[~np.isnan(v)]  # arrangement DPs are NaN for trees of fewer than 3 leaves
        if not len(v):
            out[k] = {"mean": np.nan, "std": np.nan, "min": np.nan, "median": np.nan}
            continue
        out[k] = {"mean": v.mean(), "std": v.std(ddof=1) if len(v) > 1 else 0.0,
                  "min": v.min(), "median": float(np.median(v))}  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="nested")
    ap.add_argument("--seeds", default="0-9", type=parse_seeds)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--set", dest="settings", action="append", default=[])
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--arrangement",
        action="store_true",
        help="also score the fitted leaves under other hierarchies (arrangement_dps)",
    )
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    settings = parse_settings(args.settings)
    _, _, Xt, yt, _ = load(args.data)
    started = time.perf_counter()
    jobs = [(args.data, s, settings, args.arrangement) for s in args.seeds]
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        rows = []
        for row in pool.imap(fit_one, jobs):
            rows.append(row)
            print(f"seed {row['seed']}: DP {row.get('dp', 0):.3f} LP {row.get('lp', 0):.3f} "
                  f"ACC {row.get('acc', 0):.3f} NMI {row.get('nmi', 0):.3f} "
                  f"ELBO {row['elbo']:.2f} leaves {row['n_leaves']:.0f} "
                  f"empty {row['empty_leaves']} fit {row['fit_s']:.0f} s; splits "
                  f"{row['splits']} ({row['undone_splits']} undone); "
                  f"growth stopped: {row['growth_stop']}; {row['likelihood']}"
                  + (f"; obs_var {row['obs_var']:.4g}" if "obs_var" in row else ""),
                  flush=True)  # fmt: skip
    wall = time.perf_counter() - started
    n_leaves = int(np.median([r["n_leaves"] for r in rows]))
    ward = ward_scores(Xt, yt, n_leaves)
    keys = ("dp", "lp", "acc", "nmi", "elbo", "fit_s")
    if args.arrangement:
        keys += ("dp_arranged_labels", "dp_arranged_pixels", "dp_arranged_root_z")
    summary = summarize(rows, keys)
    print(f"\n{args.data}, {len(rows)} seeds, settings {settings or 'default'}; wall {wall:.0f} s")
    print("| metric | mean ± std | min | median | Ward (same leaves) |")
    print("|---|---|---|---|---|")
    for k in keys:
        s = summary[k]
        w = f"{ward[k]:.3f}" if k in ward else ""
        print(
            f"| {k} | {s['mean']:.3f} ± {s['std']:.3f} | {s['min']:.3f} | {s['median']:.3f} | {w} |"
        )
    below = sum(r["dp"] <= ward["dp"] for r in rows)
    print(f"seeds with DP at or below Ward: {below} of {len(rows)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "data": args.data, "settings": settings, "date": str(date.today()),
            "machine": platform.processor() or platform.machine(), "threads": 1,
            "wall_s": round(wall, 1), "rows": rows, "ward": ward, "summary": summary,
        }  # fmt: skip
        args.json.write_text(json.dumps(record, indent=1, default=float))


if __name__ == "__main__":
    main()
