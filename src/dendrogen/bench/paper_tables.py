"""The papers' tables in one command: methods as rows, metrics as mean ± std over seeds, the
published values beside ours (baselines.md §0.1, §11; htvae.md §7).

    dendrogen bench --data digits --seeds 0 1 2 --out runs/tables
    dendrogen bench --data fashion-mnist --seeds 0 1 2 --table htvae
    python benchmarks/paper_tables.py ...      # the same command (a thin wrapper of this module)

``--table treevae`` (TreeVAE's Table 1): Agg, VAE+Agg, LadderVAE+Agg, DeepECT (clustpy, when the
peer environment exists: ``make peers``, see ``--peers``) and TreeVAE; DP and LP on a tree of
``--leaves`` leaves (20 in the paper), ACC and NMI with as many clusters as classes (for TreeVAE
a second fit with ``max_leaves`` = classes when ``--leaves`` differs). ``--table htvae``
(HTVAE's Tables I–II): SOM-VAE, VAE-HKMeans, VAE-RGMM and HTVAE; purity, NMI and D_tree against
the data set's true hierarchy (digits: MNIST's default, each class at the end of a chain of
depth 3).

Protocol: fit on the train split, score on the test split (digits: the library's 1,437 / 360
split). Every fit runs at one thread, one after another (``--jobs N``: N at a time, each in its
own process); DeepECT's fits run in the peer environment's process. Output in ``--out``:
``table_<table>_<data>.md``, ``.json`` (every seed's row and the summary) and a bar chart per
metric with error bars (``…_<metric>.png``). The published values are the papers' (MNIST's
beside digits, for scale: no paper reports the 8×8 digits).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

#: The source checkout's root when dendrogen runs from one (src/dendrogen/bench/ → root).
SOURCE_ROOT = Path(__file__).resolve().parents[3]


def default_peers_python() -> Path:
    """The Python of the peer environment (clustpy's DeepECT): ``$DENDROGEN_PEERS_PYTHON``, else
    ``.venv-peers/bin/python`` in the working directory or in the source checkout (``make
    peers`` creates it there); the working directory's path when neither exists."""
    if os.environ.get("DENDROGEN_PEERS_PYTHON"):
        return Path(os.environ["DENDROGEN_PEERS_PYTHON"])
    candidates = [base / ".venv-peers" / "bin" / "python" for base in (Path.cwd(), SOURCE_ROOT)]
    return next((c for c in candidates if c.exists()), candidates[0])


PEERS_PYTHON = default_peers_python()

TREEVAE_METRICS = ("dp", "lp", "acc", "nmi")
HTVAE_METRICS = ("purity", "nmi", "d_tree")
METHODS = {
    "treevae": ("Agg", "VAE+Agg", "LadderVAE+Agg", "DeepECT (clustpy)", "TreeVAE"),
    "htvae": ("SOM-VAE", "VAE-HKMeans", "VAE-RGMM", "HTVAE"),
}

#: Published (mean, std): TreeVAE Table 1 in % (baselines.md §11), HTVAE Tables I–II
#: (htvae.md §7). Digits rows show MNIST's.
PUBLISHED: dict[tuple[str, str], dict[str, dict[str, tuple[float, float]]]] = {
    ("treevae", "MNIST"): {
        "Agg": {"dp": (63.7, 0.0), "lp": (78.6, 0.0), "acc": (69.5, 0.0), "nmi": (71.1, 0.0)},
        "VAE+Agg": {"dp": (79.9, 2.2), "lp": (90.8, 1.4), "acc": (86.6, 4.9), "nmi": (81.6, 2.0)},
        "LadderVAE+Agg": {"dp": (81.6, 3.9), "lp": (90.9, 2.5), "acc": (80.3, 5.6),
                          "nmi": (82.0, 2.1)},
        "DeepECT (clustpy)": {"dp": (74.6, 5.9), "lp": (90.7, 3.2), "acc": (74.9, 6.2),
                              "nmi": (76.7, 4.2)},
        "TreeVAE": {"dp": (87.9, 4.9), "lp": (96.0, 1.9), "acc": (90.2, 7.5), "nmi": (90.0, 4.6)},
    },
    ("treevae", "Fashion-MNIST"): {
        "Agg": {"dp": (45.0, 0.0), "lp": (67.6, 0.0), "acc": (51.3, 0.0), "nmi": (52.6, 0.0)},
        "VAE+Agg": {"dp": (44.3, 2.5), "lp": (65.9, 2.3), "acc": (54.9, 4.4), "nmi": (56.1, 3.2)},
        "LadderVAE+Agg": {"dp": (49.5, 2.3), "lp": (67.6, 1.2), "acc": (55.9, 3.0),
                          "nmi": (60.7, 1.4)},
        "DeepECT (clustpy)": {"dp": (44.9, 3.3), "lp": (67.8, 1.4), "acc": (51.8, 5.7),
                              "nmi": (57.7, 3.7)},
        "TreeVAE": {"dp": (54.4, 2.4), "lp": (71.4, 2.0), "acc": (63.6, 3.3), "nmi": (64.7, 1.4)},
    },
    ("htvae", "MNIST"): {
        "SOM-VAE": {"purity": (0.86, 0.01), "nmi": (0.47, 0.004)},
        "VAE-HKMeans": {"purity": (0.90, 0.002), "nmi": (0.47, 0.001), "d_tree": (4.68, 0.005)},
        "VAE-RGMM": {"purity": (0.92, 0.003), "nmi": (0.49, 0.004), "d_tree": (4.66, 0.013)},
        "HTVAE": {"purity": (0.95, 0.003), "nmi": (0.54, 0.006), "d_tree": (4.61, 0.033)},
    },
    ("htvae", "Fashion-MNIST"): {
        "SOM-VAE": {"purity": (0.73, 0.008), "nmi": (0.44, 0.007)},
        "VAE-HKMeans": {"purity": (0.79, 0.005), "nmi": (0.43, 0.001), "d_tree": (3.58, 0.010)},
        "VAE-RGMM": {"purity": (0.79, 0.009), "nmi": (0.44, 0.003), "d_tree": (3.59, 0.051)},
        "HTVAE": {"purity": (0.81, 0.004), "nmi": (0.48, 0.003), "d_tree": (3.49, 0.055)},
    },
}  # fmt: skip
PUBLISHED_DATA = {"digits": "MNIST", "mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


# ---------------------------------------------------------------------------------------- data
def load_split(data: str, limit: int | None) -> tuple[np.ndarray, ...]:
    """``(X_train, y_train, X_test, y_test)`` of the train and test splits."""
    from dendrogen.data import load_dataset

    X, y = load_dataset(data, split="train", limit=limit)
    Xt, yt = load_dataset(data, split="test")
    return X, y, Xt, yt


def true_hierarchy(data: str):
    """The true class hierarchy for D_tree (htvae.md §7); digits take MNIST's default."""
    from dendrogen.data import get_dataset
    from dendrogen.data.hierarchies import chain_hierarchy

    dataset = get_dataset(data)
    if dataset.name == "digits":
        return chain_hierarchy(dataset.classes, depth=3)
    return dataset.hierarchy


def vae_preset(preset: str, table: str) -> str:
    """The VAE preset of a table preset (the HTVAE protocol's VAE trains 20 epochs)."""
    return "htvae" if (table, preset) == ("htvae", "paper") else preset


# ---------------------------------------------------------------------------------------- fits
def run_job(job: dict) -> list[dict]:
    """Fit and score one (method, seed) at one thread; returns its row of metrics (two rows
    for the VAE-HKMeans job that also grows VAE-RGMM's tree on its VAE)."""
    import torch

    torch.set_num_threads(1)
    method, seed, preset, table = job["method"], job["seed"], job["preset"], job["table"]
    X, _, Xt, yt = load_split(job["data"], job["limit"])
    n_classes = len(np.unique(yt))
    start = time.perf_counter()
    if job.get("shared_vae"):
        return _shared_vae_fits(seed, preset, X, Xt, yt, true_hierarchy(job["data"]),
                                job.get("schedule"))  # fmt: skip
    if method == "DeepECT (clustpy)":
        scores = run_peer(job, n_classes)
    elif table == "treevae":
        scores = _treevae_table_fit(method, seed, preset, job["leaves"], n_classes, X, Xt, yt,
                                    job.get("schedule"))  # fmt: skip
    else:
        scores = _htvae_table_fit(method, seed, preset, X, Xt, yt, true_hierarchy(job["data"]),
                                  job.get("schedule"))  # fmt: skip
    row = {"method": method, "seed": seed, "fit_s": round(time.perf_counter() - start, 1)}
    return [row | {k: float(v) for k, v in scores.items()}]


def _treevae_table_fit(method, seed, preset, leaves, n_classes, X, Xt, yt, schedule=None):
    from dendrogen import Agglomerative, TreeVAE

    if method == "TreeVAE":
        fit = dict(preset=preset, schedule=schedule, random_state=seed)
        model = TreeVAE(max_leaves=leaves, **fit).fit(X)
        scores = model.evaluate(Xt, yt)
        out = {"dp": scores["dp"], "lp": scores["lp"], "n_leaves": scores["n_leaves"]}
        if leaves != n_classes:  # ACC and NMI from a separate run with T leaves (§0.1)
            model = TreeVAE(max_leaves=n_classes, **fit).fit(X)
            scores = model.evaluate(Xt, yt)
        return out | {"acc": scores["acc"], "nmi": scores["nmi"]}
    embedding = {"Agg": "raw", "VAE+Agg": "vae", "LadderVAE+Agg": "laddervae"}[method]
    # Ward on the 60,000 training embeddings is not needed (the table scores Ward on the test
    # points): above 10,000 points the fit's own tree is built on a subsample.
    model = Agglomerative(embedding=embedding, n_leaves=leaves, n_clusters=n_classes,
                          preset=vae_preset(preset, "treevae"), schedule=schedule,
                          max_points=10_000, subsample=True, random_state=seed).fit(X)  # fmt: skip
    scores = model.evaluate(Xt, yt)
    return {k: scores[k] for k in TREEVAE_METRICS}


def _htvae_table_fit(method, seed, preset, X, Xt, yt, hierarchy, schedule=None) -> dict:
    from dendrogen import HTVAE, SOMVAE

    if method == "SOM-VAE":
        model = SOMVAE(map_size=(8, 8), preset=preset, schedule=schedule, random_state=seed)
        scores = model.fit(X).evaluate(Xt, yt)
        return {"purity": scores["purity"], "nmi": scores["nmi"]}
    if method == "HTVAE":
        model = HTVAE(preset=preset, schedule=schedule, random_state=seed).fit(X)
    else:
        model = _bisecting(method, seed, preset, schedule).fit(X)
    scores = model.evaluate(Xt, yt, true_tree=hierarchy)
    return {k: scores[k] for k in HTVAE_METRICS}


def _bisecting(method: str, seed: int, preset: str, schedule: dict | None):
    """VAE-HKMeans or VAE-RGMM of the HTVAE protocol (baselines.md §8–9): levels 4×4×4 on a VAE
    with HTVAE's networks and a 64-d latent."""
    from dendrogen import Bisecting

    return Bisecting(
        embedding="vae", mode="levels", branching=(4, 4, 4),
        method="kmeans" if method == "VAE-HKMeans" else "gmm",
        embedding_params={"arch": "htvae", "latent_dim": 64},
        preset=vae_preset(preset, "htvae"), schedule=schedule, random_state=seed,
    )  # fmt: skip


def _shared_vae_fits(seed, preset, X, Xt, yt, hierarchy, schedule=None) -> list[dict]:
    """VAE-HKMeans, then VAE-RGMM's tree grown on the same VAE (:meth:`Bisecting.regrow`): the
    rows a fit of each would give (same seed, same VAE), for one VAE training. VAE-RGMM's
    ``fit_s`` counts the shared fit in full (VAE and k-means tree) plus its own tree
    (``tree_s``)."""
    start = time.perf_counter()
    hkmeans = _bisecting("VAE-HKMeans", seed, preset, schedule).fit(X)
    hkmeans_s = time.perf_counter() - start
    rgmm = hkmeans.regrow(X, method="gmm")
    rgmm_tree_s = time.perf_counter() - start - hkmeans_s
    rows = []
    for method, model, fit_s in (("VAE-HKMeans", hkmeans, hkmeans_s),
                                 ("VAE-RGMM", rgmm, hkmeans_s + rgmm_tree_s)):  # fmt: skip
        scores = model.evaluate(Xt, yt, true_tree=hierarchy)
        rows.append({"method": method, "seed": seed, "fit_s": round(fit_s, 1),
                     **{k: float(scores[k]) for k in HTVAE_METRICS}})  # fmt: skip
    rows[1] |= {"tree_s": round(rgmm_tree_s, 1), "vae_shared_with": "VAE-HKMeans"}
    return rows


def run_peer(job: dict, n_classes: int) -> dict:
    """DeepECT from clustpy in the peer environment (:mod:`dendrogen.bench.peer_deepect`), scored
    here with dendrogen's metrics; clustpy's own DP / LP come back beside them."""
    out_file = Path(job["out"]) / f"deepect_{job['data']}_seed{job['seed']}.json"
    options = ["--data", job["data"], "--seed", str(job["seed"]), "--preset", job["preset"],
               "--max-leaves", str(job["leaves"]), "--n-classes", str(n_classes)]  # fmt: skip
    if job["limit"]:
        options += ["--limit", str(job["limit"])]
    return score_peer(run_peer_process(Path(job["peers"]), options, out_file))


def score_peer(result: dict) -> dict:
    """The peer's record scored with dendrogen's metrics; clustpy's own scores and the peer's
    fit times beside them (``clustpy_dp``..., ``deepect_fit_s``)."""
    from dendrogen.metrics import cluster_accuracy, nmi, tree_dendrogram_purity, tree_leaf_purity
    from dendrogen.tree import Tree

    yt = np.asarray(result["y_test"])
    tree = Tree.from_dict(result["tree"])
    leaf_of_point = np.asarray(result["leaf_of_point"])
    return {
        "dp": tree_dendrogram_purity(tree, leaf_of_point, yt),
        "lp": tree_leaf_purity(tree, leaf_of_point, yt),
        "acc": cluster_accuracy(yt, np.asarray(result["flat"])),
        "nmi": nmi(yt, np.asarray(result["flat"])),
        "n_leaves": tree.n_leaves,
        **{f"clustpy_{k}": v for k, v in result["clustpy"].items() if not k.endswith("error")},
        **{f"deepect_{k}": v for k, v in result["times"].items()},
    }


def run_peer_process(python: Path, options: list[str], out_file: Path) -> dict:
    """Run :mod:`dendrogen.bench.peer_deepect` with the peer environment's ``python`` at one
    thread and return the record it writes to ``out_file``. The peer imports the same dendrogen
    source as this process where that is a source tree (``src/``), not an installed copy."""
    command = [str(python), "-m", "dendrogen.bench.peer_deepect", *options, "--out", str(out_file)]
    env = os.environ | {"OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    package_parent = Path(__file__).resolve().parents[2]
    if package_parent.name == "src":  # never put this environment's site-packages on its path
        env["PYTHONPATH"] = str(package_parent)
    subprocess.run(command, check=True, env=env)
    return json.loads(out_file.read_text())


# ---------------------------------------------------------------------------------------- output
def summarize(rows: list[dict], methods: tuple[str, ...], metrics: tuple[str, ...]) -> dict:
    """Per method and metric: mean, std (over seeds, ddof=1) and n."""
    out: dict = {}
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        if not mine:
            continue
        out[method] = {}
        extra = sorted({k for r in mine for k in r if k.startswith(("clustpy_", "deepect_"))})
        for key in (*metrics, "fit_s", *extra):
            values = np.asarray([r[key] for r in mine if key in r], float)
            if len(values):
                std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
                out[method][key] = {"mean": float(values.mean()), "std": std, "n": len(values)}
    return out


def markdown(summary: dict, published: dict, metrics: tuple[str, ...], scale: float, head: str):
    """The table: a row per method, ours and the paper's per metric, then the fit time."""
    names = {"dp": "DP", "lp": "LP", "acc": "ACC", "nmi": "NMI", "purity": "purity",
             "d_tree": "D_tree"}  # fmt: skip
    digits = 1 if scale == 100 else 3
    cols = " | ".join(f"{names[m]} (ours) | {names[m]} ({head})" for m in metrics)
    lines = [f"| method | {cols} | fit s / seed | seeds |",
             "|---|" + "---|" * (2 * len(metrics) + 2)]  # fmt: skip
    for method, stats in summary.items():
        cells = []
        for m in metrics:
            s = stats.get(m)
            cells.append(
                "N.A."
                if s is None
                else f"{scale * s['mean']:.{digits}f} ± {scale * s['std']:.{digits}f}"
            )
            p = published.get(method, {}).get(m)
            cells.append("—" if p is None else f"{p[0]:.{digits}f} ± {p[1]:.{digits}f}")
        n = max(s["n"] for s in stats.values())
        lines.append(f"| {method} | {' | '.join(cells)} | {stats['fit_s']['mean']:.0f} | {n} |")
    return "\n".join(lines)


def plot(summary: dict, published: dict, metrics, scale: float, head: str, stem: Path) -> list:
    """A bar chart per metric: ours (mean ± std) and the published value beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for m in metrics:
        methods = [k for k in summary if m in summary[k]]
        if not methods:
            continue
        x = np.arange(len(methods))
        fig, ax = plt.subplots(figsize=(1.6 * len(methods) + 2, 3.6))
        ours = [scale * summary[k][m]["mean"] for k in methods]
        err = [scale * summary[k][m]["std"] for k in methods]
        ax.bar(x - 0.2, ours, 0.4, yerr=err, capsize=4, label="dendrogen (ours)")
        pub = [published.get(k, {}).get(m, (np.nan, np.nan)) for k in methods]
        ax.bar(x + 0.2, [p[0] for p in pub], 0.4, yerr=[p[1] for p in pub], capsize=4,
               hatch="//", alpha=0.6, label=f"published ({head})")  # fmt: skip
        ax.set_xticks(x, methods, rotation=15)
        ax.set_ylabel(m + (" (%)" if scale == 100 else ""))
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = stem.with_name(f"{stem.name}_{m}.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def read_rows(paths: list[Path], methods: tuple[str, ...]) -> list[dict]:
    """The fit rows of the table's methods in earlier runs' records or logs."""
    rows = []
    for path in paths:
        text = path.read_text()
        if path.suffix == ".json":
            found = json.loads(text)["rows"]
        else:
            found = [json.loads(line) for line in text.splitlines() if line.startswith('{"method"')]
        rows += [r for r in found if r["method"] in methods]
    return rows


def parse_args(argv: list[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog=prog, description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--data", default="digits", choices=["digits", "fashion-mnist", "mnist"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--table", default="treevae", choices=list(METHODS))
    ap.add_argument("--preset", default="fast", choices=["tiny", "fast", "paper"])
    ap.add_argument("--leaves", type=int, default=20, help="leaves of the DP/LP trees (paper: 20)")
    ap.add_argument("--methods", nargs="+", help="a subset of the table's rows")
    ap.add_argument("--limit", type=int, help="use the first N training samples")
    ap.add_argument("--schedule", type=json.loads,
                    help="JSON settings overriding the preset's schedule of every deep model "
                         "in --methods (e.g. '{\"train\": 16000}' for the VAE rows; pick "
                         "methods whose schedules share the keys)")  # fmt: skip
    ap.add_argument("--jobs", type=int, default=1, help="fits run at once (each at one thread)")
    ap.add_argument("--out", type=Path, default=Path("runs/paper_tables"))
    ap.add_argument("--merge", type=Path, nargs="+",
                    help="fit nothing: render the table from the rows of earlier runs (their "
                         ".json records, or logs holding one JSON row a line)")  # fmt: skip
    ap.add_argument("--peers", type=Path,
                    help="the peer environment's python for the DeepECT row (default: "
                         "$DENDROGEN_PEERS_PYTHON or .venv-peers/bin/python)")  # fmt: skip
    return ap.parse_args(argv)


def main(argv: list[str] | None = None, prog: str | None = None) -> dict:
    """Run (or ``--merge``) a table; writes it to ``--out`` and returns its record."""
    args = parse_args(argv, prog)
    peers = args.peers or PEERS_PYTHON
    os.environ["OMP_NUM_THREADS"] = "1"
    args.out.mkdir(parents=True, exist_ok=True)
    methods = tuple(args.methods or METHODS[args.table])
    unknown = set(methods) - set(METHODS[args.table])
    if unknown:
        raise SystemExit(f"unknown methods {sorted(unknown)}; the table has {METHODS[args.table]}")
    skipped = {}
    if "DeepECT (clustpy)" in methods and not peers.exists() and not args.merge:
        skipped["DeepECT (clustpy)"] = f"{peers} does not exist (run `make peers`)"
        methods = tuple(m for m in methods if m != "DeepECT (clustpy)")
    base = {"data": args.data, "preset": args.preset, "table": args.table, "limit": args.limit,
            "leaves": args.leaves, "out": str(args.out), "peers": str(peers),
            "schedule": args.schedule}  # fmt: skip
    # VAE-RGMM grows its tree on VAE-HKMeans's VAE (same seed, same VAE): one training for both
    shared = {"VAE-HKMeans", "VAE-RGMM"} <= set(methods)
    jobs = [base | {"method": m, "seed": s, "shared_vae": shared and m == "VAE-HKMeans"}
            for m in methods for s in args.seeds if not (shared and m == "VAE-RGMM")]  # fmt: skip
    started = time.perf_counter()
    rows = []
    if args.merge:
        rows, jobs = read_rows(args.merge, methods), []
    with contextlib.ExitStack() as stack:
        if args.jobs == 1:
            results = map(run_job, jobs)
        else:
            pool = stack.enter_context(mp.get_context("spawn").Pool(args.jobs))
            results = pool.imap(run_job, jobs)
        for done in results:  # one line per finished fit, as they come
            for row in done:
                rows.append(row)
                print(json.dumps(row), flush=True)
    wall = time.perf_counter() - started
    metrics = TREEVAE_METRICS if args.table == "treevae" else HTVAE_METRICS
    scale = 100.0 if args.table == "treevae" else 1.0
    head = PUBLISHED_DATA[args.data]
    published = PUBLISHED[(args.table, head)]
    summary = summarize(rows, methods, metrics)
    table = markdown(summary, published, metrics, scale, f"paper, {head}")
    stem = args.out / f"table_{args.table}_{args.data}"
    pngs = plot(summary, published, metrics, scale, head, stem)
    record = {
        "data": args.data, "table": args.table, "preset": args.preset, "seeds": args.seeds,
        "leaves": args.leaves, "limit": args.limit, "jobs": args.jobs, "threads_per_fit": 1,
        "schedule": args.schedule,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "wall_s": None if args.merge else round(wall, 1),
        "command": " ".join([prog or Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "merged_from": [str(p) for p in args.merge or []],
        "skipped": skipped, "rows": rows, "summary": summary,
        "published": {m: {k: list(v) for k, v in d.items()} for m, d in published.items()},
    }  # fmt: skip
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1))
    note = "".join(f"\n\n{m}: not run, {why}." for m, why in skipped.items())
    peer = summary.get("DeepECT (clustpy)", {})
    own = [f"{k[8:].upper()} {scale * v['mean']:.1f} ± {scale * v['std']:.1f}"
           for k, v in peer.items() if k.startswith("clustpy_")]  # fmt: skip
    if own:
        note += f"\n\nDeepECT scored by clustpy's own metrics: {', '.join(own)}."
    seeds = sorted({r["seed"] for r in rows})
    done = f"rows of {len(args.merge)} runs" if args.merge else f"wall {wall:.0f} s"
    title = (f"{args.table} table, {args.data} (test split), preset {args.preset}, seeds "
             f"{' '.join(map(str, seeds))}; {'DP/LP/ACC/NMI in %; ' if scale == 100 else ''}"
             f"{done}")  # fmt: skip
    stem.with_suffix(".md").write_text(f"{title}\n\n{table}{note}\n")
    print(f"{title}\n\n{table}{note}\n\nwritten: {stem}.md, .json, {len(pngs)} PNG")
    return record
